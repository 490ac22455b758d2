"""Names in the history: who made each generation, who annotated it and when (its
trail), filtering by person, and what each person spent or committed in a month."""

from __future__ import annotations


import pandas as pd
import pytest

from kling.history import ANNOTATION_COLUMNS, HistoryLog, export_csv
from kling.history.csvformat import encode

from .support import OLD_COLUMNS, lines, made, plain_pandas, request, write_log
from .test_appended import append_rows, assert_as_parsed_whole


@pytest.fixture
def log(tmp_path) -> HistoryLog:
    return HistoryLog(tmp_path / "data")


def test_the_maker_is_kept_through_every_later_row(log):
    gen_id = made(log, "cy@acme.com")
    log.record_video_path(gen_id, "/videos/x.mp4")
    assert log.get(gen_id)["created_by"] == "cy@acme.com"
    assert HistoryLog(log.data_dir).get(gen_id)["created_by"] == "cy@acme.com"
    assert plain_pandas(log.path)["created_by"].tolist() == ["cy@acme.com"] * 3


def test_an_old_log_without_names_reads_with_none_and_gains_the_column(log):
    write_log(log.path, [{"id": "20250101-000000-aaaaaaaa", "status": "succeeded",
                          "created_at": "2025-01-01T00:00:00+00:00", "prompt": "old"}],
              columns=OLD_COLUMNS)
    assert log.get("20250101-000000-aaaaaaaa")["created_by"] == ""
    made(log, "bo@acme.com")
    assert "created_by" in lines(log.path)[0].split(",")
    assert sorted(set(plain_pandas(log.path)["created_by"])) == ["", "bo@acme.com"]


def test_old_annotations_without_an_author_still_read(log):
    gen_id = made(log, "cy@acme.com")
    log.annotations_path.write_bytes(encode(ANNOTATION_COLUMNS[:4], [
        {"id": gen_id, "field": "review_status", "value": "rejected",
         "annotated_at": "2025-01-01T00:00:00+00:00"}], header=True))
    row = log.get(gen_id)
    assert (row["review_status"], row["reviewed_by"]) == ("rejected", "")
    log.annotate(gen_id, by="bo@acme.com", review_status="approved")
    assert log.get(gen_id)["reviewed_by"] == "bo@acme.com"
    assert lines(log.annotations_path)[0].endswith("annotated_by")


def test_names_folded_from_appends_equal_a_full_parse(log):
    first = made(log, "cy@acme.com")
    log.annotate(first, by="bo@acme.com", review_status="approved", notes="ok")
    log.load()
    append_rows(log.path, [{"id": "20250102-000000-bbbbbbbb", "status": "pending",
                            "created_at": "2025-01-02T00:00:00+00:00", "prompt": "p",
                            "created_by": "ana@acme.com"}])
    made(log, "vi@acme.com")
    fresh = assert_as_parsed_whole(log)
    assert set(fresh.load()["created_by"]) == {"cy@acme.com", "ana@acme.com", "vi@acme.com"}


def test_spend_by_person_and_month(log):
    made(log, "cy@acme.com")
    made(log, "cy@acme.com", outcome="possibly billed")
    made(log, "bo@acme.com", duration="10")
    log.record_pending(request(), created_by=None)
    table = log.spend_by_person_month()
    month = pd.Timestamp.now(tz=log.load()["created_at"].dt.tz).strftime("%Y-%m")
    assert table.to_dict("records") == [
        {"month": month, "person": "bo@acme.com", "generations": 1, "spend_usd": 2.8,
         "possibly_billed_usd": 0.0},
        {"month": month, "person": "cy@acme.com", "generations": 2, "spend_usd": 1.4,
         "possibly_billed_usd": 1.4},
        {"month": month, "person": "(no name)", "generations": 1, "spend_usd": 0.0,
         "possibly_billed_usd": 0.0},
    ]


def test_exports_name_who_made_and_reviewed(log):
    gen_id = made(log, "cy@acme.com")
    log.annotate(gen_id, by="bo@acme.com", review_status="approved", notes="Ship it")
    exported = pd.read_csv(pd.io.common.BytesIO(export_csv(log.load())), dtype=str)
    row = exported.iloc[0]
    assert (row["created_by"], row["reviewed_by"], row["notes_by"]) == (
        "cy@acme.com", "bo@acme.com", "bo@acme.com")
    assert isinstance(row["reviewed_at"], str) and row["reviewed_at"][:2] == "20"
