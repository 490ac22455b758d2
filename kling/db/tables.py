"""The tables, as SQLAlchemy Core sees them (the migrations create them).

`generations` holds one row per generation, the columns of `history.csv` in its order
and its latest state, so `pandas.read_sql("select * from generations", engine)` reads
what `pandas.read_csv("data/history.csv")` reads in a one-person studio. `annotations`
is the log of every rating, review, note and tag, by whom and when, as
`annotations.csv` is. Column types follow `kling.history.schema`, so a column added
there has one place to be typed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Column, DateTime, Float, Index, MetaData, Table, Text,
)
from sqlalchemy.types import TypeEngine

from ..history.schema import (
    ANNOTATION_COLUMNS, FLOAT_COLUMNS, HISTORY_COLUMNS, INT_COLUMNS, TIME_COLUMNS,
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
