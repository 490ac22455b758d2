"""Trust in the browser: a hostile server's text stays text, and a video that may have
been billed says so and is not sent again without a confirmation that names the cost.

The studio runs in live mode against a scripted loopback server standing in for Firemoon
(the key is the test's own), so the server can answer what the real one might.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from kling.render import render_video
from scripted_server import Reply, ScriptedServer, success_body
from tests.e2e.conftest import StudioServer, open_studio, wait_idle

pytestmark = pytest.mark.e2e

KEY = "fm_live_e2e-trust-0123456789"
TRAP = "http://127.0.0.1:9"
HOSTILE = (f"[Click here]({TRAP}/login) to fix your account ![x]({TRAP}/pixel.png) "
           ":red[**URGENT**] <b>bold</b>")


class Firemoon:
    """The scripted stand-in: a balance, a real MP4 to download, and `post` for generations."""

    def __init__(self) -> None:
        self.server = ScriptedServer(default=self.answer)
        self.url = self.server.url
        self.post: Reply = Reply.ok()
        self.video = render_video("stand-in", 1, "5", "16:9")

    @property
    def post_count(self) -> int:
        return self.server.post_count

    def answer(self, request) -> Reply:
        if request.method == "POST":
            return self.post
        if request.path.endswith(".mp4"):
            return Reply(200, self.video, headers={"Content-Type": "video/mp4"})
        return Reply(200, {"balance": 100.0})

    def succeed(self, delay: float = 0.0) -> Reply:
        return Reply(200, success_body(url=f"{self.url}/video.mp4"), delay=delay)


@pytest.fixture
def firemoon():
    stand_in = Firemoon()
    with stand_in.server:
        yield stand_in


@pytest.fixture
def live_studio(tmp_path, firemoon):
    server = StudioServer(tmp_path / "data", {
        "FIREMOON_API_KEY": KEY, "FIREMOON_BASE_URL": firemoon.url,
        "KLING_GENERATION_TIMEOUT": "2"})
    yield server
    server.stop()


def generate(page, prompt: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    box.fill(prompt)
    box.press("Control+Enter")
    wait_idle(page)
    page.get_by_role("button", name="Generate").click()


def test_a_hostile_error_message_is_shown_as_text(page, live_studio, firemoon):
    firemoon.post = Reply.error(400, "Invalid input", HOSTILE, errors=[HOSTILE])
    trapped = []
    page.on("request", lambda request: trapped.append(request.url)
            if request.url.startswith(TRAP) else None)
    open_studio(page, live_studio.url)
    generate(page, "A red kite over dunes, tracking shot")
    card = page.locator('[data-testid="stAlertContentError"]').filter(has_text="Click here")
    expect(card).to_contain_text("[Click here](http\u2060://127.0.0.1:9/login)")
    expect(card).to_contain_text(":red[**URGENT**]")
    expect(card).to_contain_text("<b>bold</b>")
    assert page.locator(f'a[href^="{TRAP}"]').count() == 0
    assert page.locator(f'img[src^="{TRAP}"]').count() == 0
    assert card.locator("strong, b, [style*='color']").count() == 0
    page.screenshot(path="/tmp/shots/trust-hostile-error.png", full_page=True)
    assert trapped == []


def test_an_unanswered_call_is_possibly_billed_and_not_resent_without_asking(
        page, live_studio, firemoon):
    firemoon.post = firemoon.succeed(delay=4)  # longer than KLING_GENERATION_TIMEOUT
    open_studio(page, live_studio.url)
    generate(page, "Fireworks over a harbour, drone shot, slow motion")
    expect(page.get_by_text("Failed · possibly billed")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("before retrying")).to_be_visible()
    sent = firemoon.post_count
    expect(page.get_by_text(re.compile(r"Possibly billed")).first).to_be_visible()

    page.get_by_role("button", name="Retry…").click()
    expect(page.get_by_text(re.compile(r"may cost another \$1\.40"))).to_be_visible()
    page.screenshot(path="/tmp/shots/trust-possibly-billed.png", full_page=True)
    assert firemoon.post_count == sent  # asking sends nothing
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Retry…")).to_be_visible()
    assert firemoon.post_count == sent

    firemoon.post = firemoon.succeed()
    page.get_by_role("button", name="Retry…").click()
    page.get_by_role("button", name=re.compile(r"Retry anyway \(\$1\.40\)")).click()
    video = page.locator("video").first
    expect(video).to_be_attached(timeout=30_000)
    assert firemoon.post_count == sent + 1
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.5 && !v.paused", arg=video.element_handle())
