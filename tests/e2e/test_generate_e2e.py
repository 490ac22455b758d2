"""A new user in the browser: Generate, watch it play, variations, reload, failure, probes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from isolation import isolated_environ
from tests.e2e.conftest import ROOT, StudioServer, free_port, open_studio, wait_idle

pytestmark = pytest.mark.e2e


def fill_prompt(page, text: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    box.fill(text)
    box.press("Control+Enter")  # commits the text area, as blurring would
    wait_idle(page)


def videos_ready(page, count: int, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('video').length >= n", arg=count, timeout=timeout)


def assert_plays(page, index: int = 0) -> None:
    """Start the video and check that its clock really advances."""
    video = page.locator("video").nth(index)
    video.scroll_into_view_if_needed()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "v => v.currentTime > 0.5 && !v.paused && v.readyState >= 2",
        arg=video.element_handle(), timeout=15_000)
    assert video.evaluate("v => v.videoWidth") > 0


def test_new_user_generates_one_video_and_it_plays(page, studio_server):
    open_studio(page, studio_server.url)
    assert page.get_by_text("Demo mode").first.is_visible()
    fill_prompt(page, "Waves crashing on black sand, slow drone shot, golden hour")
    page.get_by_role("button", name="Generate").click()
    # Keep working while it runs: the form stays usable and keeps what is typed.
    fill_prompt(page, "A second idea: a kite rising over dunes, tracking shot")
    assert page.get_by_label("Prompt", exact=True).input_value().startswith("A second idea")
    videos_ready(page, 1)
    assert_plays(page)
    page.screenshot(path=str(studio_server.data_dir.parent / "generate.png"), full_page=True)


def test_three_variations_all_arrive(page, studio_server):
    open_studio(page, studio_server.url)
    before = page.locator("video").count()
    fill_prompt(page, "Sneaker spinning on a pedestal, orbit shot, fast-paced")
    slider = page.get_by_role("slider")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    wait_idle(page)
    page.get_by_role("button", name="Generate").click()
    videos_ready(page, before + 3)


def test_reload_mid_generation_still_shows_the_result(page, studio_server):
    open_studio(page, studio_server.url)
    fill_prompt(page, "Coffee pouring in slow motion, macro push-in")
    before = page.locator("video").count()
    page.get_by_role("button", name="Generate").click()
    wait_idle(page)
    assert "s=" in page.url  # the person's jobs are tied to the URL
    page.reload()
    page.wait_for_selector('[data-testid="stApp"]')
    videos_ready(page, before + 1)


def test_html_in_a_prompt_is_shown_as_text_and_runs_nothing(page, studio_server):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_studio(page, studio_server.url)
    probe = '<script>alert("x")</script><img src=x onerror=alert(1)> waves, pan, slow'
    fill_prompt(page, probe)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("<img src=x onerror=alert(1)>", exact=False).first.wait_for()
    page.wait_for_timeout(1000)
    assert dialogs == []


@pytest.fixture
def failing_studio(tmp_path):
    server = StudioServer(tmp_path / "data", {"KLING_SIM_FAIL_FIRST": "1"})
    yield server
    server.stop()


def test_a_failure_is_explained_and_retry_works(browser, failing_studio):
    page = browser.new_page()
    open_studio(page, failing_studio.url)
    fill_prompt(page, "Fireworks over a harbour, drone shot, slow motion")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("could not generate this video", exact=False).wait_for(timeout=30_000)
    page.get_by_role("button", name="Retry").click()
    videos_ready(page, 1)
    page.close()


@pytest.fixture
def live_studio(tmp_path):
    """The studio in live mode against a separate simulator that requires a key."""
    key = "fm_live_" + "Q7x" * 8
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "kling", "simulator", "--port", str(port)], cwd=ROOT,
        env=isolated_environ(KLING_SIM_API_KEY=key, KLING_SIM_LATENCY="0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/credits/balance", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.2)
    server = StudioServer(tmp_path / "data", {
        "FIREMOON_API_KEY": key, "FIREMOON_BASE_URL": f"http://127.0.0.1:{port}"})
    yield server, key
    server.stop()
    simulator.terminate()
    simulator.wait(10)


def test_with_a_key_configured_the_key_is_nowhere_in_the_page(browser, live_studio):
    server, key = live_studio
    page = browser.new_page()
    open_studio(page, server.url)
    assert page.get_by_text("Demo mode").count() == 0
    fill_prompt(page, "Waves crashing, drone shot, slow motion")
    page.get_by_role("button", name="Generate").click()
    videos_ready(page, 1)
    assert key not in page.content()
    assert key not in server.log()
    history = (server.data_dir / "history.csv").read_text()
    assert key not in history
    page.close()


def test_batch_csv_is_checked_previewed_and_queued(page, studio_server, tmp_path):
    open_studio(page, studio_server.url)
    page.get_by_role("tab", name="Batch from CSV").click()
    bad = tmp_path / "bad.csv"
    bad.write_text('prompt,duration\n"Waves crashing, drone shot",7\n,5\n')
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("Line 2").wait_for()
    page.get_by_text("Line 3").wait_for()
    assert page.get_by_role("button", name="Queue").count() == 0

    good = tmp_path / "good.csv"
    good.write_text("prompt,duration,aspect_ratio,seed\n"
                    '"Kite rising over dunes, tracking shot, slow",5,16:9,1\n'
                    '"Neon city street at night, dolly-in, fast-paced",10,9:16,2\n')
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(good))
    page.get_by_text("estimated $4.20").wait_for()
    before = page.locator("video").count()
    page.get_by_role("button", name="Queue 2 videos").click()
    videos_ready(page, before + 2)
