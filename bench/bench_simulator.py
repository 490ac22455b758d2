"""How fast the simulator renders its videos, beside the latency it simulates.

The render counts toward the simulated latency (3-6 s by default), so as long as a clip
renders well inside the latency's lower bound, demo mode feels like the real service and
the test suite stays fast. Goal from issue 3: under 1 s of CPU per 5 s clip.
`python -m bench.bench_simulator` prints the figures.
"""

from __future__ import annotations

import time

from bench.common import Figure, table
from kling.render import render_video
from kling.simulator.config import SimulatorConfig

PROMPT = "Waves crashing on a rocky shore at sunset, slow drone shot, golden light"
REPEAT = 3


def _best(duration: str, aspect_ratio: str) -> tuple[float, float]:
    """Smallest (CPU seconds, wall seconds) of REPEAT renders, each of a new seed."""
    cpu, wall = [], []
    for seed in range(REPEAT):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        render_video(PROMPT, seed, duration, aspect_ratio)
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return min(cpu), min(wall)


def run() -> list[Figure]:
    """CPU and wall time of a 5 s 16:9 render and CPU of a 10 s 9:16 render."""
    latency_low = SimulatorConfig().latency[0]
    baseline_name = "default simulated latency (low)"
    render_video(PROMPT, 0, 1, "16:9")  # warm-up: imports, font, encoder setup
    cpu_5, wall_5 = _best("5", "16:9")
    cpu_10, _ = _best("10", "9:16")
    return [
        Figure("simulator", "CPU to render a 5 s 16:9 clip", cpu_5, "s", baseline_name,
               latency_low, "value < 1 s CPU per 5 s clip", cpu_5 < 1.0),
        Figure("simulator", "wall time to render a 5 s 16:9 clip", wall_5, "s", baseline_name,
               latency_low, "value < 1 s (well inside the latency)", wall_5 < 1.0),
        Figure("simulator", "CPU to render a 10 s 9:16 clip", cpu_10, "s", baseline_name,
               latency_low, "value < 2 s CPU per 10 s clip", cpu_10 < 2.0),
    ]


if __name__ == "__main__":
    print(table(run()))
