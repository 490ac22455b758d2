"""Logs of earlier (and newer) versions: fewer or unknown columns, the escaped format;
each migrates once, losing nothing."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from kling.history import HISTORY_COLUMNS, HistoryLog
from kling.history.csvformat import encode

from .support import OLD_COLUMNS, csv_rows, lines, plain_pandas, request, result, text_request, write_log


def test_earlier_log_with_fewer_columns_loads_and_unknown_columns_are_kept(log):
    write_log(log.path, [
        {"id": "old1", "created_at": "2024-12-01T09:00:00+00:00", "status": "succeeded",
         "prompt": "from last year", "duration": "5", "aspect_ratio": "16:9", "seed": 3,
         "inference_s": 14.5, "project": "spring campaign"},
    ], columns=OLD_COLUMNS)
    old_bytes = log.path.read_bytes()
    row = log.get("old1")
    assert row["prompt"] == "from last year" and row["project"] == "spring campaign"
    assert row["template_id"] == "" and row["video_width"] is None
    assert row["cost_usd"] == pytest.approx(1.4)  # estimated for rows logged without it

    gen_id = log.record_pending(request())
    text = log.path.read_text()
    header = text.splitlines()[0].split(",")
    assert header[: len(OLD_COLUMNS)] == list(OLD_COLUMNS)
    assert set(HISTORY_COLUMNS) <= set(header)
    assert "spring campaign" in text
    old_line = old_bytes.splitlines()[1]
    assert text.splitlines()[1].startswith(old_line.decode())
    frame = HistoryLog(log.data_dir).load().set_index("id")
    assert frame.loc["old1", "project"] == "spring campaign"
    assert frame.loc[gen_id, "project"] == ""
    assert pd.read_csv(log.path).shape[0] == 2


def test_newer_logs_columns_survive_appends_by_this_version(log):
    write_log(log.path, [{"id": "n1", "created_at": "2025-01-01T00:00:00+00:00",
                          "status": "pending", "prompt": "x", "mood": "calm",
                          "owner": "elsewhere:1:x"}],
              columns=HISTORY_COLUMNS + ("mood",))
    log.record_success("n1", result(), elapsed_s=3)
    assert log.get("n1")["mood"] == "calm"  # carried into the outcome row
    assert lines(log.path)[0].endswith(",mood")


def test_migrating_an_earlier_log_keeps_a_damaged_line_as_it_is(log, caplog):
    rows = [{"id": f"old{i}", "created_at": f"2024-12-0{i}T09:00:00+00:00",
             "status": "succeeded", "prompt": f"old, number {i}", "duration": "5",
             "aspect_ratio": "16:9", "seed": i, "project": "p"} for i in (1, 2)]
    write_log(log.path, rows[:1], columns=OLD_COLUMNS)
    broken = 'old9,2024-12-09T09:00:00+00:00,succeeded,"never closed,5'
    with open(log.path, "ab") as handle:
        handle.write(broken.encode() + b"\n" + encode(OLD_COLUMNS, rows[1:]))
    gen_id = log.record_pending(request())  # migrates to this version's columns
    assert set(HISTORY_COLUMNS) <= set(lines(log.path)[0].split(","))
    assert broken in lines(log.path)  # copied verbatim, not merged with the next line
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        frame = HistoryLog(log.data_dir).load().set_index("id")
    assert sorted(frame.index) == sorted(["old1", "old2", gen_id])
    assert frame.loc["old2", "prompt"] == "old, number 2"
    assert frame.loc["old2", "project"] == "p"


# -- earlier, escaped logs migrate once ----------------------------------------------------

OLD_HEADER = ("id,created_at,status,prompt,duration,aspect_ratio,seed,inference_s,elapsed_s,"
              "video_url,video_path,error,project\n")


OLD_ROWS = (
    '20240101-000000-aaaa0001,2024-01-01T09:00:00+00:00,succeeded,'
    '"two\\nlines, with \\\\ and ""quotes""",5,16:9,1,12.5,13.0,,,,spring\n'
    "20240101-000000-aaaa0002,2024-01-01T09:01:00+00:00,failed,"
    "C:\\\\new\\\\road\\r\\nend\\0 \\\\n,10,9:16,2,,,,,\"Server error, sorry\",\n"
    "20240101-000000-aaaa0003,2024-01-01T09:02:00+00:00,succeeded,plain,5,16:9,3,,,,,autumn\n"
)


OLD_PROMPTS = {
    "20240101-000000-aaaa0001": 'two\nlines, with \\ and "quotes"',
    "20240101-000000-aaaa0002": "C:\\new\\road\r\nend\ufffd \\n",
    "20240101-000000-aaaa0003": "plain",
}


OLD_ANNOTATIONS = ("id,field,value,annotated_at\n"
                   "20240101-000000-aaaa0001,notes,first\\nsecond \\\\ end,"
                   "2024-01-02T00:00:00+00:00\n")


def test_an_escaped_log_migrates_once_and_losslessly(log, caplog):
    log.data_dir.mkdir(parents=True)
    log.path.write_text(OLD_HEADER + OLD_ROWS, encoding="utf-8")
    log.annotations_path.write_text(OLD_ANNOTATIONS, encoding="utf-8")

    before = HistoryLog(log.data_dir).load().set_index("id")  # read as it is, decoded
    for gen_id, prompt in OLD_PROMPTS.items():
        assert before.loc[gen_id, "prompt"] == prompt
    assert before.loc["20240101-000000-aaaa0001", "notes"] == "first\nsecond \\ end"

    with caplog.at_level(logging.INFO, logger="kling.history"):
        gen_id = log.record_pending(text_request("new\nrow"))
        log.annotate(gen_id, notes="new\nnote")
    frame = plain_pandas(log.path).set_index("id")
    for old_id, prompt in OLD_PROMPTS.items():
        assert frame.loc[old_id, "prompt"] == prompt
    assert frame.loc["20240101-000000-aaaa0001", "project"] == "spring"
    assert frame.loc["20240101-000000-aaaa0002", "error"] == "Server error, sorry"
    assert frame.loc[gen_id, "prompt"] == "new\nrow"
    notes = plain_pandas(log.annotations_path)
    assert list(notes["value"]) == ["first\nsecond \\ end", "new\nnote"]
    assert [r["prompt"] for r in csv_rows(log.path)][:3] == list(OLD_PROMPTS.values())
    assert "migrated" in caplog.text

    # A second open (another process, say) finds the new format: nothing migrates again.
    inodes = (log.path.stat().st_ino, log.annotations_path.stat().st_ino)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kling.history"):
        second = HistoryLog(log.data_dir)
        other = second.record_pending(text_request("second open"))
        second.annotate(other, notes="x\\ny")
    assert (log.path.stat().st_ino, log.annotations_path.stat().st_ino) == inodes
    assert "migrated" not in caplog.text
    frame = HistoryLog(log.data_dir).load().set_index("id")
    for old_id, prompt in OLD_PROMPTS.items():
        assert frame.loc[old_id, "prompt"] == prompt  # never decoded twice
    assert frame.loc[other, "notes"] == "x\\ny"
    assert frame.loc["20240101-000000-aaaa0001", "notes"] == "first\nsecond \\ end"
    assert len(plain_pandas(log.path)) == 5
