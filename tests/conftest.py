"""Shared fixtures: every test is isolated from any configured account, gets its own
data directory and a fast demo simulator; tests of the team store share a throwaway
PostgreSQL server.

`KLING_SECRETS_FILE` (`SECRETS_FILE_SETTING`) points every test, and every process a test
starts, at an empty secrets file of its own, so `.streamlit/secrets.toml` is never read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from streamlit import config as streamlit_config

from isolation import (
    STREAMLIT_SECRETS, KeyVisible, check_no_outside_key, without_outside_settings,
)
from kling.settings import SECRETS_FILE_SETTING
from kling.db.cluster import LocalCluster
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[1]
#: AppTest resolves relative paths against the calling test file, so pass this one.
APP = str(ROOT / "app.py")
_RUN_DIR = Path(tempfile.mkdtemp(prefix="kling-tests-"))
#: The run's own empty secrets file, for what starts before a test's own (module fixtures).
RUN_SECRETS = _RUN_DIR / "secrets.toml"


def pytest_configure(config: pytest.Config) -> None:
    # Before any test module is imported: nothing in this process, nor any process it
    # starts, inherits the machine's studio settings or reads the repo's secrets file.
    RUN_SECRETS.write_text("")
    for name in set(os.environ) - set(without_outside_settings(os.environ)):
        del os.environ[name]
    os.environ[SECRETS_FILE_SETTING] = str(RUN_SECRETS)
    os.environ[STREAMLIT_SECRETS] = str(RUN_SECRETS)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch) -> Path:
    """Each test: no outside `FIREMOON_*`/`KLING_*`, an empty secrets file of its own,
    and a run stopped at once if a key is visible all the same."""
    for name in set(os.environ) - set(without_outside_settings(os.environ)):
        monkeypatch.delenv(name)
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text("")
    monkeypatch.setenv(SECRETS_FILE_SETTING, str(secrets))
    monkeypatch.setenv(STREAMLIT_SECRETS, str(secrets))
    # AppTest's Streamlit runs in this process: it reads the test's file and no other.
    streamlit_config.set_option("secrets.files", [str(secrets)])
    try:
        check_no_outside_key(os.environ)
    except KeyVisible as exc:
        pytest.exit(str(exc), returncode=3)
    return secrets


@pytest.fixture
def studio_env(tmp_path, monkeypatch) -> Path:
    """Demo mode (no key), a fresh data directory, near-instant simulated latency.

    Returns the data directory. Pages built by AppTest read these settings.
    """
    data_dir = tmp_path / "data"
    monkeypatch.setenv("KLING_STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KLING_SIM_LATENCY", "0")
    monkeypatch.chdir(ROOT)
    return data_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalCluster]:
    """A throwaway PostgreSQL cluster for the whole run, started when a test first asks."""
    server = LocalCluster(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres: LocalCluster) -> str:
    """A new, empty database for one test."""
    return postgres.create_database()


@pytest.fixture(scope="session")
def schema_template(postgres: LocalCluster) -> str:
    """A database at this code's schema, upgraded once, that `upgraded` copies."""
    from kling import db

    engine = db.connect(postgres.create_database("kling_schema_template"))
    db.upgrade(engine)
    engine.dispose()
    return "kling_schema_template"


@pytest.fixture
def upgraded(postgres: LocalCluster, schema_template: str) -> str:
    """A new database at this code's schema, for one test; its URL."""
    return postgres.create_database(template=schema_template)
