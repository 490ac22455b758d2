"""A document the team shares whole (`documents` table): read while unchanged from a
cache, edited under the row's lock so two saves at once never lose each other's work.

The template library and the budgets keep their files' formats here, so what a
one-person studio writes to `templates.json` or `budgets.json` is what a team keeps
in the row of that name (and `db import`/`db export` copy it as it is).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .engine import unreachable
from .tables import documents

d = documents.c


class Document:
    """One named document. Safe to share between threads and processes."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._lock = threading.Lock()
        self._cached: tuple[int, str] | None = None

    def read(self) -> str | None:
        """The document's text; None when it was never saved."""
        try:
            with self.engine.connect() as connection:
                version = connection.execute(
                    sa.select(d.version).where(d.name == self.name)).scalar()
                if not version:  # no row, or only the placeholder of a first edit
                    return None
                with self._lock:
                    if self._cached is not None and self._cached[0] == version:
                        return self._cached[1]
                found = connection.execute(
                    sa.select(d.version, d.body).where(d.name == self.name)).one()
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
        with self._lock:
            self._cached = (found.version, found.body)
        return found.body

    @contextmanager
    def editing(self) -> Iterator[list[str | None]]:
        """`[text]` (None when never saved) under the row's lock; whatever the block
        leaves in the list is saved when it ends normally and changed it."""
        try:
            with self.engine.begin() as connection:
                # Lock the row, or, before the first save, make one to lock.
                connection.execute(sa.text(
                    "insert into documents (name, body, version, saved_at) "
                    "values (:name, '', 0, now()) on conflict (name) do nothing"),
                    {"name": self.name})
                row = connection.execute(sa.select(d.version, d.body)
                                         .where(d.name == self.name).with_for_update()).one()
                before = row.body if row.version else None
                holder = [before]
                yield holder
                if holder[0] != before and holder[0] is not None:
                    connection.execute(sa.update(documents).where(d.name == self.name).values(
                        body=holder[0], version=row.version + 1,
                        saved_at=datetime.now(timezone.utc)))
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
