"""Trust on the History page, in the browser: a server's message stays text (no link, no
image fetched, no red banner), a generation that may have been billed says so in the
gallery and the detail view, and re-running it asks first, naming the cost.

The history is written before the studio starts. Screenshots of the gallery, the detail
view and the confirmation go to /tmp/shots/ for a person to look at.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
from playwright.sync_api import expect

from kling.archive import VideoArchive
from kling.errors import InvalidRequestError, OutcomeUnknownError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult, Video
from kling.render import frame_size, render_to_file
from tests.e2e.conftest import ROOT, StudioServer, click_and_wait, open_studio, wait_idle

pytestmark = pytest.mark.e2e

TRAP = "http://127.0.0.1:9"
HOSTILE = f"[Click here]({TRAP}/x) ![x]({TRAP}/p.png) :red[**URGENT**]"
HOSTILE_PROMPT = "Sneaker spinning on a pedestal, smooth orbit shot"
READY_PROMPT = "Waves crashing on black sand, slow drone shot, golden hour"
UNSURE_PROMPT = "Lanterns rising over a lake at night, slow crane shot"
INTERRUPTED_PROMPT = "Fireworks over a harbour, drone shot, slow motion"
SHOTS = Path("/tmp/shots")
#: Invisible characters `literal` may put into a link-like text so that it stays text.
_INVISIBLE = dict.fromkeys(map(ord, "\u2060\u200b\u200c\u200d\ufeff"))


def read(locator) -> str:
    """What a person reads in `locator` (invisible joiners left out)."""
    return locator.inner_text().translate(_INVISIBLE)


def seed_history(data_dir: Path) -> dict[str, str]:
    """A ready video, a 400 whose message is Markdown, one whose answer never came (5 s,
    about $1.40) and one the studio was stopped during (10 s, about $2.80)."""
    log, archive = HistoryLog(data_dir), VideoArchive(data_dir)
    ids = {}
    ready = log.record_pending(GenerationRequest.create(READY_PROMPT, "5", "16:9", 42))
    width, height = frame_size("16:9")
    video = Video(url="https://videos.example/42.mp4", duration=5.0, width=width,
                  height=height, content_type="video/mp4")
    log.record_success(ready, GenerationResult(videos=(video,), seed=42, inference_s=14.2),
                       elapsed_s=16.0)
    path = archive.path_for(ready)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_to_file(path, READY_PROMPT, 42, "5", "16:9")
    log.record_video_path(ready, str(path))
    ids["ready"] = ready
    hostile = log.record_pending(GenerationRequest.create(HOSTILE_PROMPT, "5", "16:9", 7))
    log.record_failure(hostile, InvalidRequestError(HOSTILE, status=400), elapsed_s=0.4)
    ids["hostile"] = hostile
    unsure = log.record_pending(GenerationRequest.create(UNSURE_PROMPT, "5", "16:9", 12))
    log.record_failure(unsure, OutcomeUnknownError(), elapsed_s=900.0)
    ids["unknown"] = unsure
    # A pending row written by a process that has ended: the studio shows it interrupted.
    code = ("import sys; from kling.history import HistoryLog; "
            "from kling.models import GenerationRequest as R; "
            "HistoryLog(sys.argv[1]).record_pending(R.create(sys.argv[2], '10', '9:16', 11))")
    subprocess.run([sys.executable, "-c", code, str(data_dir), INTERRUPTED_PROMPT],
                   cwd=ROOT, check=True)
    ids["interrupted"] = next(i for i in log.load()["id"] if i not in ids.values())
    return ids


@pytest.fixture(scope="module")
def trust_server(browser, tmp_path_factory) -> Iterator[tuple[StudioServer, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("history-trust") / "data"
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
def visits(new_page, trust_server):
    """A fresh page, the server, the seeded ids, and every URL the page requested."""
    server, ids = trust_server
    page = new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    return page, server, ids, requested


def card(page, prompt: str):
    """The gallery card showing `prompt`."""
    return page.get_by_test_id("stColumn").filter(
        has=page.get_by_text(prompt, exact=True)).last


def rows_of(server: StudioServer, prompt: str) -> int:
    log = pd.read_csv(server.data_dir / "history.csv", dtype=str, keep_default_na=False)
    return int(log.loc[log["prompt"] == prompt, "id"].nunique())


def assert_no_trap(page, requested: list[str]) -> None:
    assert page.locator(f'a[href^="{TRAP}"]').count() == 0
    assert page.locator(f'img[src^="{TRAP}"]').count() == 0
    assert not [url for url in requested if url.startswith(TRAP)], requested


def test_a_hostile_error_message_is_text_in_the_gallery_and_the_detail(visits):
    page, server, ids, requested = visits
    open_studio(page, f"{server.url}/history")
    failed = card(page, HOSTILE_PROMPT)
    expect(failed.get_by_text("[Click here](")).to_be_visible()
    assert HOSTILE in read(failed)  # every character, as sent
    expect(failed.get_by_role("link")).to_have_count(0)
    expect(failed.locator("img")).to_have_count(0)
    assert_no_trap(page, requested)

    open_studio(page, f"{server.url}/history?id={ids['hostile']}")
    dialog = page.get_by_role("dialog")
    message = dialog.get_by_test_id("stAlertContentError").filter(has_text="[Click here](")
    expect(message).to_be_visible()
    assert HOSTILE in read(message)
    # No link, and nothing of it drawn in red: the directive is on screen as typed.
    expect(dialog.get_by_role("link", name="Click here")).to_have_count(0)
    expect(message.locator("strong, a, img")).to_have_count(0)
    assert_no_trap(page, requested)


def test_possibly_billed_says_so_and_rerun_asks_first_naming_the_cost(visits):
    page, server, ids, _ = visits
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_studio(page, f"{server.url}/history")
    for prompt, cost in ((UNSURE_PROMPT, "$1.40"), (INTERRUPTED_PROMPT, "$2.80")):
        unsure = card(page, prompt)
        expect(unsure.get_by_text("possibly billed").first).to_be_visible()
        expect(unsure.get_by_text(f"about {cost}").first).to_be_visible()
    expect(card(page, HOSTILE_PROMPT).get_by_text("possibly billed")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "history-gallery-possibly-billed.png"), full_page=True)

    before = rows_of(server, UNSURE_PROMPT)
    open_studio(page, f"{server.url}/history?id={ids['unknown']}")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("possibly billed").first).to_be_visible()
    expect(dialog.get_by_text("Check your Firemoon account before re-running it.")
           ).to_be_visible()
    page.screenshot(path=str(SHOTS / "history-detail-possibly-billed.png"))

    click_and_wait(dialog.get_by_role("button", name="Re-run…"))
    anyway = dialog.get_by_role("button", name="Re-run anyway ($1.40)")
    expect(anyway).to_be_visible()
    expect(dialog.get_by_text("costs about $1.40 more")).to_be_visible()
    anyway.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "history-rerun-confirmation.png"))
    assert rows_of(server, UNSURE_PROMPT) == before  # only asked so far

    click_and_wait(dialog.get_by_role("button", name="Cancel"))
    expect(anyway).to_have_count(0)
    assert rows_of(server, UNSURE_PROMPT) == before

    click_and_wait(dialog.get_by_role("button", name="Re-run…"))
    click_and_wait(anyway)
    expect(dialog.get_by_text("Queued again with the same seed")).to_be_visible()
    assert rows_of(server, UNSURE_PROMPT) == before + 1


def test_hostile_url_parameters_end_in_a_plain_message(visits):
    page, server, _, requested = visits
    hostile = ("?page=" + "9" * 5000 + "&status=%FF%FE&from=%00&sort=%E2%80%AE"
               "&min_rating=" + "9" * 300 + "&view=%3Cscript%3E&id=%00%2F..%2Fetc")
    open_studio(page, f"{server.url}/history{hostile}")
    expect(page.get_by_text("That link does not point to a generation.")).to_be_visible()
    # Every generation is listed (the filters' odd values are ignored).
    expect(page.get_by_text(re.compile(r"^\d+ generations$"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    wait_idle(page)
    assert "Traceback" not in server.log()
