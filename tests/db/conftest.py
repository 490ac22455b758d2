"""Fixtures of the team database's tests: a database at this code's schema."""

from __future__ import annotations

import pytest

from kling import db


@pytest.fixture
def upgraded(database_url) -> str:
    """A new database, upgraded; its URL."""
    engine = db.connect(database_url)
    db.upgrade(engine)
    engine.dispose()
    return database_url
