"""How long a generation is expected to take, and what to say while it runs.

Firemoon's page says 10-30 s, but hosts of the same Kling 2.1 Master model report
60-120 s and up to 5-6 minutes for a 5 s clip and 11-14 minutes for a 10 s clip. So the
studio expects what it has itself measured (median and 90th percentile of past
`inference_s` for that duration, once there are `MIN_SAMPLES` of them) and otherwise the
hosts' reports in `DEFAULT_EXPECTATIONS`. Past the expectation nothing pretends to be
nearly done: the job card says plainly that it is taking longer than usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

#: Measured times are trusted once this many videos of a duration have been made.
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Expectation:
    """Typical (median) and long (90th percentile) seconds for one duration."""

    typical_s: float
    long_s: float
    samples: int = 0

    @property
    def measured(self) -> bool:
        return self.samples >= MIN_SAMPLES


#: Without enough measurements: what hosts of the model report (see the module docstring).
DEFAULT_EXPECTATIONS: Mapping[str, Expectation] = {
    "5": Expectation(typical_s=120.0, long_s=360.0),
    "10": Expectation(typical_s=300.0, long_s=840.0),
}


def measured_expectations(durations: pd.Series, inference_s: pd.Series) -> dict[str, Expectation]:
    """Per duration with at least `MIN_SAMPLES` times: median and 90th percentile."""
    frame = pd.DataFrame({"duration": durations.astype(str), "s": inference_s}).dropna()
    found = {}
    for duration, times in frame.groupby("duration")["s"]:
        if len(times) >= MIN_SAMPLES:
            found[str(duration)] = Expectation(float(times.quantile(0.5)),
                                               float(times.quantile(0.9)), len(times))
    return found


def expectation(measured: Mapping[str, Expectation], duration: str) -> Expectation:
    """What to expect for a clip of `duration` seconds: measured if possible."""
    return measured.get(str(duration)) or DEFAULT_EXPECTATIONS.get(
        str(duration), DEFAULT_EXPECTATIONS["10"])


def span(seconds: float) -> str:
    """`seconds` the way a person says it: "45 s", "4 min", "1 min 30 s"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{minutes} min"


@dataclass(frozen=True)
class Progress:
    """What a running job's card shows: a bar (`fraction`) or, past the expectation, none."""

    fraction: float | None
    text: str
    overdue: bool


def progress(running_s: float, expected: Expectation) -> Progress:
    """The card's progress after `running_s` seconds of generating."""
    source = (f"measured from {expected.samples} videos" if expected.measured
              else "as reported for this model")
    if running_s <= expected.long_s:
        return Progress(
            fraction=min(running_s / expected.long_s, 1.0),
            text=(f"{span(running_s)} so far · usually {span(expected.typical_s)}, "
                  f"up to {span(expected.long_s)} ({source})"),
            overdue=False)
    return Progress(
        fraction=None,
        text=(f"Taking longer than usual: {span(running_s)} so far (usually "
              f"{span(expected.typical_s)}). Firemoon may still deliver it; the studio "
              "keeps waiting."),
        overdue=True)
