"""Queries as values: lists become tuples, an unknown sort is refused (every filter and
sort order is in the store contract, `tests/stores/test_history_contract.py`)."""

from __future__ import annotations

import pytest

from kling.history import HistoryQuery


def test_query_accepts_lists_and_rejects_unknown_sorts():
    assert HistoryQuery(statuses=["failed"]).statuses == ("failed",)
    with pytest.raises(ValueError):
        HistoryQuery(sort="random")
