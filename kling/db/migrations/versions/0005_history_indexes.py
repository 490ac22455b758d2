"""Indexes for a History page of a million generations: the newest first without a sort,
and text search by trigrams (`pg_trgm`, where the database lets its owner add it).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The searched text, as `kling.db.history_query` asks for it (the same expressions).
PROMPT_TEXT = "lower(coalesce(prompt, '') || chr(31) || id)"
NOTES_TEXT = "lower(notes || chr(31) || tags)"


def upgrade() -> None:
    op.create_index("generations_newest", "generations",
                    [sa.text("created_at DESC NULLS LAST"), sa.text("id DESC")])
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return  # search still works, by reading every row
    op.execute(f"CREATE INDEX generations_text ON generations USING gin "
               f"(({PROMPT_TEXT}) gin_trgm_ops)")
    op.execute(f"CREATE INDEX annotation_latest_text ON annotation_latest USING gin "
               f"(({NOTES_TEXT}) gin_trgm_ops)")
