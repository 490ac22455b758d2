"""Shared fixtures: every test gets its own data directory and a fast demo simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: AppTest resolves relative paths against the calling test file, so pass this one.
APP = str(ROOT / "app.py")


@pytest.fixture
def studio_env(tmp_path, monkeypatch) -> Path:
    """Demo mode (no key), a fresh data directory, near-instant simulated latency.

    Returns the data directory. Pages built by AppTest read these settings.
    """
    for name in ("FIREMOON_API_KEY", "FIREMOON_BASE_URL", "KLING_MAX_CONCURRENCY",
                 "KLING_SIM_FAILURE_RATE", "KLING_SIM_FAIL_FIRST", "KLING_SIM_FORCE_STATUS",
                 "KLING_SIM_API_KEY", "KLING_SIM_RATE_LIMIT", "KLING_SIM_BALANCE",
                 "KLING_SIM_VIDEO_DIR"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("KLING_STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KLING_SIM_LATENCY", "0")
    monkeypatch.chdir(ROOT)
    return data_dir
