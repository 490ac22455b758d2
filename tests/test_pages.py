"""Every page of the studio renders in demo mode without an exception, on the data
folder and on a team database alike."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from page_text import plain

from tests.conftest import APP

PAGES = ["pages/generate.py", "pages/storyboard.py", "pages/templates.py", "pages/history.py"]


@pytest.fixture(params=["files", "postgres"])
def backend(request, monkeypatch) -> str:
    """Where the studio keeps its state: the data folder, or a team database."""
    if request.param == "postgres":
        monkeypatch.setenv("KLING_DATABASE_URL", request.getfixturevalue("upgraded"))
    return request.param


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_demo_mode(studio_env, backend, page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar_text = " ".join(str(getattr(e, "value", "")) for e in at.sidebar.info)
    assert "Demo mode" in sidebar_text


def test_a_rejected_key_is_said_plainly_in_the_sidebar(studio_env, monkeypatch):
    from kling.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(api_key="the-right-key", latency=(0, 0))).start() as sim:
        monkeypatch.setenv("FIREMOON_API_KEY", "a-wrong-key-123")
        monkeypatch.setenv("FIREMOON_BASE_URL", sim.url)
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception
        errors = " ".join(e.value for e in at.sidebar.error)
        assert "API key not accepted" in errors
        assert "a-wrong-key-123" not in str(at._tree)


@pytest.mark.parametrize("env, expected", [
    ({"KLING_SIM_FAILURE_RATE": "abc"}, "KLING_SIM_FAILURE_RATE"),
    ({"KLING_MAX_CONCURRENCY": "0"}, "KLING_MAX_CONCURRENCY"),
    ({"FIREMOON_BASE_URL": "firemoon.studio"}, "FIREMOON_BASE_URL"),
])
def test_an_unusable_setting_is_explained_not_crashed(studio_env, monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert expected in plain(" ".join(e.value for e in at.error))


@pytest.mark.parametrize("page", PAGES)
def test_pages_survive_damaged_data_files(studio_env, page):
    studio_env.mkdir(parents=True)
    (studio_env / "history.csv").write_text('id,created_at,status,prompt\n"oops,\n')
    (studio_env / "annotations.csv").write_text("\n")
    (studio_env / "templates.json").write_text("{oops")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
