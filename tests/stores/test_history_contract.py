"""The history as every part of the studio uses it, the same in both backends: the life
of a generation, annotations and who made them, every filter and sort, figures and
money, and nothing lost when a writer dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from kling.errors import InsufficientCreditsError, OutcomeUnknownError, ServerError
from kling.history import ANNOTATION_FIELDS, AUTHOR_COLUMNS, HISTORY_COLUMNS, HistoryQuery
from kling.storage.process import process_owner
from tests.history.support import (
    ROOT, SAMPLE_ROWS, annotate_sample, made, request, result,
)

from .conftest import again, put_rows


# -- a generation's life -------------------------------------------------------------------

def test_pending_then_success(history):
    gen_id = history.record_pending(request(), template_id="tpl-a", template_version=3,
                                    template_vars={"product": "shoes"}, batch_id="b1")
    assert history.get(gen_id)["status"] == "pending"
    history.record_success(gen_id, result(), elapsed_s=16.04)
    row = history.get(gen_id)
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
    assert row["created_at"].tzinfo is not None
    assert len(history.load()) == 1


def test_failures_keep_their_reason_and_cost_only_when_possibly_billed(history):
    refused = history.record_pending(request(duration="10"), source="cli")
    history.record_failure(refused, InsufficientCreditsError(status=402), elapsed_s=0.4)
    row = history.get(refused)
    assert row["status"] == "failed" and row["error"] == str(InsufficientCreditsError())
    assert row["error_type"] == "insufficient_credits" and row["http_status"] == 402
    assert row["cost_usd"] == 0.0 and row["source"] == "cli"
    unknown = history.record_pending(request(duration="10"))
    history.record_failure(unknown, OutcomeUnknownError(), elapsed_s=60)
    assert history.get(unknown)["cost_usd"] == pytest.approx(2.8)
    crashed = history.record_pending(request())
    history.record_failure(crashed, RuntimeError(), elapsed_s=1)
    assert history.get(crashed)["error_type"] == "RuntimeError"


def test_video_path_and_archive_error(history):
    gen_id = made(history)
    history.record_video_path(gen_id, None, archive_error="The link expired.")
    assert history.get(gen_id)["archive_error"] == "The link expired."
    history.record_video_path(gen_id, "/data/videos/x.mp4")
    row = history.get(gen_id)
    assert row["status"] == "succeeded" and row["video_path"] == "/data/videos/x.mp4"
    assert row["archive_error"] == ""


def test_an_outcome_recorded_by_another_process_keeps_the_request(history):
    gen_id = history.record_pending(request("a fox in the snow"), template_id="tpl-x",
                                    created_by="cy@acme.com")
    again(history).record_success(gen_id, result(seed=7), elapsed_s=12)
    row = again(history).get(gen_id)
    assert (row["prompt"], row["template_id"], row["created_by"]) == (
        "a fox in the snow", "tpl-x", "cy@acme.com")
    assert row["status"] == "succeeded" and row["seed"] == 7


def test_an_outcome_with_no_pending_row_is_kept(history):
    history.record_failure("20250101-000000-abcdef12", ServerError("no"), elapsed_s=1)
    assert history.get("20250101-000000-abcdef12")["status"] == "failed"


def test_an_assembled_spot(history):
    gen_id = history.record_assembled(
        gen_id="20250101-000000-5p075p07", title="Summer spot", aspect_ratio="9:16",
        seconds=22.5, width=1080, height=1920, video_path="/v/spot.mp4",
        storyboard_id="sb1", elapsed_s=4.2, created_by="cy@acme.com")
    row = history.get(gen_id)
    assert (row["status"], row["source"], row["cost_usd"], row["duration"]) == (
        "succeeded", "assembly", 0.0, "22.5")


def test_ids_are_ours_and_checked(history):
    assert history.record_pending(request(), gen_id="20250101-120000-abcdef12") \
        == "20250101-120000-abcdef12"
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x.mp4", "a" * 81):
        with pytest.raises(ValueError):
            history.record_pending(request(), gen_id=bad)
        assert history.get(bad) is None  # a link may hold anything
    assert history.get("20250101-000000-00000000") is None


# -- annotations ---------------------------------------------------------------------------

def test_annotations_merge_into_every_row(history):
    first = history.record_pending(request("first"))
    second = history.record_pending(request("second"))
    history.annotate([first, second], favourite=True, review_status="approved")
    history.annotate(first, rating=4, notes="great\nlight", tags=["beach", " summer ", "beach"])
    history.annotate(second, tags="red, fox ,,")
    history.annotate(first, rating=None)  # cleared, the rest kept
    row_a, row_b = history.get(first), history.get(second)
    assert row_a["favourite"] and row_a["review_status"] == "approved"
    assert row_a["rating"] is None and row_a["notes"] == "great\nlight"
    assert row_a["tags"] == ["beach", "summer"] and row_b["tags"] == ["red", "fox"]
    assert row_b["favourite"] and not row_b["hidden"]
    frame = history.load().set_index("id")
    assert frame.loc[first, "tags"] == "beach, summer"
    assert frame["favourite"].dtype == bool and str(frame["rating"].dtype) == "Int64"


def test_annotation_defaults(history):
    row = history.get(history.record_pending(request()))
    assert (row["favourite"], row["rating"], row["review_status"], row["notes"], row["tags"],
            row["hidden"], row["reviewed_by"], row["reviewed_at"], row["notes_by"]) == (
        False, None, "draft", "", [], False, "", None, "")


@pytest.mark.parametrize("fields", [
    {"rating": 6}, {"rating": 2.5}, {"rating": True}, {"review_status": "maybe"},
    {"favourite": "yes"}, {"notes": 5}, {"tags": [1, 2]}, {"colour": "red"},
])
def test_invalid_annotations_are_refused_and_nothing_is_written(history, fields):
    gen_id = history.record_pending(request())
    with pytest.raises(ValueError):
        history.annotate(gen_id, **{"favourite": True, **fields})  # the valid one waits too
    assert history.get(gen_id)["favourite"] is False
    assert [e.what for e in history.trail(gen_id)] == ["generated"]
    with pytest.raises(ValueError):
        history.annotate(["../x"], favourite=True)


def test_reviews_and_notes_carry_their_author_and_time(history):
    gen_id = made(history)
    history.annotate(gen_id, by="cy@acme.com", rating=4, notes="First cut")
    history.annotate(gen_id, by="bo@acme.com", review_status="approved")
    row = history.get(gen_id)
    assert (row["reviewed_by"], row["notes_by"], row["rating"]) == (
        "bo@acme.com", "cy@acme.com", 4)
    assert row["reviewed_at"] is not None and row["reviewed_at"].tzinfo is not None


def test_the_trail_says_who_did_what_in_order(history):
    gen_id = made(history)
    history.annotate(gen_id, by="cy@acme.com", rating=5)
    history.annotate(gen_id, by="bo@acme.com", review_status="rejected")
    history.annotate(gen_id, by="bo@acme.com", review_status="approved")
    trail = history.trail(gen_id)
    assert [(e.by, e.what, e.value) for e in trail] == [
        ("cy@acme.com", "generated", "succeeded"), ("cy@acme.com", "rating", "5"),
        ("bo@acme.com", "review_status", "rejected"),
        ("bo@acme.com", "review_status", "approved")]
    assert all(e.at is not None for e in trail)
    assert trail[0].at <= trail[1].at <= trail[3].at
    assert history.trail("20250101-000000-cccccccc") == []


# -- questions asked of it -----------------------------------------------------------------

@pytest.fixture
def filled(history):
    """Five generations over two months, three of them annotated, one hidden."""
    put_rows(history, SAMPLE_ROWS)
    annotate_sample(history)
    return history


@pytest.mark.parametrize("query, expected", [
    (HistoryQuery(), ["id5", "id3", "id2", "id1"]),
    (HistoryQuery(include_hidden=True), ["id5", "id4", "id3", "id2", "id1"]),
    (HistoryQuery(text="WAVES"), ["id1"]),
    (HistoryQuery(text="snow"), ["id2"]),
    (HistoryQuery(text="too dark"), ["id3"]),       # notes
    (HistoryQuery(text="summer"), ["id1"]),         # tags
    (HistoryQuery(text="id4", include_hidden=True), ["id4"]),  # ids
    (HistoryQuery(text="waves", include_hidden=True), ["id4", "id1"]),
    (HistoryQuery(text="(["), []),                  # not a pattern
    (HistoryQuery(text="%"), []),
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
    assert list(filled.query(query)["id"]) == expected


def test_statistics(filled):
    stats = filled.stats(today=date(2025, 2, 2))
    assert (stats.total, stats.succeeded, stats.failed) == (4, 2, 1)
    assert stats.success_rate == pytest.approx(2 / 3)
    assert stats.spend_total == pytest.approx(1.4 + 2.8)
    assert stats.seconds_generated == 15
    assert stats.possibly_billed == 1 and stats.possibly_billed_usd == pytest.approx(1.4)
    assert list(stats.top_templates["template_id"]) == ["tpl-a", "tpl-b"]
    assert list(stats.per_month["month"]) == ["2025-01", "2025-02"]
    assert sorted(stats.inference_times) == [12.0, 25.0]


def test_people_filters_and_money_by_person(history):
    mine, theirs = made(history, "cy@acme.com"), made(history, "Bo@Acme.com", duration="10")
    made(history, "cy@acme.com", outcome="possibly billed")
    made(history, "cy@acme.com", duration="10", outcome="pending")
    made(history, "cy@acme.com", outcome="failed")
    hidden = made(history, "Bo@Acme.com")
    history.annotate(hidden, by="ana@acme.com", hidden=True)  # still spent
    history.record_pending(request(), created_by=None)        # nobody's: the team's
    assert list(history.query(HistoryQuery(people=["CY@acme.com"]))["id"])[-1] == mine
    assert list(history.query(HistoryQuery(people=("bo@acme.com",)))["id"]) == [theirs]
    assert history.people() == ["Bo@Acme.com", "cy@acme.com"]
    commitments = history.commitments()
    assert commitments.by_person == {"cy@acme.com": 5.60, "bo@acme.com": 4.20}
    assert commitments.total_usd == pytest.approx(5.60 + 4.20 + 1.40)
    table = history.spend_by_person_month()
    assert list(table["person"]) == ["bo@acme.com", "cy@acme.com", "(no name)"]
    assert list(table["spend_usd"]) == [2.8, 1.4, 0.0]
    assert list(table["possibly_billed_usd"]) == [0.0, 1.4, 0.0]


def test_commitments_are_of_one_month(history):
    put_rows(history, [
        {"id": "20250131-230000-aaaaaaaa", "status": "succeeded", "duration": "5",
         "created_at": "2025-01-31T12:00:00+00:00", "cost_usd": 1.4, "created_by": "cy@a.com"},
        {"id": "20250201-000000-bbbbbbbb", "status": "succeeded", "duration": "10",
         "created_at": "2025-02-01T12:00:00+00:00", "cost_usd": 2.8, "created_by": "cy@a.com"},
    ])
    assert history.commitments(date(2025, 1, 15)).by_person == {"cy@a.com": 1.4}
    assert history.commitments(date(2025, 2, 1)).total_usd == 2.8
    assert history.commitments(date(2025, 3, 1)).total_usd == 0


def test_what_is_read_follows_every_change(history):
    gen_id = made(history)
    assert history.stats().succeeded == 1 and history.commitments().total_usd == 1.4
    made(again(history), duration="10")
    history.annotate(gen_id, hidden=True)
    assert history.stats().succeeded == 1 and history.commitments().total_usd == 4.2
    assert len(history.load()) == 2 and len(history.query()) == 1


def test_the_frame_has_the_logs_columns_and_types(history):
    made(history)
    frame = history.load()
    assert list(frame.columns) == [*HISTORY_COLUMNS, *ANNOTATION_FIELDS, *AUTHOR_COLUMNS]
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes["seed"] == dtypes["rating"] == "Int64"
    assert dtypes["cost_usd"] == "float64" and dtypes["favourite"] == "bool"
    assert dtypes["created_at"] == dtypes["reviewed_at"] == "datetime64[us, UTC]"
    assert dtypes["prompt"] == dtypes["error"] == "object"
    assert frame.loc[0, "error"] == "" and pd.isna(frame.loc[0, "http_status"])


# -- nothing lost: interrupted generations -------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from kling.models import GenerationRequest
    if sys.argv[1] == "files":
        from kling.history import HistoryLog
        history = HistoryLog(sys.argv[2])
    else:
        from kling import db
        from kling.db.history import DatabaseHistory
        history = DatabaseHistory(db.connect(sys.argv[2]))
    request = GenerationRequest.create("a lighthouse in a storm", "10", "9:16", 1234)
    print(history.record_pending(request), flush=True)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # stay alive until the parent closes stdin
""")


def run_child(history, mode: str) -> subprocess.Popen:
    where = ("files", str(history.data_dir)) if hasattr(history, "data_dir") else (
        "postgres", history.engine.url.render_as_string(hide_password=False))
    return subprocess.Popen([sys.executable, "-c", CHILD, *where, mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_killed_writers_generation_reads_as_interrupted(history):
    child = run_child(history, "kill")
    gen_id = child.stdout.readline().strip()
    child.wait(timeout=30)
    row = history.get(gen_id)
    assert row["status"] == "interrupted"
    assert (row["prompt"], row["seed"], row["duration"], row["aspect_ratio"]) == (
        "a lighthouse in a storm", 1234, "10", "9:16")
    assert again(history).get(gen_id)["status"] == "interrupted"


def test_a_pending_row_stays_pending_while_its_writer_lives(history):
    child = run_child(history, "wait")
    try:
        gen_id = child.stdout.readline().strip()
        assert history.get(gen_id)["status"] == "pending"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert history.get(gen_id)["status"] == "interrupted"


def test_own_in_flight_generation_stays_pending(history):
    gen_id = history.record_pending(request())
    assert again(history).get(gen_id)["status"] == "pending"
    assert history.get(gen_id)["owner"] == process_owner()


def test_pending_rows_from_other_hosts_time_out(history):
    now = datetime.now(timezone.utc)
    put_rows(history, [
        {"id": "old", "created_at": (now - timedelta(days=2)).isoformat(), "status": "pending",
         "prompt": "old", "owner": "elsewhere:123:abc"},
        {"id": "new", "created_at": now.isoformat(), "status": "pending", "prompt": "new",
         "owner": "elsewhere:124:abc"},
    ])
    frame = history.load().set_index("id")
    assert frame.loc["old", "status"] == "interrupted"
    assert frame.loc["new", "status"] == "pending"


# -- one page at a time ---------------------------------------------------------------------

def test_counts_pages_and_the_templates_used(filled):
    assert filled.count() == 4 and filled.count(HistoryQuery(include_hidden=True)) == 5
    assert filled.count(HistoryQuery(text="waves")) == 1
    assert list(filled.page(HistoryQuery(), 0, 2)["id"]) == ["id5", "id3"]
    assert list(filled.page(HistoryQuery(), 2, 2)["id"]) == ["id2", "id1"]
    assert list(filled.page(HistoryQuery(sort="oldest"), 1, 2)["id"]) == ["id2", "id3"]
    assert filled.page(HistoryQuery(), 4, 2).empty
    page = filled.page(HistoryQuery(include_hidden=True), 1, 1)
    assert list(page.columns) == list(filled.load().columns) and bool(page["hidden"].iloc[0])
    assert filled.template_ids() == ["tpl-a", "tpl-b"]


def test_possibly_billed_is_a_status_to_filter_by(history):
    billed = made(history, outcome="possibly billed")
    failed = made(history, outcome="failed")
    ok = made(history)
    ids = lambda *statuses: set(history.query(HistoryQuery(statuses=statuses))["id"])
    assert ids("possibly_billed") == {billed}
    assert ids("possibly_billed", "succeeded") == {billed, ok}
    assert ids("failed") == {billed, failed}
    assert history.count(HistoryQuery(statuses=("possibly_billed",))) == 1


def test_figures_of_what_a_query_matches(filled):
    january = HistoryQuery(date_to=date(2025, 1, 31))
    stats = filled.stats(query=january, today=date(2025, 2, 2))
    assert (stats.total, stats.succeeded, stats.failed) == (3, 2, 1)
    assert filled.stats(query=HistoryQuery(sort="oldest"), today=date(2025, 2, 2)).total == 4
    spend = filled.spend_by_person_month(query=january)
    assert list(spend["month"]) == ["2025-01"] and spend["spend_usd"].sum() == 4.2


def test_the_databases_figures_are_the_frames(history):
    """Aggregated in SQL or computed from the loaded frame: the same figures."""
    from kling.history import compute_stats

    for n in range(6):
        made(history, f"p{n % 2}@acme.com", duration="10" if n % 3 else "5")
    made(history, outcome="possibly billed")
    made(history, outcome="failed")
    made(history, duration="10", outcome="pending")
    history.record_pending(request(), template_id="tpl-z")
    ours = history.stats()
    frames = compute_stats(history.query(), history.price_per_second)
    for name in ("total", "succeeded", "failed", "success_rate", "inference_p50",
                 "inference_p95", "seconds_generated", "spend_total", "spend_today",
                 "spend_this_month", "possibly_billed", "possibly_billed_usd",
                 "expected_times"):
        assert getattr(ours, name) == pytest.approx(getattr(frames, name)), name
    for name in ("per_day", "per_month", "top_templates"):
        pd.testing.assert_frame_equal(getattr(ours, name), getattr(frames, name),
                                      check_dtype=False, check_index_type=False)
    assert sorted(ours.inference_times) == sorted(frames.inference_times)


def test_a_storyboards_takes_and_every_templates_use(history):
    take = history.record_pending(request(), storyboard_id="sb-1", shot="a")
    history.record_pending(request(), storyboard_id="sb-2", shot="a")
    history.annotate(take, hidden=True)
    mine = HistoryQuery(storyboards=("sb-1",), include_hidden=True)
    assert list(history.query(mine)["id"]) == [take]
    for n in range(12):  # more templates than the top ten
        gen_id = history.record_pending(request(), template_id=f"tpl-{n:02d}")
        history.record_success(gen_id, result(), elapsed_s=1)
    table = history.template_stats()
    assert len(table) == 12 and set(table["uses"]) == {1}
    assert list(table.columns) == ["template_id", "uses", "success_rate", "avg_rating",
                                   "last_used"]


def test_the_sidebars_spend_and_the_panels_expected_times(history):
    for n in range(5):
        made(history)
    made(history, outcome="possibly billed")
    hidden = made(history, duration="10")
    history.annotate(hidden, hidden=True)
    spend, stats = history.spend(), history.stats()
    assert (spend.today, spend.this_month, spend.possibly_billed,
            spend.possibly_billed_usd) == (stats.spend_today, stats.spend_this_month,
                                           stats.possibly_billed, stats.possibly_billed_usd)
    assert spend.this_month == pytest.approx(7.0) and spend.possibly_billed == 1
    assert history.expected_times() == stats.expected_times
    assert history.expected_times()["5"].samples == 5


def test_a_count_can_stop_past_a_bound(filled):
    assert filled.count(HistoryQuery(), at_most=2) == 3  # more than two
    assert filled.count(HistoryQuery(), at_most=10) == 4
    assert filled.count(HistoryQuery(text="waves"), at_most=0) == 1
