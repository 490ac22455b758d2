"""The annotations log: its own file, merged into every row, values checked before writing."""

from __future__ import annotations

import pandas as pd
import pytest

from .support import request


def test_annotations_live_in_their_own_file_and_merge(log):
    a = log.record_pending(request("first"))
    b = log.record_pending(request("second"))
    size = log.path.stat().st_size
    log.annotate([a, b], favourite=True, review_status="approved")
    log.annotate(a, rating=4, notes="great\nlight", tags=["beach", " summer ", "beach"])
    log.annotate(b, tags="red, fox ,,")
    log.annotate(a, rating=None)  # cleared, the rest kept
    assert log.path.stat().st_size == size  # the big log is never touched
    assert len(pd.read_csv(log.annotations_path)) == 4 + 3 + 1 + 1  # one short row each

    row_a, row_b = log.get(a), log.get(b)
    assert row_a["favourite"] and row_a["review_status"] == "approved"
    assert row_a["rating"] is None and row_a["notes"] == "great\nlight"
    assert row_a["tags"] == ["beach", "summer"] and row_b["tags"] == ["red", "fox"]
    assert row_b["favourite"] and not row_b["hidden"]

    frame = log.load().set_index("id")
    assert frame.loc[a, "tags"] == "beach, summer"
    assert frame["favourite"].dtype == bool and str(frame["rating"].dtype) == "Int64"


def test_annotation_defaults(log):
    gen_id = log.record_pending(request())
    row = log.get(gen_id)
    assert (row["favourite"], row["rating"], row["review_status"], row["notes"], row["tags"],
            row["hidden"]) == (False, None, "draft", "", [], False)


@pytest.mark.parametrize("fields", [
    {"rating": 6}, {"rating": 0}, {"rating": 2.5}, {"rating": True}, {"rating": "good"},
    {"review_status": "maybe"}, {"favourite": "yes"}, {"hidden": 1}, {"notes": 5},
    {"tags": [1, 2]}, {"colour": "red"},
])
def test_invalid_annotations_are_refused_and_nothing_is_written(log, fields):
    gen_id = log.record_pending(request())
    with pytest.raises(ValueError):
        log.annotate(gen_id, **{"favourite": True, **fields})  # the valid one waits too
    assert not log.annotations_path.exists()


def test_annotating_needs_our_ids(log):
    with pytest.raises(ValueError):
        log.annotate(["../x"], favourite=True)
