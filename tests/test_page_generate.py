"""The Generate page through AppTest: validation, submission, results, hand-over."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import APP

from kling.history import HistoryLog


def generate_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def wait_for(at: AppTest, predicate, timeout: float = 30.0) -> AppTest:
    """Rerun the page (as the refreshing panel would) until `predicate(at)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
        if predicate(at):
            return at
    raise AssertionError("the page never reached the expected state")


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_empty_prompt_is_named_and_nothing_is_sent(studio_env):
    at = generate_page()
    at.button(key="generate").click().run()
    assert not at.exception
    assert "Prompt" in errors(at) and "required" in errors(at)
    assert HistoryLog(studio_env).load().empty


def test_submission_creates_jobs_and_videos_appear(studio_env):
    at = generate_page()
    at.text_area(key="gen_prompt").input(
        "Waves crashing on black sand, slow drone shot, golden hour").run()
    at.slider(key="gen_takes").set_value(2).run()
    assert "$2.80" in " ".join(m.value for m in at.metric)
    at.button(key="generate").click().run()
    assert not at.exception
    log = HistoryLog(studio_env).load()
    assert len(log) == 2  # written before the API answered
    wait_for(at, lambda a: len(a.get("video")) == 2)
    log = HistoryLog(studio_env).load()
    assert set(log["status"]) == {"succeeded"}
    assert all(str(p).endswith(".mp4") for p in log["video_path"])


def test_fixed_seed_variations_use_consecutive_seeds(studio_env):
    at = generate_page()
    at.text_area(key="gen_prompt").input("A kite rising over dunes, tracking shot, slow").run()
    at.number_input(key="gen_seed").set_value(41).run()
    at.slider(key="gen_takes").set_value(3).run()
    at.button(key="generate").click().run()
    seeds = sorted(HistoryLog(studio_env).load()["seed"].astype(int))
    assert seeds == [41, 42, 43]


def test_coach_gives_advice_as_the_prompt_changes(studio_env):
    at = generate_page()

    def advice() -> str:
        return " ".join(m.value for m in at.markdown)

    at.text_area(key="gen_prompt").input("A red car").run()
    assert "Prompt coach** · 1/4" in advice()
    assert advice().count("lightbulb") == 3
    at.text_area(key="gen_prompt").input(
        "A red car drifts around a bend, drone shot following, slow motion").run()
    assert "Prompt coach** · 4/4" in advice()
    assert "lightbulb" not in advice()
