"""Each generation's latest annotations, and the change counter of each store.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nothing wrote annotations at schema 0001 (the studio kept them in files), so there
    # is no log to fold into the new table.
    op.create_table(
        "annotation_latest",
        sa.Column("gen_id", sa.Text, primary_key=True),
        sa.Column("favourite", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("rating", sa.BigInteger),
        sa.Column("review_status", sa.Text, nullable=False, server_default="draft"),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", sa.Text, nullable=False, server_default=""),
        sa.Column("hidden", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("reviewed_by", sa.Text),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("notes_by", sa.Text),
    )
    op.create_table(
        "store_versions",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("insert into store_versions (name, version) values ('history', 0)")
