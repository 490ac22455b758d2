"""Fixtures of the simulator tests: simulators with instant latency sharing one render
cache, all stopped after each test."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from kling.simulator.config import SimulatorConfig
from kling.simulator.server import Simulator


@pytest.fixture(scope="package")
def video_cache(tmp_path_factory) -> Path:
    """One render cache for every simulator here, so each clip is rendered once."""
    return tmp_path_factory.mktemp("videos")


@pytest.fixture
def make_sim(video_cache) -> Iterator[Callable[..., Simulator]]:
    """Start simulators with config overrides (instant latency); all stopped afterwards."""
    started: list[Simulator] = []

    def make(**overrides) -> Simulator:
        overrides.setdefault("latency", (0.0, 0.0))
        overrides.setdefault("video_dir", video_cache)
        simulator = Simulator(SimulatorConfig(**overrides)).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim) -> Simulator:
    return make_sim()
