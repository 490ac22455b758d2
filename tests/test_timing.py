"""What a job card expects and says while a generation runs (`kling.timing`)."""

from __future__ import annotations

import pandas as pd

from kling.timing import (DEFAULT_EXPECTATIONS, MIN_SAMPLES, Expectation, expectation,
                          measured_expectations, progress, span)


def test_without_enough_measurements_the_reported_times_are_expected():
    measured = measured_expectations(pd.Series(["5"] * (MIN_SAMPLES - 1)),
                                     pd.Series([4.0] * (MIN_SAMPLES - 1)))
    assert measured == {}
    assert expectation(measured, "5") == DEFAULT_EXPECTATIONS["5"]
    assert expectation(measured, "10").long_s >= 11 * 60  # hosts report 11-14 minutes


def test_measured_times_are_median_and_90th_percentile_per_duration():
    durations = pd.Series(["5"] * 10 + ["10"] * 3)
    times = pd.Series([float(n) for n in range(1, 11)] + [50.0, 60.0, 70.0])
    measured = measured_expectations(durations, times)
    assert set(measured) == {"5"}
    assert measured["5"].typical_s == 5.5 and 9.0 <= measured["5"].long_s <= 10.0
    assert measured["5"].measured and "measured from 10 videos" in progress(1, measured["5"]).text


def test_the_bar_moves_until_the_expectation_then_says_so_plainly():
    expected = Expectation(typical_s=60, long_s=120)
    early, late = progress(30, expected), progress(240, expected)
    assert early.fraction == 0.25 and not early.overdue
    assert late.fraction is None and late.overdue
    assert late.text.startswith("Taking longer than usual: 4 min so far")


def test_spans_read_like_speech():
    assert [span(s) for s in (0, 45, 90, 240, 725)] == [
        "0 s", "45 s", "1 min 30 s", "4 min", "12 min"]
