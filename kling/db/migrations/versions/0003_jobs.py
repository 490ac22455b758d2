"""Generation jobs run by workers, the workers themselves, and the account's pacing.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text, sa.ForeignKey("generations.id"), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("worker", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.Text),
        sa.Column("archive_error", sa.Text),
        sa.Column("history_error", sa.Text),
    )
    op.create_index("jobs_state", "jobs", ["state", "submitted_at"])
    op.create_index("jobs_owner", "jobs", ["owner", "submitted_at"])
    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("concurrency", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "pacing",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("paused_until", sa.DateTime(timezone=True)),
        sa.Column("remaining", sa.BigInteger),
        sa.Column("reset_at", sa.DateTime(timezone=True)),
        sa.Column("rate_limited", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute("insert into pacing (name) values ('firemoon')")
