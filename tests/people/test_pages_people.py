"""Every page, signed out and for every role, through AppTest with `at.user`: what each
person is shown, what is hidden from them, and what the core refuses all the same."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from kling.history import HistoryLog
from kling.people import BudgetFile, Budgets
from tests.conftest import APP
from tests.page_text import plain
from tests.test_page_history import markdown_of, succeed

PAGES = ["pages/generate.py", "pages/storyboard.py", "pages/templates.py", "pages/history.py"]
TEAM = "pages/team.py"
SECRET_PROMPT = "Confidential launch: a silver drone over the harbour, slow orbit"

PEOPLE = {
    "viewer": ("vi@acme.com", "Vi Viewer"),
    "creator": ("cy@acme.com", "Cy Creator"),
    "approver": ("bo@acme.com", "Bo Approver"),
    "admin": ("ana@acme.com", "Ana Admin"),
}
SIGN_IN = """
[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "a-cookie-secret-for-tests-only"
client_id = "kling-studio"
client_secret = "client-secret-for-tests"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"

[roles]
admins = ["ana@acme.com"]
approvers = ["bo@acme.com"]
creators = ["cy@acme.com"]
"""


@pytest.fixture
def team(studio_env, isolated_settings):
    """Sign-in configured (the test's own secrets file), one generation already made."""
    isolated_settings.write_text(SIGN_IN)
    gen_id = succeed(HistoryLog(studio_env), studio_env, SECRET_PROMPT, seed=3,
                     created_by="cy@acme.com")
    return {"data": studio_env, "gen_id": gen_id}


def signed_in(role: str | None, page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if role is None:
        at.user = {"is_logged_in": False}
    else:
        email, name = PEOPLE[role]
        at.user = {"is_logged_in": True, "email": email, "name": name}
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def text(at: AppTest) -> str:
    return plain(markdown_of(at) + "\n" + "\n".join(str(m.value) for m in at.metric))


def buttons(at: AppTest) -> dict[str, object]:
    return {b.key: b for b in at.button if b.key}


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_every_page_shows_only_the_sign_in_screen(team, page):
    for at in (signed_in(None, page), signed_in(None, page, id=team["gen_id"])):
        assert list(buttons(at)) == ["sign_in"]
        shown = text(at)
        assert "Sign in with your company account" in shown
        assert SECRET_PROMPT not in str(at._tree) and team["gen_id"] not in str(at._tree)
        assert not at.sidebar.metric and not at.get("video")


@pytest.mark.parametrize("role", list(PEOPLE))
@pytest.mark.parametrize("page", PAGES)
def test_every_role_sees_every_page_with_their_name_and_a_way_out(team, role, page):
    at = signed_in(role, page)
    email, name = PEOPLE[role]
    sidebar = plain(" ".join(str(m.value) for m in at.sidebar.markdown))
    assert f"Signed in as **{name}**" in sidebar
    assert f"Role: {role}" in plain(" ".join(str(c.value) for c in at.sidebar.caption))
    assert "sign_out" in {b.key for b in at.sidebar.button}


def test_a_viewer_has_no_generate_button_and_is_told_why(team):
    at = signed_in("viewer")
    assert "generate" not in buttons(at) and "batch_queue" not in buttons(at)
    assert "Only people with the creator role or above may generate" in text(at)
    assert "ana@acme.com" in text(at)  # whom to ask
    links = [link.proto.page for link in at.get("page_link")]
    assert "history" in links and "Your generations will appear" not in text(at)


def test_a_viewer_watches_and_comments_but_cannot_curate_review_rerun_or_remove(team):
    gen_id = team["gen_id"]
    at = signed_in("viewer", "pages/history.py", id=gen_id)
    assert SECRET_PROMPT in text(at)  # viewers watch
    keys = buttons(at)
    for hidden in (f"rerun-{gen_id}", f"remix-{gen_id}", f"remove-{gen_id}"):
        assert hidden not in keys
    assert at.segmented_control(key=f"review-{gen_id}").disabled
    assert at.toggle(key=f"fav-{gen_id}").disabled
    assert at.text_input(key=f"tags-{gen_id}").disabled
    at.text_area(key=f"notes-{gen_id}").input("Lovely light at 0:03")
    at.button(key=f"save-notes-{gen_id}").click().run()
    row = HistoryLog(team["data"]).get(gen_id)
    assert row["notes"] == "Lovely light at 0:03" and row["notes_by"] == "vi@acme.com"
    assert "Notes by vi@acme.com" in text(at)


def test_a_creator_generates_under_their_name_but_cannot_approve(team):
    at = signed_in("creator")
    at.text_area(key="gen_prompt").input("A paper boat on a rain puddle, macro shot").run()
    at.button(key="generate").click().run()
    assert not at.exception
    mine = HistoryLog(team["data"]).load()
    made = mine[mine["prompt"].str.startswith("A paper boat")]
    assert list(made["created_by"]) == ["cy@acme.com"]
    at = signed_in("creator", "pages/history.py", id=team["gen_id"])
    assert at.segmented_control(key=f"review-{team['gen_id']}").disabled
    assert f"rerun-{team['gen_id']}" in buttons(at)


def test_an_approvers_approval_carries_their_name(team):
    gen_id = team["gen_id"]
    at = signed_in("approver", "pages/history.py", id=gen_id)
    at.segmented_control(key=f"review-{gen_id}").set_value("approved").run()
    row = HistoryLog(team["data"]).get(gen_id)
    assert (row["review_status"], row["reviewed_by"]) == ("approved", "bo@acme.com")
    at = signed_in("viewer", "pages/history.py", id=gen_id)
    shown = text(at)
    assert "Approved by bo@acme.com" in shown
    trail = at.dataframe[-1].value
    assert list(trail["Who"]) == ["cy@acme.com", "bo@acme.com"]
    assert list(trail["What"]) == ["Generated", "Reviewed"]


def test_only_an_admin_removes(team):
    gen_id = team["gen_id"]
    for role in ("viewer", "creator", "approver"):
        at = signed_in(role, "pages/history.py", id=gen_id)
        assert f"remove-{gen_id}" not in buttons(at)
    at = signed_in("admin", "pages/history.py", id=gen_id)
    assert f"remove-{gen_id}" in buttons(at)


def test_the_admin_sets_budgets_on_the_team_page(team):
    at = signed_in("admin", TEAM)
    at.number_input(key="budget_team").set_value(50.0)
    at.number_input(key="budget_person").set_value(2.0)
    form_submit = next(b for b in at.button if b.label == "Save budgets")
    form_submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = BudgetFile(team["data"]).load()
    assert (saved.team_usd, saved.person_usd, saved.updated_by) == (50.0, 2.0, "ana@acme.com")
    assert "Budgets saved." in text(at)
    people = at.dataframe[-1].value
    creator = people[people["person"] == "cy@acme.com"].iloc[0]
    assert creator["role"] == "creator" and creator["this_month"] == pytest.approx(1.40)


@pytest.mark.parametrize("role", ["viewer", "creator", "approver"])
def test_the_team_page_is_an_admins(team, role):
    at = signed_in(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(TEAM)  # not in their navigation, so no address reaches it


def test_a_generation_over_budget_is_refused_with_the_numbers(team):
    BudgetFile(team["data"]).save(Budgets(person_usd=2.00))
    at = signed_in("creator")
    at.text_area(key="gen_prompt").input("A paper boat on a rain puddle, macro shot").run()
    at.button(key="generate").click().run()
    shown = plain(" ".join(e.value for e in at.error))
    # $1.40 of the creator's $2.00 is spent already (the generation made in `team`).
    assert "Your monthly budget has $0.60 left this month; this generation needs $1.40" in shown
    assert len(HistoryLog(team["data"]).load()) == 1


def test_a_copied_generate_link_opens_the_readers_own_jobs(team):
    at = signed_in("creator")
    at.text_area(key="gen_prompt").input("A paper boat on a rain puddle, macro shot").run()
    at.button(key="generate").click().run()
    assert "paper boat" in text(at)
    assert "s" not in at.query_params  # nothing of theirs in the address to copy
    # A colleague opens the link, or one with a token in it: their own (no) jobs.
    for query in ({}, {"s": "AbCdEfGh12345678"}):
        assert "paper boat" not in text(signed_in("approver", **query))
    assert "paper boat" in text(signed_in("creator"))  # theirs follow them anywhere


def test_people_can_be_filtered_on_history(team):
    log = HistoryLog(team["data"])
    succeed(log, team["data"], "A red kite over white dunes, wide shot", seed=4,
            created_by="bo@acme.com")
    at = signed_in("viewer", "pages/history.py")
    at.multiselect(key="by").select("bo@acme.com").run()
    assert "red kite" in text(at) and SECRET_PROMPT not in text(at)
