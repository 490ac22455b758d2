"""history.csv and annotations.csv are plain RFC 4180 CSV that any tool reads exactly.

Multi-line text (backslashes, CRLF, tabs, quotes, commas, unicode) comes back exactly from
`pandas.read_csv`, the `csv` module and `HistoryLog.load()`; no NUL ever reaches a file.
"""

from __future__ import annotations

import pandas as pd

from kling.history import HistoryLog

from .support import csv_rows, plain_pandas, result, text_request


PROMPT = ('Line one, "quoted" \\ and C:\\new\\road\\\r\n'
          "\tline two with a tab, ünïcode ✓ 中文 😀\n"
          "\n"
          '""double quotes"", trailing backslash \\\n'
          "last line\r")


NOTES = 'first note line\r\nsecond, "quoted" \\n (not a newline)\n\\'


def test_multi_line_text_reads_back_exactly_with_pandas_csv_and_load(log):
    gen_id = log.record_pending(text_request(PROMPT), template_vars={"subject": PROMPT})
    log.record_success(gen_id, result(), elapsed_s=13)
    other = log.record_pending(text_request("a plain one, with a comma"))
    log.annotate(gen_id, notes=NOTES, tags="summer, hero")

    raw = log.path.read_bytes()
    assert "\r\n\tline two".encode() in raw  # CR, LF and tab as they are, not escaped
    assert b"C:\\new\\road" in raw  # backslashes single
    assert b"\x00" not in raw

    frame = plain_pandas(log.path)
    assert list(frame["id"]) == [gen_id, gen_id, other]
    assert list(frame["prompt"][:2]) == [PROMPT, PROMPT]
    assert frame["status"].tolist() == ["pending", "succeeded", "pending"]
    # pandas with no options at all returns the text exactly too.
    assert pd.read_csv(log.path)["prompt"].iloc[1] == PROMPT

    rows = csv_rows(log.path)
    assert [r["prompt"] for r in rows] == [PROMPT, PROMPT, "a plain one, with a comma"]
    assert list(rows[0])[:4] == ["id", "created_at", "status", "prompt"]

    notes = plain_pandas(log.annotations_path)
    assert notes.set_index("field").loc["notes", "value"] == NOTES
    assert [r["value"] for r in csv_rows(log.annotations_path) if r["field"] == "notes"] == \
        [NOTES]

    fresh = HistoryLog(log.data_dir)
    row = fresh.get(gen_id)
    assert row["prompt"] == PROMPT and row["notes"] == NOTES
    assert row["template_vars"] == {"subject": PROMPT}
    assert row["tags"] == ["summer", "hero"] and row["status"] == "succeeded"
    assert sorted(fresh.load()["prompt"]) == sorted([PROMPT, "a plain one, with a comma"])


def test_no_nul_ever_reaches_the_file(log):
    gen_id = log.record_pending(text_request("before\x00after\n\x00"))
    log.annotate(gen_id, notes="a\x00b")
    for path in (log.path, log.annotations_path):
        assert b"\x00" not in path.read_bytes()
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "before\ufffdafter\n\ufffd" and row["notes"] == "a\ufffdb"
    assert plain_pandas(log.path)["prompt"].iloc[0] == "before\ufffdafter\n\ufffd"


def test_a_prompt_holding_a_line_that_looks_like_a_record_is_one_record(log):
    looks_like_a_row = ('shot list:\n20250101-000000-abcdef12,2025-01-01T00:00:00+00:00,'
                        'pending,"a fox\nid,created_at,status\n,"odd" quote')
    first = log.record_pending(text_request("first"))
    gen_id = log.record_pending(text_request(looks_like_a_row))
    fresh = HistoryLog(log.data_dir)  # knows no record boundary: scans the file
    assert fresh.get(gen_id)["prompt"] == looks_like_a_row
    after = fresh.record_pending(text_request("after"))
    assert not log.torn_path.exists()
    frame = plain_pandas(log.path)
    assert list(frame["id"]) == [first, gen_id, after]
    assert frame["prompt"].iloc[1] == looks_like_a_row
    assert HistoryLog(log.data_dir).get(gen_id)["prompt"] == looks_like_a_row
