"""How a simulator behaves, fixed when it starts: from arguments, settings or the environment.

The latency, prices, limits and faults of `SimulatorConfig` are what demo mode and the
tests tune; everything else about the simulator follows the documented contract.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..settings import Settings, parse_latency, parse_number, parse_whole

__all__ = ["SimulatorConfig"]


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves; fixed when it starts.

    `api_key` None accepts any non-empty Bearer token. `latency` is the (low, high) range
    in seconds of a 5 s video; a 10 s video takes twice as long. `random_seed` makes the
    random seeds and injected failures reproducible. `video_dir` None renders into a
    temporary directory removed at `stop()`. `rate_window_s` is the length of a rate
    window (a minute, as documented; shorter only to test resets quickly). The latency
    and the price default to the studio's (`kling.settings.SETTINGS`).
    """

    api_key: str | None = field(default=None, repr=False)
    latency: tuple[float, float] = Settings.sim_latency
    rate_limit_per_minute: int = 60
    starting_balance: float = 1000.0
    price_per_second: float = Settings.price_per_second
    failure_rate: float = 0.0
    fail_first: int = 0
    force_status: int | None = None
    video_dir: Path | None = None
    random_seed: int | None = None
    rate_window_s: float = 60.0

    def __post_init__(self) -> None:
        low, high = (float(x) for x in self.latency)
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high, "
                             f"not {self.latency!r}")
        object.__setattr__(self, "latency", (low, high))
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if not self.rate_window_s > 0:
            raise ValueError("rate_window_s must be positive")
        if not self.starting_balance >= 0 or not self.price_per_second >= 0:
            raise ValueError("starting_balance and price_per_second must not be negative")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if self.fail_first < 0:
            raise ValueError("fail_first must not be negative")
        if self.force_status is not None and not 400 <= self.force_status <= 599:
            raise ValueError("force_status must be an error status from 400 to 599")
        if self.video_dir is not None:
            object.__setattr__(self, "video_dir", Path(self.video_dir))
        if self.api_key is not None and not self.api_key.strip():
            object.__setattr__(self, "api_key", None)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        settings: Settings | None = None,
    ) -> "SimulatorConfig":
        """Read the configuration from the environment (`os.environ` by default).

        Variables: `KLING_SIM_LATENCY` (`"4"` or `"3-6"`), `KLING_PRICE_PER_SECOND`,
        `KLING_SIM_RATE_LIMIT`, `KLING_SIM_BALANCE`, `KLING_SIM_FAILURE_RATE` (0-1),
        `KLING_SIM_FAIL_FIRST`, `KLING_SIM_FORCE_STATUS` (400-599), `KLING_SIM_API_KEY`,
        `KLING_SIM_VIDEO_DIR`. When `settings` is given, its `sim_latency` and
        `price_per_second` are used instead of the first two, so values from
        `.streamlit/secrets.toml` count too. An unusable value raises `SettingsError` (a
        ValueError) naming the variable.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        if settings is not None:
            latency, price = settings.sim_latency, settings.price_per_second
        else:
            latency_text = get("KLING_SIM_LATENCY")
            latency = parse_latency(latency_text) if latency_text else cls.latency
            price_text = get("KLING_PRICE_PER_SECOND")
            price = (parse_number("KLING_PRICE_PER_SECOND", price_text, 0.0)
                     if price_text else cls.price_per_second)
        rate = get("KLING_SIM_RATE_LIMIT")
        balance = get("KLING_SIM_BALANCE")
        failure_rate = get("KLING_SIM_FAILURE_RATE")
        fail_first = get("KLING_SIM_FAIL_FIRST")
        force = get("KLING_SIM_FORCE_STATUS")
        video_dir = get("KLING_SIM_VIDEO_DIR")
        return cls(
            api_key=get("KLING_SIM_API_KEY"),
            latency=latency,
            rate_limit_per_minute=(parse_whole("KLING_SIM_RATE_LIMIT", rate, 1)
                                   if rate else cls.rate_limit_per_minute),
            starting_balance=(parse_number("KLING_SIM_BALANCE", balance, 0.0)
                              if balance else cls.starting_balance),
            price_per_second=price,
            failure_rate=(parse_number("KLING_SIM_FAILURE_RATE", failure_rate, 0.0, 1.0)
                          if failure_rate else cls.failure_rate),
            fail_first=parse_whole("KLING_SIM_FAIL_FIRST", fail_first, 0) if fail_first else 0,
            force_status=(parse_whole("KLING_SIM_FORCE_STATUS", force, 400, 599)
                          if force else None),
            video_dir=Path(video_dir) if video_dir else None,
        )
