"""Statistics: counts, timings, per day and month, templates; confirmed spend apart from
possibly billed."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kling.errors import InsufficientCreditsError, OutcomeUnknownError
from kling.history import HistoryLog, HistoryQuery, template_stats

from .support import OLD_COLUMNS, request, write_log


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


def test_template_stats_alone(filled):
    table = template_stats(filled.load())
    assert list(table.columns) == ["template_id", "uses", "success_rate", "avg_rating",
                                   "last_used"]
    assert table.set_index("template_id").loc["tpl-b", "avg_rating"] == 3
