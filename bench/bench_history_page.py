"""The History page rendered by AppTest with 100,000 generations, beside the same page
with 100, measured in the same process.

(a) first render: a new session opens History on a log nobody has read yet, so the
    figure includes the core's cold load (goal: under 3 s);
(b) a filter change: typing in **Search** and the rerun that follows (goal: under 1 s);
(c) the Analysis view of every generation, opened in a new session once the log has been
    read (goal: under 3 s);
(d) the process's peak memory after the large page (reported; bound 1.5 GB).

The logs are written in the core's own format by `bench.bench_history.write_synthetic_log`
(one write, not 100,000 appends). A throwaway render first starts the demo simulator and
imports everything, so neither size pays for that.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench.bench_history import write_synthetic_log
from bench.common import Figure, isolated_settings, table

ROOT = Path(__file__).resolve().parents[1]
LARGE, SMALL = 100_000, 100
PEAK_MEMORY_BOUND_MB = 1536


def _studio_env(data_dir: Path):
    """Demo mode on `data_dir`, as the studio reads its settings (no outside key)."""
    return isolated_settings(KLING_STUDIO_DATA_DIR=str(data_dir), KLING_SIM_LATENCY="0")


def timed_run(at: AppTest) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    return elapsed


def _measure(data_dir: Path, *, view: str | None = None) -> dict[str, float]:
    """A new session opens History on `data_dir` (then searches, in the Gallery).

    The session starts on Generate, whose sidebar reads the log; the log is then touched,
    so History finds it changed and reads it cold, like a log somebody just appended to.
    Given a `view`, History opens on it with the log already read.
    """
    with _studio_env(data_dir):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/history.py")
        if view:
            at.query_params["view"] = view
            return {"first": timed_run(at)}
        now = time.time_ns()
        os.utime(data_dir / "history.csv", ns=(now, now))
        first = timed_run(at)
        at.text_input(key="q").set_value("fox")
        search = timed_run(at)
        assert any("generations match" in m.value for m in at.markdown)
    return {"first": first, "search": search}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="kling-bench-page-") as tmp:
        root = Path(tmp)
        warm, small, large = root / "warm", root / "small", root / "large"
        for data_dir, count in ((warm, 10), (small, SMALL), (large, LARGE)):
            write_synthetic_log(data_dir, count, archived=True)
        _measure(warm)
        small_times = _measure(small)
        small_analysis = _measure(small, view="Analysis")["first"]
        small_peak = _peak_mb()
        large_times = _measure(large)
        large_analysis = _measure(large, view="Analysis")["first"]
        large_peak = _peak_mb()

    def figure(name: str, value: float, baseline: float, goal: str, met: bool,
               unit: str = "s") -> Figure:
        return Figure(area="history_page", name=name, value=value, unit=unit,
                      baseline_name=f"{SMALL} generations", baseline_value=baseline,
                      goal=goal, met=met)

    return [
        figure(f"first render, {LARGE:,} generations", large_times["first"],
               small_times["first"], "value < 3 s", large_times["first"] < 3.0),
        figure(f"search and rerun, {LARGE:,} generations", large_times["search"],
               small_times["search"], "value < 1 s", large_times["search"] < 1.0),
        figure(f"Analysis view, {LARGE:,} generations", large_analysis, small_analysis,
               "value < 3 s", large_analysis < 3.0),
        figure(f"peak memory after {LARGE:,} generations", large_peak, small_peak,
               f"value < {PEAK_MEMORY_BOUND_MB} MB", large_peak < PEAK_MEMORY_BOUND_MB,
               unit="MB"),
    ]


if __name__ == "__main__":
    print(table(run()))
