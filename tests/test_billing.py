"""One rule decides "possibly billed", and spend figures count it apart."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kling.billing import possibly_billed
from kling.models import estimate_cost
from kling.errors import (GenerationFailedError, MalformedResponseError, OutcomeUnknownError,
                          UnreadableResultError)
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult
from scripted_server import success_body

from tests.conftest import ROOT

PRICE = 0.28


@pytest.mark.parametrize("status, error_type, billed", [
    ("succeeded", None, False),
    ("failed", "generation_failed", False),
    ("failed", "outcome_unknown", True),
    ("interrupted", None, True),
    ("pending", None, False),
])
def test_the_rule(status, error_type, billed):
    assert possibly_billed(status, error_type) is billed


def test_an_unreadable_success_is_an_unknown_outcome_for_every_reader():
    err = UnreadableResultError()
    assert isinstance(err, OutcomeUnknownError) and isinstance(err, MalformedResponseError)
    assert possibly_billed("failed", err.kind)


def test_one_price_function_rounds_to_the_cent():
    assert estimate_cost("5", PRICE) == 1.4
    assert estimate_cost(10, PRICE, takes=3) == 8.4
    assert estimate_cost("", PRICE) is None


def test_spend_is_confirmed_only_and_possibly_billed_is_counted_apart(tmp_path):
    data = tmp_path / "data"
    log = HistoryLog(data, price_per_second=PRICE)
    ok = log.record_pending(GenerationRequest.create("a calm lake, drone shot", "10"))
    log.record_success(ok, GenerationResult.parse(success_body()), elapsed_s=3.0)
    failed = log.record_pending(GenerationRequest.create("a storm", "5"))
    log.record_failure(failed, GenerationFailedError(), elapsed_s=3.0)
    unknown = log.record_pending(GenerationRequest.create("a desert", "5"))
    log.record_failure(unknown, OutcomeUnknownError(), elapsed_s=900.0)
    code = ("import sys; from kling.history import HistoryLog; "
            "from kling.models import GenerationRequest as R; "
            "HistoryLog(sys.argv[1]).record_pending(R.create('fireworks', '10'))")
    subprocess.run([sys.executable, "-c", code, str(data)], cwd=ROOT, check=True)

    frame = HistoryLog(data, price_per_second=PRICE).load()
    assert sorted(frame["status"]) == ["failed", "failed", "interrupted", "succeeded"]
    stats = HistoryLog(data, price_per_second=PRICE).stats()
    assert stats.spend_total == stats.spend_this_month == 2.8  # the 10 s success only
    assert stats.possibly_billed == 2
    assert stats.possibly_billed_usd == 4.2  # 5 s unknown + 10 s interrupted
    assert stats.per_month["possibly_billed"].sum() == pytest.approx(4.2)


def test_the_terminal_statistics_show_possibly_billed_apart(tmp_path):
    from kling.cli import format_stats

    log = HistoryLog(tmp_path / "data", price_per_second=PRICE)
    unknown = log.record_pending(GenerationRequest.create("a desert", "10"))
    log.record_failure(unknown, OutcomeUnknownError(), elapsed_s=900.0)
    text = format_stats(log.stats())
    assert "Estimated spend:    $0.00 in all" in text
    assert "Possibly billed:    $2.80 for 1 generation(s)" in text
    assert "(+ $2.80 possibly billed)" in text
