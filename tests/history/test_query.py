"""Queries: every filter and sort order, text search that is never a regular expression."""

from __future__ import annotations

from datetime import date

import pytest

from kling.history import HistoryQuery

from .support import ids


def test_default_query_is_newest_first_without_hidden(filled):
    assert ids(filled.query(HistoryQuery())) == ["id5", "id3", "id2", "id1"]
    assert ids(filled.query(HistoryQuery(include_hidden=True))) == \
        ["id5", "id4", "id3", "id2", "id1"]


@pytest.mark.parametrize("query, expected", [
    (HistoryQuery(text="WAVES"), ["id1"]),
    (HistoryQuery(text="snow"), ["id2"]),
    (HistoryQuery(text="too dark"), ["id3"]),       # notes
    (HistoryQuery(text="summer"), ["id1"]),         # tags
    (HistoryQuery(text="waves", include_hidden=True), ["id4", "id1"]),
    (HistoryQuery(text="(["), []),                  # not a regular expression
    (HistoryQuery(statuses=("failed", "interrupted")), ["id5", "id2"]),
    (HistoryQuery(aspect_ratios=("9:16",)), ["id2"]),
    (HistoryQuery(durations=("10",)), ["id3", "id2"]),
    (HistoryQuery(date_from=date(2025, 1, 2), date_to=date(2025, 1, 3)), ["id3", "id2"]),
    (HistoryQuery(date_from=date(2025, 2, 1)), ["id5"]),
    (HistoryQuery(date_to=date(2025, 1, 1)), ["id1"]),
    (HistoryQuery(template_ids=("tpl-a",)), ["id2", "id1"]),
    (HistoryQuery(favourites_only=True), ["id1"]),
    (HistoryQuery(min_rating=3), ["id3", "id1"]),
    (HistoryQuery(min_rating=4), ["id1"]),
    (HistoryQuery(review_statuses=("approved", "rejected")), ["id3", "id1"]),
    (HistoryQuery(review_statuses=("draft",)), ["id5", "id2"]),
    (HistoryQuery(sort="oldest"), ["id1", "id2", "id3", "id5"]),
    (HistoryQuery(sort="inference_fast"), ["id1", "id3", "id5", "id2"]),
    (HistoryQuery(sort="inference_slow"), ["id3", "id1", "id5", "id2"]),
    (HistoryQuery(sort="rating"), ["id1", "id3", "id5", "id2"]),
])
def test_every_filter_and_sort(filled, query, expected):
    assert ids(filled.query(query)) == expected


def test_query_accepts_lists_and_rejects_unknown_sorts():
    assert HistoryQuery(statuses=["failed"]).statuses == ("failed",)
    with pytest.raises(ValueError):
        HistoryQuery(sort="random")
