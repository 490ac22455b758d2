"""Fixtures of the client tests: a scripted server, a recording sleep, and every client a
test made closed when it ends."""

from __future__ import annotations

import pytest

from scripted_server import ScriptedServer

from .support import Sleeps, close_kept


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    close_kept()
