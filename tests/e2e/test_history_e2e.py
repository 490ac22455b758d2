"""The History page in the browser: search, play, compare, annotate across a reload, export.

The history is written before the studio starts, with real MP4s rendered by the
simulator's renderer into the archive, so every test starts from the same known log.
Every interaction waits for the rerun it starts and is followed by an auto-retrying
`expect` on the state it produces (see tests/e2e/conftest.py).
"""

from __future__ import annotations

import re
from typing import Iterator

import pandas as pd
import pytest
from playwright.sync_api import expect

from kling.archive import VideoArchive
from kling.errors import ServerError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult, Video
from kling.render import frame_size, render_to_file
from tests.e2e.conftest import (
    StudioServer, assert_video_plays, click_and_wait, commit_text, open_studio, rerun_after,
    wait_loaded,
)

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
    with StudioServer(data_dir) as server:
        # Until app.py has run once in a server, Streamlit routes /history to the page
        # file alone, without the app's navigation: open the entry point once first.
        context = browser.new_context()
        try:
            page = context.new_page()
            open_studio(page, server.url)
            expect(page.get_by_text("Demo mode").first).to_be_visible()
        finally:
            context.close()
        yield server, ids


@pytest.fixture
def history(new_page, history_server):
    """A fresh browser tab on the History page, and the seeded ids by prompt."""
    server, ids = history_server
    page = new_page()
    open_studio(page, f"{server.url}/history")
    expect(page.get_by_label("Search")).to_be_visible()
    return page, server, ids


def open_detail(page, server, gen_id: str):
    """The History page opened on one generation's dialog, by its link."""
    page.goto(f"{server.url}/history?id={gen_id}")
    wait_loaded(page)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_search_finds_a_generation_and_its_video_plays(history):
    page, _, _ = history
    expect(page.get_by_text("Demo mode").first).to_be_visible()
    commit_text(page.get_by_label("Search"), "sneaker")
    expect(page.get_by_text("1 of 4 generations match")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=sneaker"))  # the view can be shared by its address
    expect(page.get_by_text(TAKES[1][0])).to_have_count(1)
    expect(page.get_by_text(TAKES[0][0])).to_have_count(0)
    expect(page.locator("video")).to_have_count(1)
    assert_video_plays(page.locator("video").first, advance=0.3)


def test_compare_shows_two_side_by_side(history):
    page, _, _ = history
    selects = page.get_by_role("checkbox", name="Select")
    for index in (1, 2):
        # The box itself is visually hidden behind Streamlit's drawn one: force the click.
        click_and_wait(selects.nth(index), force=True)
        expect(selects.nth(index)).to_be_checked()
    expect(page.get_by_text("2 selected")).to_be_visible()
    click_and_wait(page.get_by_role("button", name="Compare"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("video")).to_have_count(2)
    expect(dialog.get_by_text("Settings that differ:")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]compare="))
    assert_video_plays(dialog.locator("video").nth(1), advance=0.3)


def test_rating_and_review_survive_a_reload(history):
    page, server, ids = history
    gen_id = ids[TAKES[2][0]]
    dialog = open_detail(page, server, gen_id)
    stars4 = dialog.get_by_role("radio", name="4 out of 5 stars")
    click_and_wait(stars4)
    expect(stars4).to_have_attribute("aria-checked", "true")
    approved = dialog.get_by_role("radio", name="Approved")
    click_and_wait(approved)
    expect(approved).to_have_attribute("aria-checked", "true")
    # The clicks' reruns have run, and they save: the log holds both already.
    saved = HistoryLog(server.data_dir).get(gen_id)
    assert (saved["rating"], saved["review_status"]) == (4, "approved")

    page.reload()
    wait_loaded(page)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("radio", name="4 out of 5 stars")).to_have_attribute(
        "aria-checked", "true")
    expect(dialog.get_by_role("radio", name="Approved")).to_have_attribute(
        "aria-checked", "true")
    expect(dialog.get_by_text("Link to exactly this generation")).to_be_visible()


def test_csv_export_opens_with_pandas(history, tmp_path):
    page, _, ids = history
    page.get_by_role("button", name="Export").click()  # a popover: drawn in the browser
    csv_button = page.get_by_role("button", name="CSV for spreadsheets")
    expect(csv_button).to_be_visible()
    with page.expect_download() as download:
        csv_button.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    frame = pd.read_csv(path, encoding="utf-8-sig")
    assert sorted(frame["id"]) == sorted(ids.values())
    assert set(frame["prompt"]) == {prompt for prompt, _, _ in TAKES} | {FAILED_PROMPT}


def test_rerun_makes_the_same_video_again_with_the_same_seed(history):
    page, server, ids = history
    prompt, seed, _ = TAKES[0]
    dialog = open_detail(page, server, ids[prompt])
    click_and_wait(dialog.get_by_role("button", name="Re-run"))
    expect(dialog.get_by_text("Queued again with the same seed")).to_be_visible()
    rerun_after(page, dialog.get_by_role("link", name="Go to Generate").click)
    expect(page.get_by_role("textbox", name="Prompt", exact=True)).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('video').length >= 1",
                           timeout=30_000)
    expect(page.get_by_text(f"seed {seed}").first).to_be_visible()
    rows = pd.read_csv(server.data_dir / "history.csv", dtype=str)
    again = rows[(rows["prompt"] == prompt) & (rows["id"] != ids[prompt])]
    assert set(again["seed"]) == {str(seed)}
    assert "succeeded" in set(again["status"])
