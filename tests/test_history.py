"""The history log: recording, last-row-wins, interrupted rows, annotations, queries,
statistics, older logs, torn rows and the load cache."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import filelock
import pandas as pd
import pytest

from kling.errors import InsufficientCreditsError, OutcomeUnknownError
from kling.history import (
    HISTORY_COLUMNS,
    HistoryError,
    HistoryLog,
    HistoryQuery,
    export_csv,
    export_json,
    template_stats,
)
from kling.history.csvformat import encode
from kling.storage.process import process_owner
from kling.cli import format_stats, format_table
from kling.models import GenerationRequest, GenerationResult

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    # Days and months are local: pin the zone so dates in these tests are unambiguous.
    monkeypatch.setenv("TZ", "UTC")


@pytest.fixture
def log(tmp_path) -> HistoryLog:
    return HistoryLog(tmp_path / "data")


def request(prompt="waves crashing on the shore, drone shot", duration="5",
            aspect_ratio="16:9", seed=42) -> GenerationRequest:
    return GenerationRequest.create(prompt, duration, aspect_ratio, seed)


def result(seed=42, inference=15.2, url="https://blob.example/v.mp4") -> GenerationResult:
    return GenerationResult.parse({
        "videos": [{"url": url, "duration": 5, "width": 1920, "height": 1088,
                    "content_type": "video/mp4"}],
        "seed": seed, "timings": {"inference": inference},
    })


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_log(path: Path, rows: list[dict], columns=HISTORY_COLUMNS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(columns, rows, header=True))


# -- recording ------------------------------------------------------------------------------

def test_pending_then_success_last_row_wins(log):
    gen_id = log.record_pending(request(), template_id="tpl-a", template_version=3,
                                template_vars={"product": "shoes"}, batch_id="b1")
    assert log.get(gen_id)["status"] == "pending"
    log.record_success(gen_id, result(), elapsed_s=16.04)

    assert len(lines(log.path)) == 3  # header, pending, outcome: nothing rewritten
    row = log.get(gen_id)
    assert row["status"] == "succeeded"
    assert row["prompt"] == "waves crashing on the shore, drone shot"
    assert (row["seed"], row["duration"], row["aspect_ratio"]) == (42, "5", "16:9")
    assert row["inference_s"] == 15.2 and row["elapsed_s"] == 16.04
    assert row["video_url"] == "https://blob.example/v.mp4"
    assert (row["video_width"], row["video_height"], row["video_duration"]) == (1920, 1088, 5)
    assert row["template_id"] == "tpl-a" and row["template_version"] == 3
    assert row["template_vars"] == {"product": "shoes"} and row["batch_id"] == "b1"
    assert row["model"] == "kling-2-1-master" and row["source"] == "studio"
    assert row["cost_usd"] == pytest.approx(1.4)
    assert row["finished_at"] >= row["created_at"]
    assert len(log.load()) == 1


def test_failure_records_plain_reason_kind_and_status(log):
    gen_id = log.record_pending(request(duration="10"), source="cli")
    log.record_failure(gen_id, InsufficientCreditsError(status=402), elapsed_s=0.4)
    row = log.get(gen_id)
    assert row["status"] == "failed"
    assert row["error"] == str(InsufficientCreditsError())
    assert row["error_type"] == "insufficient_credits" and row["http_status"] == 402
    assert row["cost_usd"] == 0.0  # not billed
    assert row["source"] == "cli"


def test_failure_with_unknown_outcome_keeps_its_estimated_cost(log):
    gen_id = log.record_pending(request(duration="10"))
    log.record_failure(gen_id, OutcomeUnknownError(), elapsed_s=60)
    assert log.get(gen_id)["cost_usd"] == pytest.approx(2.8)


def test_failure_from_an_unexpected_exception(log):
    gen_id = log.record_pending(request())
    log.record_failure(gen_id, RuntimeError(), elapsed_s=1)
    row = log.get(gen_id)
    assert row["error"] == "RuntimeError" and row["error_type"] == "RuntimeError"


def test_video_path_and_archive_error_rows(log):
    gen_id = log.record_pending(request())
    log.record_success(gen_id, result(), elapsed_s=15)
    log.record_video_path(gen_id, None, archive_error="The link expired.")
    assert log.get(gen_id)["archive_error"] == "The link expired."
    log.record_video_path(gen_id, "/data/videos/x.mp4")
    row = log.get(gen_id)
    assert row["status"] == "succeeded" and row["video_path"] == "/data/videos/x.mp4"
    assert row["archive_error"] == ""


def test_outcome_written_by_another_process_repeats_the_pending_row(log):
    gen_id = log.record_pending(request("a fox in the snow"), template_id="tpl-x")
    other = HistoryLog(log.data_dir)  # knows nothing in memory: reads the log
    other.record_success(gen_id, result(seed=7), elapsed_s=12)
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "a fox in the snow" and row["template_id"] == "tpl-x"
    assert row["status"] == "succeeded" and row["seed"] == 7


def test_ids_are_ours_and_checked(log):
    assert log.record_pending(request(), gen_id="20250101-120000-abcdef12") \
        == "20250101-120000-abcdef12"
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x.mp4", "a" * 81):
        with pytest.raises(ValueError):
            log.record_pending(request(), gen_id=bad)


def test_unwritable_data_dir_raises_history_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(HistoryError) as info:
        HistoryLog(blocker).record_pending(request())
    assert info.value.kind == "history"


# -- nothing lost: interrupted generations ---------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from kling.history import HistoryLog
    from kling.models import GenerationRequest
    log = HistoryLog(sys.argv[1])
    request = GenerationRequest.create("a lighthouse in a storm", "10", "9:16", 1234)
    gen_id = log.record_pending(request)
    print(gen_id, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # stay alive until the parent closes stdin
""")


def run_child(data_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_pending_row_of_a_killed_process_reads_as_interrupted(log):
    child = run_child(log.data_dir, "kill")
    gen_id = child.stdout.readline().strip()
    child.wait(timeout=30)
    row = log.get(gen_id)
    assert row["status"] == "interrupted"
    assert row["prompt"] == "a lighthouse in a storm" and row["seed"] == 1234
    assert (row["duration"], row["aspect_ratio"]) == ("10", "9:16")


def test_pending_row_stays_pending_while_its_process_lives(log):
    child = run_child(log.data_dir, "wait")
    try:
        gen_id = child.stdout.readline().strip()
        assert log.get(gen_id)["status"] == "pending"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    # Nothing in the files changed, yet the next read notices the writer is gone.
    assert log.get(gen_id)["status"] == "interrupted"


def test_own_in_flight_generation_stays_pending(log):
    gen_id = log.record_pending(request())
    assert HistoryLog(log.data_dir).get(gen_id)["status"] == "pending"
    assert log.get(gen_id)["owner"] == process_owner()


def test_pending_rows_from_other_hosts_time_out(log):
    now = datetime.now(timezone.utc)
    write_log(log.path, [
        {"id": "old", "created_at": (now - timedelta(days=2)).isoformat(), "status": "pending",
         "prompt": "old", "owner": "elsewhere:123:abc"},
        {"id": "new", "created_at": now.isoformat(), "status": "pending", "prompt": "new",
         "owner": "elsewhere:124:abc"},
        {"id": "reused", "created_at": now.isoformat(), "status": "pending", "prompt": "pid",
         "owner": f"{process_owner().split(':')[0]}:{os.getpid()}:not-this-process"},
    ])
    frame = log.load().set_index("id")
    assert frame.loc["old", "status"] == "interrupted"
    assert frame.loc["new", "status"] == "pending"
    assert frame.loc["reused", "status"] == "interrupted"  # same pid, other process


# -- annotations ----------------------------------------------------------------------------

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


# -- queries --------------------------------------------------------------------------------

def _row(i, day, status="succeeded", prompt="p", duration="5", ratio="16:9",
         inference=None, template="", hour=10):
    return {"id": f"id{i}", "created_at": f"{day}T{hour:02d}:00:00.000+00:00", "status": status,
            "prompt": prompt, "duration": duration, "aspect_ratio": ratio, "seed": i,
            "inference_s": inference, "template_id": template,
            "cost_usd": int(duration) * 0.28 if status == "succeeded" else 0.0}


@pytest.fixture
def filled(log) -> HistoryLog:
    write_log(log.path, [
        _row(1, "2025-01-01", prompt="Waves crashing on the shore", inference=12.0,
             template="tpl-a"),
        _row(2, "2025-01-02", status="failed", prompt="A red fox in SNOW", duration="10",
             ratio="9:16", template="tpl-a"),
        _row(3, "2025-01-03", prompt="city at night", duration="10", inference=25.0,
             template="tpl-b"),
        _row(4, "2025-02-01", prompt="waves again", ratio="9:16", inference=18.0),
        _row(5, "2025-02-02", status="interrupted", prompt="lost one"),
    ])
    log.annotate("id1", favourite=True, rating=5, review_status="approved",
                 tags="beach, summer")
    log.annotate("id3", rating=3, review_status="rejected", notes="Too dark")
    log.annotate("id4", hidden=True)
    return log


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["id"])


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


# -- statistics -----------------------------------------------------------------------------

def test_stats(filled):
    frame = filled.query(HistoryQuery(include_hidden=True))
    stats = filled.stats(frame, today=date(2025, 2, 1))
    assert (stats.total, stats.succeeded, stats.failed) == (5, 3, 1)
    assert stats.success_rate == pytest.approx(3 / 4)
    assert stats.inference_p50 == pytest.approx(18.0)
    assert stats.inference_p95 == pytest.approx(18.0 + 0.9 * (25.0 - 18.0))
    assert stats.seconds_generated == 20
    assert stats.spend_total == pytest.approx(1.4 + 2.8 + 1.4)
    assert stats.spend_today == pytest.approx(1.4)
    assert stats.spend_this_month == pytest.approx(1.4)

    per_day = stats.per_day.set_index("date")
    assert list(per_day.columns) == ["generations", "succeeded", "failed", "seconds", "spend",
                                     "possibly_billed"]
    assert per_day.loc[pd.Timestamp("2025-01-02"), "failed"] == 1
    assert per_day.loc[pd.Timestamp("2025-01-03"), "spend"] == pytest.approx(2.8)
    per_month = stats.per_month.set_index("month")
    assert per_month.loc["2025-01", "spend"] == pytest.approx(4.2)
    assert per_month.loc["2025-01", "generations"] == 3
    assert per_month.loc["2025-02", "seconds"] == 5

    top = stats.top_templates
    assert list(top["template_id"]) == ["tpl-a", "tpl-b"]
    first = top.iloc[0]
    assert first["uses"] == 2 and first["success_rate"] == pytest.approx(0.5)
    assert first["avg_rating"] == pytest.approx(5.0)
    assert first["last_used"] == pd.Timestamp("2025-01-02T10:00", tz="UTC")
    assert sorted(stats.inference_times) == [12.0, 18.0, 25.0]


def test_default_stats_skip_hidden_and_are_cached(filled):
    stats = filled.stats(today=date(2025, 2, 1))
    assert stats.total == 4 and stats.spend_this_month == 0
    assert filled.stats(today=date(2025, 2, 1)) is stats


def test_spend_of_an_earlier_log_counts_no_unbilled_failures(log):
    # Written before costs were recorded: failed rows have no cost_usd at all.
    write_log(log.path, [
        {"id": f"f{i}", "created_at": "2025-01-05T09:00:00+00:00", "status": "failed",
         "prompt": "x", "duration": "10", "aspect_ratio": "16:9", "seed": i,
         "error": "Firemoon could not generate this video."} for i in range(3)
    ], columns=OLD_COLUMNS)
    stats = log.stats(today=date(2025, 1, 5))
    assert stats.failed == 3
    assert (stats.spend_total, stats.spend_today, stats.spend_this_month) == (0, 0, 0)
    assert stats.per_day["spend"].sum() == 0
    assert log.get("f0")["cost_usd"] is None


def test_spend_estimates_only_what_may_have_been_billed(log):
    base = {"created_at": "2025-01-05T09:00:00+00:00", "prompt": "x", "duration": "10",
            "aspect_ratio": "16:9", "seed": 1}
    write_log(log.path, [
        {**base, "id": "ok", "status": "succeeded"},                      # 2.80 estimated
        {**base, "id": "unknown", "status": "failed",
         "error_type": "outcome_unknown"},                                 # 2.80 estimated
        {**base, "id": "declined", "status": "failed",
         "error_type": "insufficient_credits"},                           # 0
        {**base, "id": "malformed", "status": "failed", "cost_usd": 1.4, "http_status": 200,
         "error_type": "malformed_response"},                             # 1.40 as recorded
        {**base, "id": "zero", "status": "failed", "cost_usd": 0.0,
         "error_type": "outcome_unknown"},                                # 0 as recorded
        {**base, "id": "lost", "status": "interrupted"},                  # no outcome
    ])
    stats = log.stats(today=date(2025, 1, 5))
    # Confirmed spend is the success only; the possibly billed ones are counted apart,
    # never as zero: unknown 2.80, the old log's unreadable 200 1.40, zero -> 2.80, lost 2.80.
    assert stats.spend_total == stats.spend_today == pytest.approx(2.8)
    assert stats.possibly_billed == 4
    assert stats.possibly_billed_usd == pytest.approx(2.8 + 1.4 + 2.8 + 2.8)
    assert log.get("unknown")["cost_usd"] == pytest.approx(2.8)
    assert log.get("malformed")["error_type"] == "outcome_unknown"
    assert log.get("declined")["cost_usd"] is None
    # The same figures from this version's own records.
    fresh = HistoryLog(log.data_dir / "fresh")
    for error in (OutcomeUnknownError(), InsufficientCreditsError(status=402)):
        fresh.record_failure(fresh.record_pending(request(duration="10")), error,
                             elapsed_s=1)
    assert fresh.stats().spend_total == 0.0
    assert fresh.stats().possibly_billed_usd == pytest.approx(2.8)


def test_stats_of_nothing(log):
    stats = log.stats()
    assert (stats.total, stats.success_rate, stats.inference_p50) == (0, None, None)
    assert stats.per_day.empty and stats.top_templates.empty
    assert "Generations:" in format_stats(stats)


def test_template_stats_alone(filled):
    table = template_stats(filled.load())
    assert list(table.columns) == ["template_id", "uses", "success_rate", "avg_rating",
                                   "last_used"]
    assert table.set_index("template_id").loc["tpl-b", "avg_rating"] == 3


# -- earlier logs, unknown columns, bad rows ------------------------------------------------

OLD_COLUMNS = ("id", "created_at", "status", "prompt", "duration", "aspect_ratio", "seed",
               "inference_s", "elapsed_s", "video_url", "video_path", "error", "project")


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


# -- torn rows ------------------------------------------------------------------------------

@pytest.mark.parametrize("torn", [
    b'20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pending,"half a prompt, with',
    b"20250101-000000-deadbeef,2025-01",
    "20250101-000000-deadbeef,2025,pending,caf\u00e9 \U0001F600".encode()[:-2],  # mid-char
])
def test_torn_last_row_is_set_aside_with_a_warning(log, caplog, torn):
    first = log.record_pending(request("before the crash"))
    with open(log.path, "ab") as handle:
        handle.write(torn)
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        after = log.record_pending(request('after the crash, "quoted"'))
    assert "incomplete row" in caplog.text
    assert log.torn_path.read_bytes() == torn + b"\n"
    assert log.path.read_bytes().endswith(b"\n")
    frame = HistoryLog(log.data_dir).load()
    assert sorted(frame["id"]) == sorted([first, after])
    assert log.get(after)["prompt"] == 'after the crash, "quoted"'
    assert pd.read_csv(log.path).shape[0] == 2


def test_reader_repairs_a_torn_row_when_no_writer_is_busy(log, caplog):
    gen_id = log.record_pending(request())
    with open(log.path, "ab") as handle:
        handle.write(b"20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pen")
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        assert list(HistoryLog(log.data_dir).load()["id"]) == [gen_id]
    assert log.torn_path.exists() and "incomplete row" in caplog.text


def test_a_row_being_written_is_not_read_and_not_set_aside(log):
    gen_id = log.record_pending(request())
    with open(log.path, "ab") as handle:
        handle.write(b"20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pen")
    # Another process is mid-append: it holds the lock.
    busy = filelock.FileLock(str(log.data_dir / "history.lock"))
    with busy:
        reader = HistoryLog(log.data_dir)
        assert list(reader.load()["id"]) == [gen_id]
    assert not log.torn_path.exists()


def test_a_torn_header_is_set_aside_and_the_log_restarts(log):
    log.data_dir.mkdir(parents=True)
    log.path.write_bytes(b"id,created_at,sta")
    gen_id = log.record_pending(request())
    assert log.torn_path.read_bytes() == b"id,created_at,sta\n"
    assert list(log.load()["id"]) == [gen_id]


# -- damaged files: blank, unmatched quotes, no header ---------------------------------------

@pytest.mark.parametrize("content", [b"", b"\n", b"\n\n  \n", b"\r\n"])
@pytest.mark.parametrize("name", ["history.csv", "annotations.csv"])
def test_a_blank_file_is_an_empty_log_and_the_next_append_writes_a_header(
        log, content, name):
    log.data_dir.mkdir(parents=True)
    (log.data_dir / name).write_bytes(content)
    assert log.load().empty and log.stats().total == 0

    gen_id = log.record_pending(request("after the blank file"))
    log.annotate(gen_id, rating=4)
    for path, first in ((log.path, "id,created_at,status"),
                        (log.annotations_path, "id,field,value")):
        assert lines(path)[0].startswith(first)
        assert pd.read_csv(path).shape[0] == 1
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "after the blank file" and row["rating"] == 4


def test_a_file_emptied_under_a_running_studio_gets_its_header_back(log):
    log.record_pending(request("before"))
    log.annotate(log.record_pending(request("rated")), rating=2)
    log.path.write_bytes(b"\n")  # emptied in place: same inode, no header
    log.annotations_path.write_bytes(b"")
    gen_id = log.record_pending(request("after"))
    log.annotate(gen_id, favourite=True)
    assert lines(log.path)[0].startswith("id,created_at,status")
    assert lines(log.annotations_path)[0] == "id,field,value,annotated_at"
    frame = HistoryLog(log.data_dir).load()
    assert list(frame["prompt"]) == ["after"] and bool(frame["favourite"].iloc[0])


def test_blank_lines_before_the_header_are_skipped(log):
    first = log.record_pending(request("one"))
    log.path.write_bytes(b"\n\n" + log.path.read_bytes())
    second = HistoryLog(log.data_dir).record_pending(request("two"))
    assert sorted(HistoryLog(log.data_dir).load()["id"]) == sorted([first, second])


UNMATCHED = '20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pending,"never closed,5,16:9,1'


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


def test_an_unmatched_quote_at_the_very_end_is_set_aside_like_a_torn_row(log, caplog):
    # Byte for byte the same as a row torn right after a newline inside a quoted cell.
    first = log.record_pending(request("good, with a comma"))
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(UNMATCHED + "\n")
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        after = log.record_pending(request("plain words"))
    assert "incomplete row" in caplog.text
    assert log.torn_path.read_bytes() == UNMATCHED.encode() + b"\n\n"  # verbatim
    assert list(pd.read_csv(log.path)["id"]) == [first, after]


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


@pytest.mark.parametrize("name", ["history.csv", "annotations.csv"])
def test_a_header_without_id_refuses_appends_clearly_and_loads_what_it_can(log, name):
    gen_id = log.record_pending(request("kept"))
    path = log.data_dir / name
    path.write_text("created_at,status,prompt\n2025-01-01T00:00:00+00:00,succeeded,x\n")
    before = path.read_bytes()
    reader = HistoryLog(log.data_dir)
    frame = reader.load()  # no KeyError
    reader.stats()
    if name == "history.csv":
        assert frame.empty  # rows without ids cannot be told apart
    else:
        assert list(frame["id"]) == [gen_id] and frame["rating"].isna().all()
    with pytest.raises(HistoryError, match="no 'id' column"):
        reader.record_pending(request("new")) if name == "history.csv" else \
            reader.annotate(gen_id, rating=3)
    assert path.read_bytes() == before


# -- load cache -----------------------------------------------------------------------------

def test_load_is_cached_until_a_file_changes(log, monkeypatch):
    log.record_pending(request("one"))
    first = log.load()
    parses = []
    import kling.history.frame as frame_module

    real = frame_module.read_csv
    def counting(data, path, *args, **kwargs):
        if path == log.path:
            parses.append(1)
        return real(data, path, *args, **kwargs)

    monkeypatch.setattr(frame_module, "read_csv", counting)
    again = log.load()
    assert parses == [] and again.equals(first)

    again["prompt"] = "changed by a caller"  # callers cannot spoil the cache
    assert log.load()["prompt"].tolist() == ["one"]

    HistoryLog(log.data_dir).record_pending(request("two"))  # another writer
    assert sorted(log.load()["prompt"]) == ["one", "two"]
    assert parses == [1]

    log.annotate(log.load()["id"][0], favourite=True)  # annotations only: no re-parse
    assert log.load()["favourite"].sum() == 1
    assert parses == [1]


def test_repeated_load_is_fast(log):
    log.record_pending(request())
    log.load()
    start = time.perf_counter()
    for _ in range(20):
        log.load()
    assert (time.perf_counter() - start) / 20 < 0.01


# -- exports and terminal text --------------------------------------------------------------

def test_exports(filled):
    filled.annotate("id2", notes="=HYPERLINK(\"http://evil\")")
    frame = filled.query(HistoryQuery(include_hidden=True))
    data = export_csv(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str,
                       keep_default_na=False)
    assert len(back) == 5 and list(back.columns) == list(frame.columns)
    assert back.set_index("id").loc["id2", "notes"] == "'=HYPERLINK(\"http://evil\")"
    assert back.set_index("id").loc["id1", "created_at"] == "2025-01-01 10:00:00"

    import json
    records = json.loads(export_json(frame))
    by_id = {r["id"]: r for r in records}
    assert by_id["id1"]["tags"] == ["beach", "summer"] and by_id["id1"]["rating"] == 5
    assert by_id["id2"]["inference_s"] is None
    assert by_id["id1"]["created_at"] == "2025-01-01T10:00:00.000Z"


def test_format_table(filled):
    text = format_table(filled.query(HistoryQuery()))
    assert text.splitlines()[0].split() == ["id", "created", "status", "dur", "ratio", "seed",
                                            "infer", "prompt"]
    assert "A red fox in SNOW" in text and len(text.splitlines()) == 5
    assert format_table(filled.query(HistoryQuery(text="nothing"))) == "No generations."
