"""The Generate page through AppTest: validation, submission, results, hand-over."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import APP

from kling.history import HistoryLog
from kling.models import MAX_PROMPT_CHARS, GenerationRequest, GenerationResult
from kling.timing import MIN_SAMPLES
from page_text import plain
from scripted_server import success_body


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


def _fill_and_generate(at: AppTest, prompt: str = "A lighthouse in a storm, slow push-in") -> None:
    at.text_area(key="gen_prompt").input(prompt).run()
    at.button(key="generate").click().run()
    assert not at.exception


def test_a_call_that_times_out_is_possibly_billed_and_a_retry_names_the_cost(
        studio_env, monkeypatch):
    monkeypatch.setenv("KLING_SIM_LATENCY", "3")
    monkeypatch.setenv("KLING_GENERATION_TIMEOUT", "1")
    at = generate_page()
    _fill_and_generate(at)
    wait_for(at, lambda a: "possibly billed" in " ".join(m.value for m in a.markdown))
    assert "before retrying" in plain(errors(at))
    row = HistoryLog(studio_env).load().iloc[0]
    assert row["status"] == "failed" and row["error_type"] == "outcome_unknown"

    at.button(key=f"retry-{row['id']}").click().run()
    assert len(HistoryLog(studio_env).load()) == 1  # nothing sent before confirming
    warning = " ".join(w.value for w in at.warning)
    assert "possibly billed" in warning and "$1.40" in warning
    confirm = at.button(key=f"retry-yes-{row['id']}")
    assert "$1.40" in confirm.label
    confirm.click().run()
    assert not at.exception
    assert len(HistoryLog(studio_env).load()) == 2  # sent again, as a new generation


def test_a_slow_generation_says_it_is_taking_longer_than_usual(studio_env, monkeypatch):
    history = HistoryLog(studio_env)
    for n in range(MIN_SAMPLES):
        gen_id = history.record_pending(GenerationRequest.create(f"clip {n}", "5"))
        history.record_success(gen_id, GenerationResult.parse(success_body(inference=0.2)),
                               elapsed_s=0.3)
    monkeypatch.setenv("KLING_SIM_LATENCY", "4")
    at = generate_page()
    _fill_and_generate(at)
    wait_for(at, lambda a: "Taking longer than usual" in " ".join(c.value for c in a.caption))
    assert not [p for p in at.get("progress")], "no bar pretends to be nearly done"


def test_a_pasted_prompt_over_the_limit_is_kept_and_measured(studio_env):
    at = generate_page()
    at.text_area(key="gen_prompt").input("a" * (MAX_PROMPT_CHARS + 120)).run()
    assert at.text_area(key="gen_prompt").value == "a" * (MAX_PROMPT_CHARS + 120)
    assert "120 over the limit" in errors(at)
    at.button(key="generate").click().run()
    assert HistoryLog(studio_env).load().empty


def test_the_batch_limits_are_stated_before_upload(studio_env):
    from kling.batch import MAX_BATCH_ROWS

    at = generate_page()
    captions = " ".join(c.value for c in at.caption)
    assert f"at most 2 MB and {MAX_BATCH_ROWS} prompts" in captions
