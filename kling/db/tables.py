"""The tables, as SQLAlchemy Core sees them (the migrations create them).

`generations` holds one row per generation, the columns of `history.csv` in its order
and its latest state, so `pandas.read_sql("select * from generations", engine)` reads
what `pandas.read_csv("data/history.csv")` reads in a one-person studio. `annotations`
is the log of every rating, review, note and tag, by whom and when, as
`annotations.csv` is; `annotation_latest` holds each generation's latest value of every
annotation field and who set its review and notes (what `load()` merges in a one-person
studio), written in the same transaction as the log row, so the History page filters
and sorts by them in SQL. `store_versions` counts the changes of each store, so a reader
knows in one query that what it computed is still current. Column types follow
`kling.history.schema`, so a column added there has one place to be typed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index, MetaData, Table, Text,
    text,
)
from sqlalchemy.types import TypeEngine

from ..history.schema import (
    ANNOTATION_COLUMNS, ANNOTATION_FIELDS, AUTHOR_COLUMNS, FLOAT_COLUMNS, HISTORY_COLUMNS,
    INT_COLUMNS, TIME_COLUMNS,
)

metadata = MetaData()


def _type(name: str) -> TypeEngine:
    if name in INT_COLUMNS:
        return BigInteger()
    if name in FLOAT_COLUMNS:
        return Float()
    if name in TIME_COLUMNS:
        return DateTime(timezone=True)
    return Text()


generations = Table(
    "generations", metadata,
    *(Column(name, _type(name), primary_key=name == "id",
             nullable=name not in ("id", "status"))
      for name in HISTORY_COLUMNS),
    Index("generations_created_at", "created_at"),
    Index("generations_newest", text("created_at DESC NULLS LAST"), text("id DESC")),
    # Trigram index of the searched text (migration 0005 makes it where `pg_trgm` may be
    # added; `kling.db.history_query` asks for the same expression).
    Index("generations_text", text("lower(coalesce(prompt, '') || chr(31) || id) "
                                   "gin_trgm_ops"), postgresql_using="gin"),
    Index("generations_status", "status"),
    Index("generations_created_by", "created_by"),
)

_ANNOTATION_TYPES = {"annotated_at": DateTime(timezone=True)}
annotations = Table(
    "annotations", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    *(Column("gen_id" if name == "id" else name, _ANNOTATION_TYPES.get(name, Text()),
             nullable=name not in ("id", "field"))
      for name in ANNOTATION_COLUMNS),
    Index("annotations_gen_id", "gen_id", "seq"),
)

_LATEST_TYPES = {"favourite": Boolean(), "hidden": Boolean(), "rating": BigInteger(),
                 "reviewed_at": DateTime(timezone=True)}
_LATEST_DEFAULTS = {"favourite": "false", "hidden": "false", "review_status": "draft",
                    "notes": "", "tags": ""}
annotation_latest = Table(
    "annotation_latest", metadata,
    Column("gen_id", Text, primary_key=True),
    *(Column(name, _LATEST_TYPES.get(name, Text()), nullable=name not in _LATEST_DEFAULTS,
             server_default=_LATEST_DEFAULTS.get(name))
      for name in (*ANNOTATION_FIELDS, *AUTHOR_COLUMNS)),
    Index("annotation_latest_text", text("lower(notes || chr(31) || tags) gin_trgm_ops"),
          postgresql_using="gin"),
)

store_versions = Table(
    "store_versions", metadata,
    Column("name", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

#: A generation waiting for, or run by, a worker (`kling.db.queue`); its request is its
#: `generations` row. `state` is `queued`, `calling` (committed before the request is
#: sent: never sent again automatically), `succeeded` or `failed`.
jobs = Table(
    "jobs", metadata,
    Column("id", Text, ForeignKey("generations.id"), primary_key=True),
    Column("owner", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("worker", Text),
    Column("error", Text),
    Column("error_kind", Text),
    Column("archive_error", Text),
    Column("history_error", Text),
    Index("jobs_state", "state", "submitted_at"),
    Index("jobs_owner", "owner", "submitted_at"),
)

#: Each worker process, and when it was last seen alive.
workers = Table(
    "workers", metadata,
    Column("id", Text, primary_key=True),
    Column("concurrency", BigInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
)

#: The rate limit of the account, shared by every worker: the last headers seen, a
#: pause after a 429, and how many 429s came (the limit is per API key, not per process).
pacing = Table(
    "pacing", metadata,
    Column("name", Text, primary_key=True),
    Column("paused_until", DateTime(timezone=True)),
    Column("remaining", BigInteger),
    Column("reset_at", DateTime(timezone=True)),
    Column("rate_limited", BigInteger, nullable=False, server_default="0"),
)

#: A document the team shares whole, by name (`kling.db.documents`): the template
#: library (`templates.json`'s content) and the monthly budgets (`budgets.json`'s).
documents = Table(
    "documents", metadata,
    Column("name", Text, primary_key=True),
    Column("body", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)
