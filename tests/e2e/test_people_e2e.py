"""People in the browser, signed in through a real OpenID Connect provider on loopback
(`oidc-provider-mock`, `tests/e2e/oidc.py`): two people's jobs stay apart, an approval
carries the approver's name, a viewer has no Generate button and a click on a control
re-enabled by tampering changes nothing, and a signed-out browser sees no data on any
page or deep link."""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from playwright.sync_api import expect

from kling.history import HistoryLog
from tests.e2e.conftest import (
    StudioServer, assert_video_plays, click_and_wait, commit_text, free_port, open_studio,
    wait_loaded,
)
from tests.e2e.tamper import enable_disabled_controls
from tests.e2e.oidc import OidcProvider, auth_secrets, block_cdn, confirm_sign_out, sign_in
from tests.test_page_history import succeed

pytestmark = pytest.mark.e2e

PEOPLE = {"ana@acme.com": "Ana Admin", "bo@acme.com": "Bo Approver",
          "cy@acme.com": "Cy Creator", "vi@acme.com": "Vi Viewer"}
ROLES = """
[roles]
admins = ["ana@acme.com"]
approvers = ["bo@acme.com"]
creators = ["cy@acme.com"]
"""
EARLIER = "Confidential: a silver drone over the harbour at dawn, slow orbit"


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[tuple[StudioServer, str]]:
    """A studio with sign-in, one generation already made by the creator."""
    folder = tmp_path_factory.mktemp("people")
    data = folder / "data"
    data.mkdir()
    earlier = succeed(HistoryLog(data), data, EARLIER, seed=8, created_by="cy@acme.com")
    with OidcProvider(log_dir=folder) as provider:
        for email, name in PEOPLE.items():
            provider.add_user(email, name=name)
        port = free_port()
        secrets = folder / "secrets.toml"
        secrets.write_text(auth_secrets(provider, port) + ROLES)
        with StudioServer(data, {"KLING_SECRETS_FILE": str(secrets)}, port=port) as server:
            yield server, earlier


def person(new_page, server: StudioServer, email: str):
    """A fresh browser context signed in as `email`, on the Generate page."""
    page = new_page()
    block_cdn(page.context)
    open_studio(page, server.url)
    page.get_by_role("button", name="Sign in").click()
    sign_in(page, email)
    expect(page.get_by_text(f"Signed in as {PEOPLE[email]}")).to_be_visible()
    return page


def generate(page, prompt: str) -> None:
    commit_text(page.get_by_label("Prompt", exact=True), prompt)
    click_and_wait(page.get_by_role("button", name="Generate", exact=True))


def test_a_signed_out_browser_sees_only_the_sign_in_screen(new_page, team):
    server, earlier = team
    page = new_page()
    for path in ("/", "/storyboard", "/templates", "/history", f"/history?id={earlier}",
                 "/team", "/?s=AbCdEfGh12345678"):
        page.goto(server.url + path)
        wait_loaded(page)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        body = page.locator("body").inner_text()
        assert EARLIER not in body and earlier not in body, path
        for control in ("Generate", "Sign out", "Save budgets"):
            expect(page.get_by_role("button", name=control, exact=True)).to_have_count(0)
        expect(page.get_by_text("Spend today")).to_have_count(0)
        expect(page.locator("video")).to_have_count(0)


def test_two_people_sign_in_and_their_jobs_stay_apart(new_page, team):
    server, _ = team
    cy = person(new_page, server, "cy@acme.com")
    bo = person(new_page, server, "bo@acme.com")
    generate(cy, "Cy's kite rising over white dunes, tracking shot")
    generate(bo, "Bo's paper boat on a rain puddle, macro shot")
    for page, mine, theirs in ((cy, "Cy's kite", "Bo's paper boat"),
                               (bo, "Bo's paper boat", "Cy's kite")):
        expect(page.locator("video")).to_have_count(1, timeout=60_000)
        expect(page.get_by_text(mine).first).to_be_visible()
        expect(page.get_by_text(theirs)).to_have_count(0)
        assert "s=" not in page.url  # nothing of theirs in a link they copy
    assert_video_plays(cy.locator("video").first)
    made = HistoryLog(server.data_dir).load().set_index("prompt")["created_by"]
    assert made["Cy's kite rising over white dunes, tracking shot"] == "cy@acme.com"
    assert made["Bo's paper boat on a rain puddle, macro shot"] == "bo@acme.com"

    # Cy's address, opened by Bo, opens Bo's own jobs.
    bo.goto(cy.url)
    wait_loaded(bo)
    expect(bo.get_by_text("Bo's paper boat").first).to_be_visible()
    expect(bo.get_by_text("Cy's kite")).to_have_count(0)


def test_an_approval_carries_the_approvers_name(new_page, team):
    server, earlier = team
    bo = person(new_page, server, "bo@acme.com")
    bo.goto(f"{server.url}/history?id={earlier}")
    wait_loaded(bo)
    dialog = bo.get_by_role("dialog")
    approved = dialog.get_by_role("radio", name="Approved")
    click_and_wait(approved)
    expect(approved).to_have_attribute("aria-checked", "true")
    # The page keeps an address from turning into a link with an invisible word joiner.
    expect(dialog.get_by_text(re.compile("Approved by bo\u2060?@acme\\.com"))).to_be_visible()
    row = HistoryLog(server.data_dir).get(earlier)
    assert (row["review_status"], row["reviewed_by"]) == ("approved", "bo@acme.com")


def test_a_viewer_cannot_generate_and_a_tampered_review_changes_nothing(new_page, team):
    server, earlier = team
    vi = person(new_page, server, "vi@acme.com")
    expect(vi.get_by_text("Only people with the creator role or above may generate")
           ).to_be_visible()
    expect(vi.get_by_role("button", name="Generate", exact=True)).to_have_count(0)

    vi.goto(f"{server.url}/history?id={earlier}")
    wait_loaded(vi)
    dialog = vi.get_by_role("dialog")
    expect(dialog.locator("video")).to_have_count(1)  # viewers watch
    expect(dialog.get_by_role("radio", name="Rejected")).to_be_disabled()

    # Crafted: the same page, its disabled controls enabled by tampering, clicked.
    enable_disabled_controls(vi)
    vi.reload()
    wait_loaded(vi)
    rejected = vi.get_by_role("dialog").get_by_role("radio", name="Rejected")
    expect(rejected).to_be_enabled()
    before = HistoryLog(server.data_dir).get(earlier)["review_status"]
    click_and_wait(rejected)
    # Streamlit discards a value sent for a widget it drew disabled, before any callback;
    # the core's own refusal behind it is tested without a page (tests/people).
    expect(rejected).to_have_attribute("aria-checked", "false")
    expect(vi.get_by_text("Marked rejected")).to_have_count(0)
    assert HistoryLog(server.data_dir).get(earlier)["review_status"] == before

    click_and_wait(vi.get_by_role("dialog").get_by_role("button", name="Close"))
    vi.get_by_role("button", name="Sign out").click()  # leaves for the provider
    confirm_sign_out(vi)
    expect(vi.get_by_role("button", name="Sign in")).to_be_visible()
    assert EARLIER not in vi.locator("body").inner_text()
