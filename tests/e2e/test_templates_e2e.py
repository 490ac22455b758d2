"""A marketer in the browser: pick a template, fill its blanks, use it in Generate,
generate, and find the template named on the result and in the history.

Every interaction waits for the rerun it starts and is followed by an auto-retrying
`expect` on the state it produces (see tests/e2e/conftest.py)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import click_and_wait, commit_text, open_studio, rerun_after

pytestmark = pytest.mark.e2e

TEMPLATE_ID = "builtin-product-360"
TEMPLATE_NAME = "360° product spin"


def fill(page, label: str, text: str) -> None:
    # exact: a widget's help icon is labelled "Help for <label>".
    box = page.get_by_role("textbox", name=label, exact=True)
    # A live box: it sends what is typed by itself; leaving it sends at once.
    commit_text(box, text)


def test_template_to_generate_to_result(page, studio_server):
    open_studio(page, studio_server.url)
    rerun_after(page, page.get_by_role("link", name="Templates").click)
    card = page.locator(f".st-key-tpl_card_{TEMPLATE_ID}")
    click_and_wait(card.get_by_role("button", name="Use this template"))
    expect(page.get_by_role("textbox", name="Product", exact=True)).to_be_visible()

    fill(page, "Product", "A red trail-running shoe")
    fill(page, "Background", "sunset orange")
    expected = ("A red trail-running shoe spins slowly on a turntable, camera orbits at eye "
                "level, steady pace, sunset orange background, crisp studio light")
    expect(page.locator('[data-testid="stCode"]').filter(has_text=expected)).to_be_visible()
    expect(page.get_by_text(f"{len(expected)} characters")).to_be_visible()

    click_and_wait(page.get_by_role("button", name="Use in Generate"))
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    expect(prompt).to_have_value(expected)
    expect(page.get_by_text(f"From template {TEMPLATE_NAME}")).to_be_visible()

    click_and_wait(page.get_by_role("button", name="Generate", exact=True))
    page.wait_for_function("() => document.querySelectorAll('video').length >= 1",
                           timeout=30_000)
    named = re.compile(
        rf"template “?({re.escape(TEMPLATE_ID)}|{re.escape(TEMPLATE_NAME)})”? v1")
    expect(page.get_by_text(named).first).to_be_visible()
    page.screenshot(path=str(studio_server.data_dir.parent / "template-result.png"),
                    full_page=True)

    history = pd.read_csv(studio_server.data_dir / "history.csv", dtype=str)
    row = history[history["prompt"] == expected].iloc[-1]
    assert row["template_id"] == TEMPLATE_ID
    assert row["template_version"] == "1"
