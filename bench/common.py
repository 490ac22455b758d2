"""What every benchmark reports: a figure, its baseline from the same run, and a goal.

A benchmark module `bench/bench_<area>.py` exposes `run() -> list[Figure]`. Figures are
ratios against a baseline measured in the same process and run, so they compare across
machines; absolute values are shown beside them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Figure:
    """One measured figure.

    `ratio` is value / baseline_value. `goal` is the target in words (e.g. "ratio <= 1.2"
    or "value < 1.5 s"); `met` says whether this run reached it.
    """

    area: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    goal: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Smallest wall time of `repeat` calls, in seconds: the least disturbed measurement."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _format_value(value: float, unit: str) -> str:
    if unit == "s" and value < 0.1:
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.1f} {unit}"


def table(figures: list[Figure]) -> str:
    """The figures as the Markdown table that `make bench` writes and the README shows."""
    lines = [
        "| area | figure | value | baseline | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f.area} | {f.name} | {_format_value(f.value, f.unit)} | "
            f"{f.baseline_name}: {_format_value(f.baseline_value, f.unit)} | "
            f"{f.ratio:.2f} | {f.goal} | {'yes' if f.met else '**no**'} |"
        )
    return "\n".join(lines)
