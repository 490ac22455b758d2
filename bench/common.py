"""What every benchmark reports: a figure, its baseline from the same run, and a goal.

A benchmark module `bench/bench_<area>.py` exposes `run() -> list[Figure]`. Figures are
ratios against a baseline measured in the same process and run, so they compare across
machines; absolute values are shown beside them.

No benchmark may reach a configured Firemoon account: whatever loads the settings or
starts the studio runs under `isolated_settings()` (in this process) or with
`bench_environ()` (a child process): no `FIREMOON_*` / `KLING_*` variable from outside,
and `KLING_SECRETS_FILE` pointing at an empty file, so a key in the environment or in
`.streamlit/secrets.toml` is never read.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator


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


# -- keeping every benchmark away from a configured account --------------------------------

#: Prefixes of the variables a benchmark never inherits from the machine.
OUTSIDE_SETTINGS = ("FIREMOON_", "KLING_")
_EMPTY_SECRETS: list[str] = []


def _empty_secrets_file() -> str:
    """An empty secrets file of this process's own (made once, removed at exit)."""
    if not _EMPTY_SECRETS:
        handle, path = tempfile.mkstemp(prefix="kling-bench-secrets-", suffix=".toml")
        os.close(handle)
        atexit.register(lambda: Path(path).unlink(missing_ok=True))
        _EMPTY_SECRETS.append(path)
    return _EMPTY_SECRETS[0]


def bench_environ(**settings: str) -> dict[str, str]:
    """The environment a benchmark runs the studio with, in or out of process: the
    machine's, minus every `FIREMOON_*` / `KLING_*` variable, with `KLING_SECRETS_FILE`
    pointing at an empty file and `settings` on top. A developer's key (in the
    environment or in `.streamlit/secrets.toml`) is therefore never used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE_SETTINGS)}
    env["KLING_SECRETS_FILE"] = _empty_secrets_file()
    env.update(settings)
    return env


@contextmanager
def isolated_settings(**settings: str) -> Iterator[dict[str, str]]:
    """Run the block with `bench_environ(**settings)` as this process's environment
    (for benchmarks that load settings in process: clients, AppTest); restored after."""
    saved = dict(os.environ)
    env = bench_environ(**settings)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
