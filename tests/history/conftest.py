"""Fixtures of the history tests: a fresh log, the sample log, and a pinned time zone."""

from __future__ import annotations

import pytest

from kling.history import HistoryLog

from .support import fill


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    # Days and months are local: pin the zone so dates in these tests are unambiguous.
    monkeypatch.setenv("TZ", "UTC")


@pytest.fixture
def log(tmp_path) -> HistoryLog:
    return HistoryLog(tmp_path / "data")


@pytest.fixture
def filled(log) -> HistoryLog:
    return fill(log)
