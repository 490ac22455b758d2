"""The terminal text of `history list` and `history stats` (`kling.cli`)."""

from __future__ import annotations

import pytest

from history.support import fill
from kling.cli import format_stats, format_table
from kling.history import HistoryLog, HistoryQuery


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


@pytest.fixture
def filled(tmp_path) -> HistoryLog:
    return fill(HistoryLog(tmp_path / "data"))


def test_format_table(filled):
    text = format_table(filled.query(HistoryQuery()))
    assert text.splitlines()[0].split() == ["id", "created", "status", "dur", "ratio", "seed",
                                            "infer", "prompt"]
    assert "A red fox in SNOW" in text and len(text.splitlines()) == 5
    assert format_table(filled.query(HistoryQuery(text="nothing"))) == "No generations."


def test_format_stats_of_nothing(tmp_path):
    assert "Generations:" in format_stats(HistoryLog(tmp_path / "data").stats())
