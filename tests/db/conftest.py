"""The team database's tests run against a real PostgreSQL started for the session."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    """A new, empty database for one test."""
    return postgres.create_database()
