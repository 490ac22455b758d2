"""The History page in the browser: search, play, compare, annotate across a reload, export.

The history is written before the studio starts, with real MP4s rendered by the
simulator's renderer into the archive, so every test starts from the same known log.
"""

from __future__ import annotations

import time
from typing import Iterator

import pandas as pd
import pytest

from kling.archive import VideoArchive
from kling.errors import ServerError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult, Video
from kling.render import frame_size, render_to_file
from tests.e2e.conftest import StudioServer, open_studio, wait_idle

pytestmark = pytest.mark.e2e

TAKES = [
    ("Waves crashing on black sand, slow drone shot, golden hour", 42, "16:9"),
    ("Sneaker spinning on a pedestal, smooth orbit shot, fast-paced", 7, "9:16"),
    ("Coffee pouring into a glass cup, macro push-in, warm light", 9, "16:9"),
]
FAILED_PROMPT = "Fireworks over a harbour, drone shot, slow motion"


def seed_history(data_dir) -> dict[str, str]:
    """Three archived videos and one failure, as the studio would have logged them."""
    log, archive = HistoryLog(data_dir), VideoArchive(data_dir)
    ids = {}
    for prompt, seed, aspect_ratio in TAKES:
        gen_id = log.record_pending(GenerationRequest.create(prompt, "5", aspect_ratio, seed))
        width, height = frame_size(aspect_ratio)
        video = Video(url=f"https://videos.example/{seed}.mp4", duration=5.0, width=width,
                      height=height, content_type="video/mp4")
        log.record_success(gen_id, GenerationResult(videos=(video,), seed=seed,
                                                    inference_s=14.0 + seed / 10),
                           elapsed_s=16.0)
        path = archive.path_for(gen_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        render_to_file(path, prompt, seed, "5", aspect_ratio)
        log.record_video_path(gen_id, str(path))
        ids[prompt] = gen_id
    failed = log.record_pending(GenerationRequest.create(FAILED_PROMPT, "10", "16:9", 3))
    log.record_failure(failed, ServerError("The model did not finish."), elapsed_s=4.0)
    ids[FAILED_PROMPT] = failed
    return ids


@pytest.fixture(scope="module")
def history_server(browser, tmp_path_factory) -> Iterator[tuple[StudioServer, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("history") / "data"
    ids = seed_history(data_dir)
    server = StudioServer(data_dir)
    # Until app.py has run once in a server, Streamlit routes /history to the page file
    # alone, without the app's navigation: open the entry point once first.
    page = browser.new_page()
    open_studio(page, server.url)
    page.get_by_text("Demo mode").first.wait_for()
    page.close()
    yield server, ids
    server.stop()


@pytest.fixture
def history(browser, history_server):
    """A fresh browser tab on the History page, and the seeded ids by prompt."""
    server, ids = history_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/history")
    page.get_by_label("Search").wait_for()
    wait_idle(page)
    yield page, server, ids
    context.close()


def assert_plays(video) -> None:
    """Start the video and check that its clock really advances."""
    video.scroll_into_view_if_needed()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    video.page.wait_for_function("v => v.currentTime > 0.3 && !v.paused && v.videoWidth > 0",
                                 arg=video.element_handle(), timeout=15_000)


def test_search_finds_a_generation_and_its_video_plays(history):
    page, _, _ = history
    page.get_by_text("Demo mode").first.wait_for()
    search = page.get_by_label("Search")
    search.fill("sneaker")
    search.press("Enter")
    wait_idle(page)
    page.get_by_text("1 of 4 generations match").wait_for()
    assert "q=sneaker" in page.url  # the view can be shared by its address
    assert page.get_by_text(TAKES[1][0]).count() == 1
    assert page.get_by_text(TAKES[0][0]).count() == 0
    assert page.locator("video").count() == 1
    assert_plays(page.locator("video").first)


def test_compare_shows_two_side_by_side(history):
    page, _, _ = history
    selects = page.get_by_role("checkbox", name="Select")
    selects.nth(1).check(force=True)
    wait_idle(page)
    selects.nth(2).check(force=True)
    wait_idle(page)
    page.get_by_text("2 selected").wait_for()
    page.get_by_role("button", name="Compare").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    wait_idle(page)
    assert dialog.locator("video").count() == 2
    dialog.get_by_text("Settings that differ:").wait_for()
    assert "compare=" in page.url
    assert_plays(dialog.locator("video").nth(1))


def test_rating_and_review_survive_a_reload(history):
    page, server, ids = history
    gen_id = ids[TAKES[2][0]]
    page.goto(f"{server.url}/history?id={gen_id}")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    wait_idle(page)
    dialog.get_by_role("radio", name="4 out of 5 stars").click()
    wait_idle(page)
    dialog.get_by_role("radio", name="Approved").click()
    wait_idle(page)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the clicks' reruns may still be writing
        saved = HistoryLog(server.data_dir).get(gen_id)
        if (saved["rating"], saved["review_status"]) == (4, "approved"):
            break
        time.sleep(0.2)
    assert (saved["rating"], saved["review_status"]) == (4, "approved")

    page.reload()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    wait_idle(page)
    assert dialog.get_by_role("radio", name="4 out of 5 stars").get_attribute(
        "aria-checked") == "true"
    assert dialog.get_by_role("radio", name="Approved").get_attribute(
        "aria-checked") == "true"
    dialog.get_by_text("Link to exactly this generation").wait_for()


def test_csv_export_opens_with_pandas(history, tmp_path):
    page, _, ids = history
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV for spreadsheets").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    frame = pd.read_csv(path, encoding="utf-8-sig")
    assert sorted(frame["id"]) == sorted(ids.values())
    assert set(frame["prompt"]) == {prompt for prompt, _, _ in TAKES} | {FAILED_PROMPT}


def test_rerun_makes_the_same_video_again_with_the_same_seed(history):
    page, server, ids = history
    prompt, seed, _ = TAKES[0]
    page.goto(f"{server.url}/history?id={ids[prompt]}")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    wait_idle(page)
    dialog.get_by_role("button", name="Re-run").click()
    dialog.get_by_text("Queued again with the same seed").wait_for()
    dialog.get_by_role("link", name="Go to Generate").click()
    page.get_by_role("textbox", name="Prompt", exact=True).wait_for()
    page.wait_for_function("() => document.querySelectorAll('video').length >= 1",
                           timeout=30_000)
    page.get_by_text(f"seed {seed}").first.wait_for()
    rows = pd.read_csv(server.data_dir / "history.csv", dtype=str)
    again = rows[(rows["prompt"] == prompt) & (rows["id"] != ids[prompt])]
    assert set(again["seed"]) == {str(seed)}
    assert "succeeded" in set(again["status"])
