"""Run every benchmark and write `bench/results/latest.md`: `python -m bench [area ...]`.

Each figure is shown with its baseline from the same run, the ratio between them and the
goal, so results from different machines can be compared by their ratios.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

from bench.common import Figure, isolated_settings, table

AREAS = ("client", "simulator", "history", "jobs", "history_page", "load", "assembly",
         "team")
OUT = Path(__file__).resolve().parent / "results" / "latest.md"


def main(argv: list[str]) -> int:
    areas = argv or list(AREAS)
    figures: list[Figure] = []
    for area in areas:
        print(f"running bench_{area} …", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.bench_{area}")
        with isolated_settings():  # no benchmark ever sees a configured account
            figures.extend(module.run())
    header = (f"Benchmarks of {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
              f"Python {platform.python_version()}, {platform.system()}.\n\n")
    text = header + table(figures) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0 if all(f.met for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
