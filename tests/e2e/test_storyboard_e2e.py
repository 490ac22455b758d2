"""A marketer in the browser: a three-shot storyboard from templates, every take
generated, the best take of each shot picked, the spot assembled and played, and the
platform formats delivered in one zip.

Every interaction waits for the rerun it starts and is followed by an auto-retrying
`expect` on the state it produces (see tests/e2e/conftest.py)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    assert_video_plays, click_and_wait, commit_text, open_studio, rerun_after,
)

pytestmark = pytest.mark.e2e

TEMPLATES = ("TikTok hook", "Unboxing reveal", "Travel teaser")
#: Three 5 s shots joined by two 0.5 s crossfades (the page's default).
SPOT_SECONDS = 3 * 5 - 2 * 0.5
#: Assembly and delivery re-encode every frame: give them longer than a click.
VIDEO_WORK_MS = 180_000


def choose(page, label_index: int, option: str) -> None:
    box = (page.locator('[data-testid="stSelectbox"]').filter(has_text="Fill from a template")
           .nth(label_index).get_by_role("combobox"))
    box.click()
    box.fill(option)  # the list is long: typing narrows it to the one wanted
    rerun_after(page, page.get_by_role("option", name=option, exact=True).click)


def test_storyboard_to_spot_to_formats(page, studio_server):
    open_studio(page, studio_server.url)
    rerun_after(page, page.get_by_role("link", name="Storyboard").click)
    commit_text(page.get_by_role("textbox", name="New storyboard", exact=True), "Summer drop")
    click_and_wait(page.get_by_role("button", name="Create storyboard"))
    expect(page.get_by_role("textbox", name="Shot 2 prompt")).to_be_visible()
    click_and_wait(page.get_by_role("button", name="Add shot"))
    expect(page.get_by_role("textbox", name="Shot 3 prompt")).to_be_visible()

    commit_text(page.get_by_role("textbox", name="Style", exact=True),
                "golden hour light, 35 mm film grain", key="Enter")
    for index, template in enumerate(TEMPLATES):
        choose(page, index, template)
        expect(page.get_by_role("textbox", name=f"Shot {index + 1} prompt")).not_to_have_value("")
    commit_text(page.get_by_role("textbox", name="Caption").first, "New drop. Summer 2027",
                key="Enter")
    commit_text(page.get_by_role("spinbutton", name="Takes").first, "2", key="Enter")

    click_and_wait(page.get_by_role("button", name="Generate all shots"))
    click_and_wait(page.get_by_role("button", name="Queue 4 takes ($5.60)"))
    # Every take arrives; one per shot is picked for the spot.
    expect(page.get_by_text("Picked").nth(2)).to_be_visible(timeout=90_000)
    expect(page.locator("video")).to_have_count(4, timeout=90_000)
    # The person prefers shot 1's other take.
    click_and_wait(page.get_by_role("button", name="Use this take"))
    (board_file,) = (studio_server.data_dir / "storyboards").glob("sb-*.json")
    board = json.loads(board_file.read_text(encoding="utf-8"))["storyboard"]
    assert board["shots"][0]["picked"]

    click_and_wait(page.get_by_role("button", name="Assemble", exact=True))
    expect(page.get_by_text("kept in History")).to_be_visible(timeout=VIDEO_WORK_MS)
    spot = page.locator("video").nth(4)  # after the four takes
    assert_video_plays(spot)
    seconds = spot.evaluate("v => v.duration")
    assert abs(seconds - SPOT_SECONDS) < 0.1, seconds

    click_and_wait(page.get_by_role("button", name="Make the formats"))
    download = page.get_by_role("button", name="Download all formats (zip)")
    expect(download).to_be_visible(timeout=VIDEO_WORK_MS)
    # The 1:1 deliverable is square.
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some("
        "v => v.videoWidth > 0 && v.videoWidth === v.videoHeight)", timeout=30_000)
    with page.expect_download() as event:
        download.click()
    formats = zipfile.ZipFile(io.BytesIO(event.value.path().read_bytes()))
    names = formats.namelist()
    assert len(names) == 4
    assert {name.split("_")[1] for name in names} == {
        "youtube", "tiktok-reels-shorts", "instagram-feed", "square"}
    assert all(name.startswith("summer-drop_") and name.endswith(".mp4") for name in names)
    page.screenshot(path=str(studio_server.data_dir.parent / "storyboard-formats.png"),
                    full_page=True)

    # A delivered file dropped on History's search finds the spot it was made from.
    spot_id = json.loads(board_file.read_text(encoding="utf-8"))["storyboard"]["assembled"]
    square = studio_server.data_dir.parent / "square.mp4"
    square.write_bytes(formats.read(next(n for n in names if "_square_" in n)))
    rerun_after(page, page.get_by_role("link", name="History").click)
    page.get_by_text("Find a video by its file").click()
    rerun_after(page, lambda: page.locator('[data-testid="stFileUploaderDropzoneInput"]')
                .set_input_files(str(square)))
    expect(page.get_by_role("textbox", name="Search", exact=True)).to_have_value(spot_id)
    expect(page.get_by_text("1 of 5 generations match")).to_be_visible()  # 4 takes, 1 spot
