"""No test ever reaches a configured account (the trust issue, item 1).

A machine whose secrets file holds a Firemoon key and a base URL is simulated by a planted
`.streamlit/secrets.toml` pointing at a scripted loopback server. The ways tests start
the studio (in process through AppTest, and as child processes) must send it nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from isolation import KeyVisible, check_no_outside_key, isolated_environ
from kling.settings import SECRETS_FILE_SETTING, Settings
from scripted_server import Reply, ScriptedServer

from tests.conftest import APP, ROOT

PLANTED_KEY = "fm_live_planted-account-key-2718"


@pytest.fixture
def account():
    """A scripted stand-in for the real API: any request to it would be billed."""
    with ScriptedServer(default=Reply.ok()) as server:
        yield server


@pytest.fixture
def planted(tmp_path, account) -> Path:
    """A folder whose `.streamlit/secrets.toml` holds a key and points at `account`."""
    folder = tmp_path / "checkout"
    (folder / ".streamlit").mkdir(parents=True)
    (folder / ".streamlit" / "secrets.toml").write_text(
        f'FIREMOON_API_KEY = "{PLANTED_KEY}"\nFIREMOON_BASE_URL = "{account.url}"\n')
    return folder


def test_the_planted_file_would_be_read_without_the_isolation(planted):
    """The scenario is real: without KLING_SECRETS_FILE the default file is used."""
    env = {"KLING_SECRETS_FILE": str(planted / ".streamlit" / "secrets.toml")}
    assert Settings.load(env).api_key == PLANTED_KEY
    with pytest.raises(KeyVisible):
        check_no_outside_key(env)


def test_a_page_test_run_in_that_folder_sends_nothing_there(studio_env, planted, account,
                                                            monkeypatch):
    monkeypatch.chdir(planted)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_area(key="gen_prompt").input("A paper boat on a rain puddle, macro shot").run()
    at.button(key="generate").click().run()
    assert not at.exception
    assert "Demo mode" in " ".join(str(e.value) for e in at.sidebar.info)
    assert Settings.load().demo
    assert account.requests == []


def test_child_processes_started_there_send_nothing(planted, account, tmp_path):
    env = isolated_environ(KLING_STUDIO_DATA_DIR=str(tmp_path / "data"),
                           KLING_SIM_LATENCY="0", PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-m", "kling", "generate", "--prompt", "A kite over dunes"],
        cwd=planted, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Demo mode" in run.stderr
    assert account.requests == []


def test_the_run_strips_outside_settings_and_uses_an_empty_secrets_file():
    assert not any(name.startswith("FIREMOON_") for name in os.environ)
    secrets = Path(os.environ[SECRETS_FILE_SETTING])
    assert secrets.read_text() == ""
    assert Settings.load().demo


def test_a_key_a_test_did_not_set_stops_the_guard(monkeypatch, tmp_path):
    monkeypatch.setenv("FIREMOON_API_KEY", PLANTED_KEY)
    with pytest.raises(KeyVisible, match="did not set itself"):
        check_no_outside_key(os.environ)
    # A child environment never inherits it; a key the test chooses is allowed.
    assert "FIREMOON_API_KEY" not in isolated_environ()
    assert isolated_environ(FIREMOON_API_KEY="fm_test_own")["FIREMOON_API_KEY"] == "fm_test_own"


def test_streamlit_servers_started_there_read_only_the_tests_secrets_file(planted):
    """`streamlit run` would read `./.streamlit/secrets.toml` of its own accord, put its
    values in the server's environment and take sign-in from it."""
    env = isolated_environ()
    run = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=planted,
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    listed = run.stdout.split("\nfiles = [", 1)[1].split("]", 1)[0]
    assert [line.strip(' ",') for line in listed.strip().splitlines()] == [
        env[SECRETS_FILE_SETTING]]
    from streamlit import config

    assert config.get_option("secrets.files") == [os.environ[SECRETS_FILE_SETTING]]
