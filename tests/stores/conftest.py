"""The store contract: each test of `tests/stores/` runs against every backend (the
files of a one-person studio, and a team's PostgreSQL) with the same assertions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from kling import db
from kling.db.history import DatabaseHistory
from kling.history import HistoryLog
from kling.stores import HistoryStore
from tests.history.support import write_log

BACKENDS = ("files", "postgres")


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    # Days and months are local: pin the zone so dates in these tests are unambiguous.
    monkeypatch.setenv("TZ", "UTC")


@pytest.fixture
def engine(upgraded) -> Iterator[sa.Engine]:
    engine = db.connect(upgraded)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def history(request, tmp_path) -> HistoryStore:
    """A new, empty history in each backend."""
    if request.param == "files":
        return HistoryLog(tmp_path / "data")
    return DatabaseHistory(request.getfixturevalue("engine"))


def again(history: HistoryStore) -> HistoryStore:
    """A second store over the same state, as another process opens it."""
    if isinstance(history, HistoryLog):
        return HistoryLog(history.data_dir)
    return DatabaseHistory(history.engine)


def put_rows(history: HistoryStore, rows: list[dict[str, Any]]) -> None:
    """Rows as another writer left them: written to the log file, or inserted."""
    if isinstance(history, HistoryLog):
        write_log(history.path, rows)
        return
    stored = [{name: datetime.fromisoformat(value) if name.endswith("_at") and value
               else value for name, value in row.items()} for row in rows]
    with history.engine.begin() as connection:
        for row in stored:
            connection.execute(sa.insert(db.generations).values(row))
        connection.execute(sa.update(db.store_versions).values(
            version=db.store_versions.c.version + 1))
