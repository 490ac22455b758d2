"""A damaged template file in the browser: the Templates page still shows the built-ins,
says once what is wrong, and sets the file aside on request (kept on disk); its category
pills and "New template" read in full at 1400 px; the History Analysis tab draws "Most
used templates" as readable bars with two templates.

Every interaction waits for the rerun it starts and is followed by an auto-retrying
`expect` on the state it produces (see tests/e2e/conftest.py). Screenshots go to
/tmp/shots/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult
from kling.templates import BUILTIN_TEMPLATES
from tests.e2e.conftest import (
    DEFAULT_TIMEOUT,
    StudioServer,
    click_and_wait,
    open_studio,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
WINDOW = {"width": 1400, "height": 1000}
TRUNCATED = (b'{"format": "kling-studio-templates", "format_version": 1, "templates": '
             b'[{"id": "tpl-1a2b3c4d5e6f", "versions": [{"version": 1, "name": "Sum')
#: Two templates used: three videos from one, two from the other.
USED = {"TikTok hook": ("builtin-tiktok-hook", 3),
        "Product launch hero shot": ("builtin-product-launch", 2)}

#: Why an element does not read in full: a part of it cut by its own width (an ellipsis),
#: or the element reaching past an ancestor that clips (a row that scrolls sideways).
_CUT_OFF = """
(el) => {
  const problems = [];
  for (const node of [el, ...el.querySelectorAll("*")]) {
    if (node.clientWidth > 0 && node.scrollWidth > node.clientWidth + 1) {
      problems.push(`${node.tagName} shows ${node.clientWidth} of ${node.scrollWidth} px`);
    }
  }
  const box = el.getBoundingClientRect();
  for (let up = el.parentElement; up; up = up.parentElement) {
    if (getComputedStyle(up).overflowX === "visible") continue;
    const frame = up.getBoundingClientRect();
    if (box.left < frame.left - 1 || box.right > frame.right + 1) {
      problems.push(`cut by ${up.tagName}.${up.className} at ${Math.round(frame.right)} px`);
    }
  }
  return problems;
}
"""


def assert_reads_in_full(locator) -> None:
    """Wait until `locator` reads in full (layout settles after fonts load); else say how
    it is cut off."""
    expect(locator).to_be_visible()
    handle = locator.element_handle()
    try:
        locator.page.wait_for_function(f"(el) => ({_CUT_OFF})(el).length === 0", arg=handle,
                                       timeout=10_000)
    except PlaywrightTimeoutError:
        problems = handle.evaluate(_CUT_OFF)
        raise AssertionError(f"{locator} is cut off: {problems}") from None


def seed_history(data_dir: Path) -> None:
    log = HistoryLog(data_dir)
    seed = 100
    for template_id, uses in USED.values():
        for _ in range(uses):
            seed += 1
            gen_id = log.record_pending(
                GenerationRequest.create("Waves crash on a black beach, drone shot", "5",
                                         "16:9", seed),
                template_id=template_id, template_version=1)
            log.record_success(gen_id, GenerationResult.parse({
                "videos": [{"url": "https://videos.example/v.mp4", "duration": 5,
                            "width": 1920, "height": 1080, "content_type": "video/mp4"}],
                "seed": seed, "timings": {"inference": 10 + seed % 7}}), elapsed_s=12)


@pytest.fixture
def damaged_studio(tmp_path) -> Iterator[StudioServer]:
    data_dir = tmp_path / "data"
    seed_history(data_dir)
    (data_dir / "templates.json").write_bytes(TRUNCATED)
    with StudioServer(data_dir) as server:
        yield server


@pytest.fixture
def window(browser):
    """A page of a 1,400 × 1,000 window, the size the layout checks are about."""
    context = browser.new_context(viewport=WINDOW)
    page = context.new_page()
    page.set_default_timeout(DEFAULT_TIMEOUT)
    yield page
    context.close()


def test_damaged_library_is_recovered_in_the_browser(window, damaged_studio):
    page, data_dir = window, damaged_studio.data_dir
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_studio(page, f"{damaged_studio.url}/templates")

    # The built-ins are there, and one message says what is wrong.
    for template in BUILTIN_TEMPLATES[:3]:
        expect(page.locator(f".st-key-tpl_card_{template.id}")).to_be_visible()
    message = page.get_by_text("is damaged")
    expect(message).to_have_count(1)
    expect(message).to_be_visible()
    expect(page.get_by_text("cut short")).to_have_count(1)
    set_aside = page.get_by_role("button", name="Set the damaged file aside")
    expect(set_aside).to_be_enabled()
    expect(page.get_by_role("button", name="New template")).to_be_disabled()

    # At 1,400 px the category pills wrap instead of cutting "Storytelling" off.
    categories = page.get_by_role("radiogroup", name="Category")
    for category in ("Marketing", "Social media", "Product demo", "Storytelling"):
        assert_reads_in_full(categories.get_by_role("radio", name=category, exact=True))
    assert_reads_in_full(page.get_by_role("button", name="New template"))
    page.screenshot(path=str(SHOTS / "templates-damaged.png"))

    click_and_wait(set_aside)
    expect(page.get_by_text("is damaged")).to_have_count(0)
    expect(page.get_by_text("The damaged file is set aside and your team's library "
                            "starts afresh")).to_be_visible()
    new_template = page.get_by_role("button", name="New template")
    expect(new_template).to_be_enabled()
    assert_reads_in_full(new_template)
    assert_reads_in_full(categories.get_by_role("radio", name="Storytelling", exact=True))
    expect(page.locator(f".st-key-tpl_card_{BUILTIN_TEMPLATES[0].id}")).to_be_visible()
    page.screenshot(path=str(SHOTS / "templates-after-set-aside.png"))

    # The damaged file is kept, renamed, byte for byte; the library starts afresh.
    kept = sorted(data_dir.glob("templates.damaged-*.json"))
    assert [path.read_bytes() for path in kept] == [TRUNCATED]
    expect(page.get_by_text(kept[0].name)).to_be_visible()
    assert not (data_dir / "templates.json").exists()

    # A template of the team's own can be started again.
    click_and_wait(new_template)
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_be_visible()


def test_most_used_templates_are_readable_bars(window, damaged_studio):
    page = window
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_studio(page, f"{damaged_studio.url}/history?view=Analysis")
    column = page.locator('[data-testid="stColumn"]').filter(
        has=page.get_by_text("Most used templates", exact=True))
    chart = column.locator('[data-testid="stVegaLiteChart"]')
    for name in USED:  # names come from the built-ins even though the team file is damaged
        expect(chart.locator("text", has_text=name).first).to_be_visible()
    column.evaluate("el => el.scrollIntoView({block: 'center'})")
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "history-analysis-templates.png"))
    column.screenshot(path=str(SHOTS / "history-most-used-templates.png"))

    labels = [chart.locator("text", has_text=name).first.bounding_box() for name in USED]
    top, bottom = sorted(labels, key=lambda box: box["y"])
    assert top["y"] + top["height"] <= bottom["y"], f"labels overlap: {labels}"
    bars = [box for box in (bar.bounding_box() for bar in
                            chart.locator(".mark-rect path").all()) if box]
    assert len(bars) == len(USED)
    assert all(box["height"] >= 16 for box in bars), f"bars too thin: {bars}"
    widest = max(bars, key=lambda box: box["width"])
    assert widest["width"] > 1.4 * min(box["width"] for box in bars)  # 3 uses against 2
    for count in ("3 videos", "2 videos"):  # each bar says what it counts
        expect(chart.locator("text", has_text=count)).to_be_visible()
