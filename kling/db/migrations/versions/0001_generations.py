"""The generation log and its annotations.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen as they were when this migration was written: later columns come in later
# migrations, never by editing this one.
_TEXT = ("prompt", "duration", "aspect_ratio")
_AFTER_SEED = (("inference_s", sa.Float), ("elapsed_s", sa.Float), ("video_url", sa.Text),
               ("video_path", sa.Text), ("error", sa.Text),
               ("finished_at", sa.DateTime(timezone=True)), ("model", sa.Text),
               ("template_id", sa.Text), ("template_version", sa.BigInteger),
               ("template_vars", sa.Text), ("batch_id", sa.Text),
               ("video_width", sa.BigInteger), ("video_height", sa.BigInteger),
               ("video_duration", sa.Float), ("cost_usd", sa.Float), ("source", sa.Text),
               ("error_type", sa.Text), ("http_status", sa.BigInteger),
               ("archive_error", sa.Text), ("owner", sa.Text), ("storyboard_id", sa.Text),
               ("shot", sa.Text), ("created_by", sa.Text))


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text) for name in _TEXT),
        sa.Column("seed", sa.BigInteger),
        *(sa.Column(name, kind) for name, kind in _AFTER_SEED),
    )
    op.create_index("generations_created_at", "generations", ["created_at"])
    op.create_index("generations_status", "generations", ["status"])
    op.create_index("generations_created_by", "generations", ["created_by"])
    op.create_table(
        "annotations",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("gen_id", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("annotated_at", sa.DateTime(timezone=True)),
        sa.Column("annotated_by", sa.Text),
    )
    op.create_index("annotations_gen_id", "annotations", ["gen_id", "seq"])
