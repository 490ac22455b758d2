"""Studio settings: environment first, then `.streamlit/secrets.toml`, then defaults.

One frozen `Settings` object describes where the API is, where data lives and how the
simulator and the queue behave. The API key is kept out of `repr` so that printing or
logging the settings can never leak it.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE_URL = "https://firemoon.studio"
MODEL_PATH = "/api/v1/kling/kling-2-1-master"
CREDITS_PATH = "/api/credits/balance"

SETTING_NAMES = (
    "FIREMOON_API_KEY",
    "FIREMOON_BASE_URL",
    "KLING_STUDIO_DATA_DIR",
    "KLING_SIM_LATENCY",
    "KLING_MAX_CONCURRENCY",
    "KLING_PRICE_PER_SECOND",
)


class SettingsError(ValueError):
    """A setting has a value the studio cannot use; the message names it and says why."""


def parse_latency(text: str) -> tuple[float, float]:
    """Parse `KLING_SIM_LATENCY`: a number of seconds (`"2"`) or a range (`"3-6"`)."""
    raw = str(text).strip()
    parts = raw.split("-") if "-" in raw[1:] else [raw]
    try:
        low, high = (float(parts[0]), float(parts[-1]))
    except ValueError:
        raise SettingsError(
            f"KLING_SIM_LATENCY must be seconds like '4' or a range like '3-6', not {raw!r}"
        ) from None
    if len(parts) > 2 or low < 0 or high < low:
        raise SettingsError(
            f"KLING_SIM_LATENCY must be seconds like '4' or a range like '3-6', not {raw!r}"
        )
    return low, high


def parse_whole(name: str, text: str, low: int, high: int | None = None) -> int:
    """A whole-number setting within bounds; `SettingsError` naming `name` otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingsError(f"{name} must be a whole number {bounds}, not {text!r}")
    return value


def parse_number(name: str, text: str, low: float, high: float | None = None) -> float:
    """A finite numeric setting within bounds; `SettingsError` naming `name` otherwise."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        raise SettingsError(f"{name} must be a number {bounds}, not {text!r}")
    return value


def read_secrets_file(path: Path) -> dict[str, str]:
    """Top-level string-able values of a secrets TOML file; a missing file is empty."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the studio. Build it with `Settings.load()`."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    data_dir: Path = Path("data")
    sim_latency: tuple[float, float] = (3.0, 6.0)
    max_concurrency: int = 4
    price_per_second: float = 0.28

    @property
    def demo(self) -> bool:
        """True when no key is configured: the studio runs against its simulator."""
        return not self.api_key

    @classmethod
    def load(
        cls,
        environ: dict[str, str] | None = None,
        secrets_path: Path | None = None,
    ) -> "Settings":
        """Read the settings: environment, then secrets file, then defaults."""
        env = os.environ if environ is None else environ
        secrets = read_secrets_file(secrets_path or Path(".streamlit") / "secrets.toml")

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or value.strip() == "":
                value = secrets.get(name)
            return None if value is None or str(value).strip() == "" else str(value).strip()

        base_url = (get("FIREMOON_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"FIREMOON_BASE_URL must start with http:// or https://, not {base_url!r}"
            )
        latency = get("KLING_SIM_LATENCY")
        concurrency = get("KLING_MAX_CONCURRENCY")
        price = get("KLING_PRICE_PER_SECOND")
        return cls(
            api_key=get("FIREMOON_API_KEY"),
            base_url=base_url,
            data_dir=Path(get("KLING_STUDIO_DATA_DIR") or "data"),
            sim_latency=parse_latency(latency) if latency else (3.0, 6.0),
            max_concurrency=(
                parse_whole("KLING_MAX_CONCURRENCY", concurrency, 1) if concurrency else 4
            ),
            price_per_second=(
                parse_number("KLING_PRICE_PER_SECOND", price, 0.0) if price else 0.28
            ),
        )

    def estimate_cost(self, seconds: float, takes: int = 1) -> float:
        """USD estimate for `takes` videos of `seconds` each (billing is per output second)."""
        return round(seconds * takes * self.price_per_second, 2)
