"""`SimulatorConfig` from arguments, settings and the environment."""

from __future__ import annotations

import pytest

from kling.settings import Settings, SettingsError
from kling.simulator.config import SimulatorConfig


def test_config_from_env_reads_every_variable(tmp_path):
    config = SimulatorConfig.from_env({
        "KLING_SIM_LATENCY": "1-2", "KLING_PRICE_PER_SECOND": "0.5",
        "KLING_SIM_RATE_LIMIT": "10", "KLING_SIM_BALANCE": "25",
        "KLING_SIM_FAILURE_RATE": "0.25", "KLING_SIM_FAIL_FIRST": "2",
        "KLING_SIM_FORCE_STATUS": "503", "KLING_SIM_API_KEY": "k",
        "KLING_SIM_VIDEO_DIR": str(tmp_path),
    })
    assert config == SimulatorConfig(
        api_key="k", latency=(1.0, 2.0), rate_limit_per_minute=10, starting_balance=25.0,
        price_per_second=0.5, failure_rate=0.25, fail_first=2, force_status=503,
        video_dir=tmp_path)
    assert "'k'" not in repr(config)
    assert SimulatorConfig.from_env({}) == SimulatorConfig()


def test_config_from_settings_uses_their_latency_and_price():
    settings = Settings(sim_latency=(0.5, 0.5), price_per_second=1.0)
    config = SimulatorConfig.from_env({"KLING_SIM_LATENCY": "9"}, settings=settings)
    assert (config.latency, config.price_per_second) == ((0.5, 0.5), 1.0)


@pytest.mark.parametrize("name, value", [
    ("KLING_SIM_LATENCY", "fast"), ("KLING_SIM_LATENCY", "6-3"),
    ("KLING_PRICE_PER_SECOND", "-1"), ("KLING_SIM_RATE_LIMIT", "0"),
    ("KLING_SIM_RATE_LIMIT", "ten"), ("KLING_SIM_BALANCE", "lots"),
    ("KLING_SIM_FAILURE_RATE", "1.5"), ("KLING_SIM_FAILURE_RATE", "nan"),
    ("KLING_SIM_FAIL_FIRST", "-1"), ("KLING_SIM_FORCE_STATUS", "200"),
    ("KLING_SIM_FORCE_STATUS", "oops"),
])
def test_config_from_env_names_the_bad_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        SimulatorConfig.from_env({name: value})
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("overrides", [
    {"latency": (2.0, 1.0)}, {"rate_limit_per_minute": 0}, {"failure_rate": -0.1},
    {"fail_first": -1}, {"force_status": 302}, {"starting_balance": -5},
])
def test_config_refuses_impossible_values(overrides):
    with pytest.raises(ValueError):
        SimulatorConfig(**overrides)
