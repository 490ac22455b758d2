"""Settings: one table, read in one order, documented in README as it is in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kling.settings import SECRETS_FILE_SETTING, SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_documents_every_setting():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), re.M))
    assert {s.name for s in SETTINGS} | {SECRETS_FILE_SETTING} <= documented


def test_defaults_come_from_the_one_table():
    loaded = Settings.load({})
    for setting in SETTINGS:
        assert getattr(loaded, setting.attribute) == setting.default
    assert loaded == Settings()


def test_environment_wins_over_the_secrets_file_it_names(tmp_path):
    secrets = tmp_path / "s.toml"
    secrets.write_text('KLING_GENERATION_TIMEOUT = "60"\nKLING_MAX_CONCURRENCY = 3\n')
    env = {SECRETS_FILE_SETTING: str(secrets), "KLING_MAX_CONCURRENCY": "7"}
    loaded = Settings.load(env)
    assert (loaded.generation_timeout, loaded.max_concurrency) == (60.0, 7)


@pytest.mark.parametrize("name, value", [
    ("KLING_GENERATION_TIMEOUT", "0"), ("KLING_GENERATION_TIMEOUT", "nan"),
    ("KLING_MAX_CONCURRENCY", "9" * 5000), ("KLING_PRICE_PER_SECOND", "1" * 5000),
    ("KLING_SIM_LATENCY", "inf"), ("FIREMOON_BASE_URL", "ftp://x"),
])
def test_an_unusable_value_names_the_setting_briefly(name, value):
    with pytest.raises(SettingsError, match=name) as info:
        Settings.load({name: value})
    assert len(str(info.value)) < 200


def test_the_generation_call_waits_as_long_as_the_setting_says():
    from kling.client import KlingClient
    from kling.errors import OutcomeUnknownError
    from scripted_server import Reply, ScriptedServer, success_body

    slow = Reply(200, success_body(), delay=1.5)
    with ScriptedServer([Reply(200, success_body(), delay=0.5), slow]) as server:
        settings = Settings(api_key="k", base_url=server.url, generation_timeout=1.0)
        with KlingClient(settings=settings) as client:
            assert client.generate(prompt="a cat").seed == 42
            with pytest.raises(OutcomeUnknownError, match="within 1 seconds"):
                client.generate(prompt="a cat")
