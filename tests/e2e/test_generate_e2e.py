"""A new user in the browser: Generate, watch it play, variations, reload, failure, probes.

Every interaction waits for the rerun it starts (`click_and_wait`, `commit_text`,
`rerun_after`) and is followed by an auto-retrying `expect` on the state it produces.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from isolation import isolated_environ
from tests.e2e.conftest import (
    ROOT, StudioServer, assert_video_plays, click_and_wait, commit_text, die_with_parent,
    free_port, open_studio, rerun_after, stop_process, wait_loaded, wait_until_serving,
)

pytestmark = pytest.mark.e2e


def fill_prompt(page, text: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    commit_text(box, text)  # leaving the box commits it, as Control+Enter would


def generate(page) -> None:
    click_and_wait(page.get_by_role("button", name="Generate", exact=True))


def videos_ready(page, count: int, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('video').length >= n", arg=count, timeout=timeout)


def test_new_user_generates_one_video_and_it_plays(page, studio_server):
    open_studio(page, studio_server.url)
    expect(page.get_by_text("Demo mode").first).to_be_visible()
    fill_prompt(page, "Waves crashing on black sand, slow drone shot, golden hour")
    generate(page)
    # Keep working while it runs: the form stays usable and keeps what is typed.
    fill_prompt(page, "A second idea: a kite rising over dunes, tracking shot")
    videos_ready(page, 1)
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(
        "A second idea: a kite rising over dunes, tracking shot")
    assert_video_plays(page.locator("video").first)
    page.screenshot(path=str(studio_server.data_dir.parent / "generate.png"), full_page=True)


def test_three_variations_all_arrive(page, studio_server):
    open_studio(page, studio_server.url)
    before = page.locator("video").count()
    fill_prompt(page, "Sneaker spinning on a pedestal, orbit shot, fast-paced")
    slider = page.get_by_role("slider", name="Variations")
    slider.focus()
    for takes in ("2", "3"):
        # The slider sends its value after a debounce: rerun_after waits for it.
        rerun_after(page, lambda: slider.press("ArrowRight"))
        expect(slider).to_have_value(takes)
    generate(page)
    videos_ready(page, before + 3)


def test_reload_mid_generation_still_shows_the_result(page, studio_server):
    open_studio(page, studio_server.url)
    fill_prompt(page, "Coffee pouring in slow motion, macro push-in")
    before = page.locator("video").count()
    generate(page)
    expect(page).to_have_url(re.compile(r"[?&]s="))  # the person's jobs are tied to the URL
    page.reload()
    wait_loaded(page)
    videos_ready(page, before + 1)


def test_html_in_a_prompt_is_shown_as_text_and_runs_nothing(page, studio_server):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_studio(page, studio_server.url)
    before = page.locator("video").count()
    probe = '<script>alert("x")</script><img src=x onerror=alert(1)> waves, pan, slow'
    fill_prompt(page, probe)
    generate(page)
    expect(page.get_by_text("<img src=x onerror=alert(1)>", exact=False).first).to_be_visible()
    videos_ready(page, before + 1)  # every place that shows the prompt has been drawn
    # Nothing could run: the markup was never made into elements.
    assert page.locator('img[src="x"]').count() == 0
    assert not page.evaluate(
        "() => [...document.scripts].some(s => s.textContent.includes('alert(\"x\")'))")
    assert dialogs == []


@pytest.fixture
def failing_studio(tmp_path):
    with StudioServer(tmp_path / "data", {"KLING_SIM_FAIL_FIRST": "1"}) as server:
        yield server


def test_a_failure_is_explained_and_retry_works(new_page, failing_studio):
    page = new_page()
    open_studio(page, failing_studio.url)
    fill_prompt(page, "Fireworks over a harbour, drone shot, slow motion")
    generate(page)
    expect(page.get_by_text("could not generate this video", exact=False).first).to_be_visible()
    click_and_wait(page.get_by_role("button", name="Retry"))
    videos_ready(page, 1)


@pytest.fixture
def live_studio(tmp_path):
    """The studio in live mode against a separate simulator that requires a key."""
    key = "fm_live_" + "Q7x" * 8
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "kling", "simulator", "--port", str(port)], cwd=ROOT,
        env=isolated_environ(KLING_SIM_API_KEY=key, KLING_SIM_LATENCY="0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        # Without the key the balance answers 401: any answer means it is serving.
        wait_until_serving(simulator, f"http://127.0.0.1:{port}/api/credits/balance",
                           "the simulator", healthy=lambda response: True, timeout=30)
        with StudioServer(tmp_path / "data", {
                "FIREMOON_API_KEY": key,
                "FIREMOON_BASE_URL": f"http://127.0.0.1:{port}"}) as server:
            yield server, key
    finally:
        stop_process(simulator)


def test_with_a_key_configured_the_key_is_nowhere_in_the_page(new_page, live_studio):
    server, key = live_studio
    page = new_page()
    open_studio(page, server.url)
    expect(page.get_by_text("Demo mode")).to_have_count(0)
    fill_prompt(page, "Waves crashing, drone shot, slow motion")
    generate(page)
    videos_ready(page, 1)
    assert key not in page.content()
    assert key not in server.log()
    history = (server.data_dir / "history.csv").read_text()
    assert key not in history


def test_batch_csv_is_checked_previewed_and_queued(page, studio_server, tmp_path):
    open_studio(page, studio_server.url)
    tab = page.get_by_role("tab", name="Batch from CSV")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')

    bad = tmp_path / "bad.csv"
    bad.write_text('prompt,duration\n"Waves crashing, drone shot",7\n,5\n')
    rerun_after(page, lambda: upload.set_input_files(str(bad)))
    expect(page.get_by_text("Line 2")).to_be_visible()
    expect(page.get_by_text("Line 3")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Queue"))).to_have_count(0)

    good = tmp_path / "good.csv"
    good.write_text("prompt,duration,aspect_ratio,seed\n"
                    '"Kite rising over dunes, tracking shot, slow",5,16:9,1\n'
                    '"Neon city street at night, dolly-in, fast-paced",10,9:16,2\n')
    rerun_after(page, lambda: upload.set_input_files(str(good)))
    expect(page.get_by_text("estimated $4.20")).to_be_visible()
    before = page.locator("video").count()
    click_and_wait(page.get_by_role("button", name="Queue 2 videos"))
    videos_ready(page, before + 2)
