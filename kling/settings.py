"""Studio settings: environment first, then the secrets file, then defaults.

One frozen `Settings` object describes where the API is, where data lives and how the
simulator and the queue behave. `SETTINGS` is the one table of names, defaults and
meanings; `Settings.load()` reads it and README's settings table says the same.
The API key is kept out of `repr` so that printing or logging the settings can never
leak it.

The secrets file is found through `KLING_SECRETS_FILE` (default
`.streamlit/secrets.toml`), read from the environment only: a test points it at an
empty file of its own, so no test can ever pick up a configured account's key.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Callable, Mapping, NamedTuple

DEFAULT_BASE_URL = "https://firemoon.studio"
MODEL_PATH = "/api/v1/kling/kling-2-1-master"
CREDITS_PATH = "/api/credits/balance"
DEFAULT_SECRETS_FILE = Path(".streamlit") / "secrets.toml"


class SettingsError(ValueError):
    """A setting has a value the studio cannot use; the message names it and says why."""


def parse_latency(text: str) -> tuple[float, float]:
    """Parse `KLING_SIM_LATENCY`: a number of seconds (`"2"`) or a range (`"3-6"`)."""
    raw = str(text).strip()
    parts = raw.split("-") if "-" in raw[1:] else [raw]
    problem = f"KLING_SIM_LATENCY must be seconds like '4' or a range like '3-6', not {raw[:40]!r}"
    try:
        low, high = (float(parts[0]), float(parts[-1]))
    except ValueError:
        raise SettingsError(problem) from None
    if len(parts) > 2 or not (math.isfinite(low) and math.isfinite(high)) or low < 0 \
            or high < low:
        raise SettingsError(problem)
    return low, high


def parse_whole(name: str, text: str, low: int, high: int | None = None) -> int:
    """A whole-number setting within bounds; `SettingsError` naming `name` otherwise."""
    raw = str(text).strip()
    # int() of thousands of digits is slow and then refused by Python itself.
    value = int(raw) if len(raw) <= 18 and raw.lstrip("+-").isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingsError(f"{name} must be a whole number {bounds}, not {raw[:40]!r}")
    return value


def parse_number(name: str, text: str, low: float, high: float | None = None) -> float:
    """A finite numeric setting within bounds; `SettingsError` naming `name` otherwise."""
    raw = str(text).strip()
    try:
        value = float(raw) if len(raw) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        raise SettingsError(f"{name} must be a number {bounds}, not {raw[:40]!r}")
    return value


def check_base_url(text: str, name: str = "FIREMOON_BASE_URL") -> str:
    """An API root without its trailing slash; `SettingsError` naming `name` if it is not an
    http(s) address a connection can be opened to."""
    url = str(text).strip().rstrip("/")
    problem = SettingsError(f"{name} must be an http:// or https:// address such as "
                            f"https://firemoon.studio, not {url[:80]!r}")
    if len(url) > 2000 or not all("!" <= char <= "~" for char in url):
        raise problem
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError when it is not a number from 0 to 65535
    except ValueError:
        raise problem from None
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or not host or len(host) > 253 or any(
            not 0 < len(label) <= 63 for label in host.rstrip(".").split(".")):
        raise problem
    return url


def parse_switch(name: str, text: str) -> bool:
    """An on/off setting: true/false, yes/no, on/off or 1/0; `SettingsError` naming `name`."""
    raw = str(text).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {str(text)[:40]!r}")


def check_video_store(text: str) -> str:
    """`s3://bucket[/prefix]`, else `SettingsError` naming the setting."""
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?", text.strip()):
        raise SettingsError("KLING_VIDEO_STORE must look like s3://bucket/prefix (a bucket "
                            f"name in lower case), not {text[:60]!r}")
    return text.strip()


class Setting(NamedTuple):
    """One row of the settings table."""

    name: str
    attribute: str
    default: Any
    parse: Callable[[str], Any]
    meaning: str


#: Every setting the studio reads (environment, then secrets file, then `default`).
SETTINGS: tuple[Setting, ...] = (
    Setting("FIREMOON_API_KEY", "api_key", None, str,
            "Bearer key; unset means demo mode. Never written to disk, logs or pages"),
    Setting("FIREMOON_BASE_URL", "base_url", DEFAULT_BASE_URL, check_base_url,
            "API root; the model path is appended"),
    Setting("KLING_STUDIO_DATA_DIR", "data_dir", Path("data"), Path,
            "history log, template library, video archive"),
    Setting("KLING_SIM_LATENCY", "sim_latency", (3.0, 6.0), parse_latency,
            "simulator latency in seconds: a number or a range `a-b`"),
    Setting("KLING_MAX_CONCURRENCY", "max_concurrency", 4,
            lambda t: parse_whole("KLING_MAX_CONCURRENCY", t, 1),
            "generations in flight at once"),
    Setting("KLING_PRICE_PER_SECOND", "price_per_second", 0.28,
            lambda t: parse_number("KLING_PRICE_PER_SECOND", t, 0.0),
            "USD per second of output, for cost estimates"),
    Setting("KLING_GENERATION_TIMEOUT", "generation_timeout", 900.0,
            lambda t: parse_number("KLING_GENERATION_TIMEOUT", t, 1.0, 24 * 3600.0),
            "seconds to wait for one generation call (hosts report 1-14 min)"),
    Setting("KLING_DEFAULT_ROLE", "default_role", "viewer", lambda t: t.strip().lower(),
            "role of a signed-in person not listed under `[roles]`"),
    Setting("KLING_ALLOW_CLI_AS", "allow_cli_as", False,
            lambda t: parse_switch("KLING_ALLOW_CLI_AS", t),
            "lets `python -m kling ... --as EMAIL` act for that person (role, budget, name)"),
    Setting("KLING_DATABASE_URL", "database_url", None, str,
            "SQLAlchemy URL of the team's PostgreSQL (`python -m kling db upgrade`)"),
    Setting("KLING_VIDEO_STORE", "video_store", None, check_video_store,
            "`s3://bucket/prefix`: videos in an S3-compatible bucket (standard `AWS_*` "
            "settings); unset: the data folder"),
)
#: Read from the environment only, never from the file it names.
SECRETS_FILE_SETTING = "KLING_SECRETS_FILE"


def secrets_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where secrets are read from: `KLING_SECRETS_FILE`, else `.streamlit/secrets.toml`."""
    env = os.environ if environ is None else environ
    value = (env.get(SECRETS_FILE_SETTING) or "").strip()
    return Path(value) if value else DEFAULT_SECRETS_FILE


def read_secrets_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The whole secrets TOML file (tables included) and its text; a missing file is empty."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        return tomllib.loads(text), text
    except FileNotFoundError:
        return {}, ""
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read: {exc.strerror}") from None


def read_secrets_file(path: Path) -> dict[str, str]:
    """Top-level string-able values of a secrets TOML file; a missing file is empty."""
    data, _ = read_secrets_toml(path)
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


_DEFAULTS = {s.attribute: s.default for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the studio. Build it with `Settings.load()`."""

    api_key: str | None = field(default=_DEFAULTS["api_key"], repr=False)
    base_url: str = _DEFAULTS["base_url"]
    data_dir: Path = _DEFAULTS["data_dir"]
    sim_latency: tuple[float, float] = _DEFAULTS["sim_latency"]
    max_concurrency: int = _DEFAULTS["max_concurrency"]
    price_per_second: float = _DEFAULTS["price_per_second"]
    generation_timeout: float = _DEFAULTS["generation_timeout"]
    default_role: str = _DEFAULTS["default_role"]
    allow_cli_as: bool = _DEFAULTS["allow_cli_as"]
    #: Holds the database password: never shown (`kling.db.safe_url` masks it).
    database_url: str | None = field(default=_DEFAULTS["database_url"], repr=False)
    video_store: str | None = _DEFAULTS["video_store"]
    #: The secrets file these settings were read with (sign-in and roles are read from it).
    secrets_path: Path = DEFAULT_SECRETS_FILE

    @property
    def demo(self) -> bool:
        """True when no key is configured: the studio runs against its simulator."""
        return not self.api_key

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        secrets_path: Path | None = None,
    ) -> "Settings":
        """Read the settings: environment, then the secrets file, then defaults."""
        env = os.environ if environ is None else environ
        secrets_path = secrets_path or secrets_file(env)
        secrets = read_secrets_file(secrets_path)

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or value.strip() == "":
                value = secrets.get(name)
            return None if value is None or str(value).strip() == "" else str(value).strip()

        values = {}
        for setting in SETTINGS:
            text = get(setting.name)
            values[setting.attribute] = setting.default if text is None else setting.parse(text)
        return cls(**values, secrets_path=secrets_path)
