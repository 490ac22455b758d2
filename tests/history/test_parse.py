"""The tolerant reader: unreadable rows are skipped, and damage in the middle of a log
(an unmatched quote) costs only its own record; nothing is ever removed from the file."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from kling.history import HistoryLog

from .support import UNMATCHED, lines, request, result, text_request


def test_unreadable_rows_are_skipped_with_a_warning(log, caplog):
    log.record_pending(request("good one"))
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write("x1,2025-01-01T00:00:00+00:00,exploded,bad status\n")
        handle.write("x2,2025-01-01T00:00:00+00:00,pending,p,5,16:9,1" + ",z" * 40 + "\n")
        handle.write("x3,2025-01-01T00:00:00+00:00,failed,bad seed,5,16:9,notanumber\n")
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        frame = log.load()
    assert sorted(frame["prompt"]) == ["bad seed", "good one"]
    assert frame.set_index("id").loc["x3", "seed"] is pd.NA
    assert "skipped" in caplog.text


@pytest.mark.parametrize("later_prompt", [
    "plain words",                    # pandas: "EOF inside string"
    'a prompt, with "quotes"',        # pandas: joins lines without any error
])
def test_an_unmatched_quote_costs_only_its_own_line(log, caplog, later_prompt):
    before = [log.record_pending(request(f"good {i}, with a comma")) for i in range(3)]
    after = [log.record_pending(request(f"{later_prompt} {i}")) for i in range(3)]
    log.record_success(after[0], result(), elapsed_s=16)
    log.annotate(after[1], rating=5)
    # A hand edit (an editor rewrites the file) leaves a line with an unmatched quote
    # between the rows. (At the very end it is a torn row: see the next test.)
    data = log.path.read_bytes()
    cut = data.index(after[0].encode())
    log.path.write_bytes(data[:cut] + UNMATCHED.encode() + b"\n" + data[cut:])

    with caplog.at_level(logging.WARNING, logger="kling.history"):
        reader = HistoryLog(log.data_dir)
        frame = reader.load()
        stats = reader.stats()
    assert sorted(frame["id"]) == sorted(before + after)
    assert "deadbeef" not in "".join(frame["id"])
    assert reader.get(after[0])["status"] == "succeeded"
    assert reader.get(after[1])["rating"] == 5
    assert reader.get(after[2])["prompt"] == f"{later_prompt} 2"
    assert stats.total == 6 and stats.succeeded == 1
    assert "unexpected end of data" in caplog.text and "kept in the file" in caplog.text
    # Skipped, never removed, and later appends still work around it.
    assert UNMATCHED in lines(log.path)
    last = log.record_pending(request("one more"))
    assert UNMATCHED in lines(log.path)
    assert HistoryLog(log.data_dir).get(last)["prompt"] == "one more"


def test_an_unmatched_quote_in_annotations_costs_only_its_own_line(log, caplog):
    a, b = log.record_pending(request("a")), log.record_pending(request("b"))
    log.annotate(a, notes='first, "quoted" note')
    broken = f'{b},notes,"never closed,2025-01-01T00:00:00+00:00'
    log.annotate(b, rating=4, tags="x, y")
    log.annotate(a, review_status="approved")
    data = log.annotations_path.read_bytes()  # a hand edit puts it between the rows
    cut = data.index(f"{b},rating".encode())
    log.annotations_path.write_bytes(data[:cut] + broken.encode() + b"\n" + data[cut:])
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        reader = HistoryLog(log.data_dir)
        assert len(reader.load()) == 2 and reader.stats().total == 2
    assert reader.get(a)["notes"] == 'first, "quoted" note'
    assert reader.get(a)["review_status"] == "approved"
    assert reader.get(b)["rating"] == 4 and reader.get(b)["tags"] == ["x", "y"]
    assert reader.get(b)["notes"] == ""
    assert "kept in the file" in caplog.text and broken in lines(log.annotations_path)


@pytest.mark.parametrize("later_prompt", ["plain words", 'with "quotes", and a comma'])
def test_a_damaged_record_in_the_middle_costs_only_itself(log, caplog, later_prompt):
    prompts = [f"take {i}\nsecond line of take {i}" for i in range(5)]
    prompts[1] = 'take 1, "quoted"\nsecond line'
    ids = [log.record_pending(text_request(p, seed=i)) for i, p in enumerate(prompts)]
    ids.append(log.record_pending(text_request(f"{later_prompt}\nmore")))
    log.annotate(ids[3], rating=5)
    # A hand edit deletes the closing quote of record 2 (an editor rewrites the file).
    data = log.path.read_bytes()
    good = b'"take 2\nsecond line of take 2",'
    assert data.count(good) == 1
    damaged = data.replace(good, b'"take 2\nsecond line of take 2,')
    log.path.write_bytes(damaged)

    with caplog.at_level(logging.WARNING, logger="kling.history"):
        reader = HistoryLog(log.data_dir)
        frame = reader.load().set_index("id")
    assert sorted(frame.index) == sorted(ids[:2] + ids[3:])
    for i in (0, 1, 3, 4):
        assert frame.loc[ids[i], "prompt"] == prompts[i]
    assert frame.loc[ids[5], "prompt"] == f"{later_prompt}\nmore"
    assert reader.get(ids[3])["rating"] == 5
    assert "kept in the file" in caplog.text
    assert log.path.read_bytes() == damaged  # skipped, never removed

    # Appends by a writer that knows nothing, and by the one that wrote before, still work.
    new = [HistoryLog(log.data_dir).record_pending(text_request("new one\nline two")),
           log.record_pending(text_request("and another"))]
    assert log.path.read_bytes().startswith(damaged)
    assert not log.torn_path.exists()
    frame = HistoryLog(log.data_dir).load().set_index("id")
    assert sorted(frame.index) == sorted(ids[:2] + ids[3:] + new)
    assert frame.loc[new[0], "prompt"] == "new one\nline two"
