"""A marketer in the browser: pick a template, fill its blanks, use it in Generate,
generate, and find the template named on the result and in the history."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.e2e.conftest import open_studio, wait_idle

pytestmark = pytest.mark.e2e

TEMPLATE_ID = "builtin-product-360"
TEMPLATE_NAME = "360° product spin"


def fill(page, label: str, text: str) -> None:
    # exact: a widget's help icon is labelled "Help for <label>".
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Enter")  # commits the value, as leaving the box would
    wait_idle(page)


def test_template_to_generate_to_result(page, studio_server):
    open_studio(page, studio_server.url)
    page.get_by_role("link", name="Templates").click()
    card = page.locator(f".st-key-tpl_card_{TEMPLATE_ID}")
    card.get_by_role("button", name="Use this template").click()
    wait_idle(page)

    fill(page, "Product", "A red trail-running shoe")
    fill(page, "Background", "sunset orange")
    expected = ("A red trail-running shoe spins slowly on a turntable, camera orbits at eye "
                "level, steady pace, sunset orange background, crisp studio light")
    page.locator('[data-testid="stCode"]').filter(has_text=expected).wait_for()
    assert page.get_by_text(f"{len(expected)} characters").is_visible()

    page.get_by_role("button", name="Use in Generate").click()
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.wait_for()
    wait_idle(page)
    assert prompt.input_value() == expected
    assert page.get_by_text(f"From template {TEMPLATE_NAME}").is_visible()

    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('video').length >= 1",
                           timeout=30_000)
    named = re.compile(
        rf"template “?({re.escape(TEMPLATE_ID)}|{re.escape(TEMPLATE_NAME)})”? v1")
    page.get_by_text(named).first.wait_for()
    page.screenshot(path=str(studio_server.data_dir.parent / "template-result.png"),
                    full_page=True)

    history = pd.read_csv(studio_server.data_dir / "history.csv", dtype=str)
    row = history[history["prompt"] == expected].iloc[-1]
    assert row["template_id"] == TEMPLATE_ID
    assert row["template_version"] == "1"
