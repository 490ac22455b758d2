"""Per-process services and per-person state of the studio.

`studio()` builds the core services once per server process (`st.cache_resource`), so the
job queue and its worker threads outlive page switches and browser reloads, and hands
each run the studio as its person may use it (`Studio.for_person`).

Who that person is: with sign-in configured (`[auth]` in the secrets file), whoever
`st.user` says signed in, and nobody sees anything before signing in. Without it, the one
local user. `owner()` ties a person's jobs to them: their email when signed in (so a
copied link opens the reader's own jobs), else a token in the URL (`?s=`), so a reload
finds the same jobs and two browsers each see their own.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import pkgutil
import re
import secrets
from pathlib import Path
from typing import Any

import streamlit as st

from kling.errors import StorageError
from kling.people import Person, Role, local_person, signed_in_person
from kling.services import Studio, open_studio
from kling.stores import HistoryStore
from kling.settings import Settings, SettingsError
from kling.ui.text import literal

GENERATE_PAGE = "pages/generate.py"
STORYBOARD_PAGE = "pages/storyboard.py"
TEMPLATES_PAGE = "pages/templates.py"
HISTORY_PAGE = "pages/history.py"
TEAM_PAGE = "pages/team.py"

log = logging.getLogger("kling.ui.state")

_OWNER_PARAM = "s"
_OWNER_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
_HANDOFF_KEY = "_handoff"
#: Set once app.py has built the navigation in this server process.
_navigation_built = False
#: Set once start-up's objects were frozen (`_freeze_startup_objects`).
_frozen = False
#: What Streamlit imports only when a page first shows a table (frozen with the rest).
_IMPORTED_ON_FIRST_USE = ("narwhals", "narwhals.stable.v1", "narwhals.stable.v2")


def studio_pages() -> list:
    """The studio's pages for `st.navigation`, in the order people use them; the Team
    page (budgets) only for a signed-in admin."""
    global _navigation_built
    _navigation_built = True
    pages = [
        st.Page(GENERATE_PAGE, title="Generate", icon=":material/movie:", default=True),
        st.Page(STORYBOARD_PAGE, title="Storyboard", icon=":material/view_timeline:"),
        st.Page(TEMPLATES_PAGE, title="Templates", icon=":material/library_books:"),
        st.Page(HISTORY_PAGE, title="History", icon=":material/history:"),
    ]
    if _signed_in_admin():
        pages.append(st.Page(TEAM_PAGE, title="Team", icon=":material/group:"))
    return pages


def _signed_in_admin() -> bool:
    services = _services()
    if not services.people.sign_in or not st.user.is_logged_in or not st.user.get("email"):
        return False
    return services.people.roles.role_for(str(st.user.get("email"))) is Role.ADMIN


def leave_legacy_pages_mode() -> None:
    """Make sure this page runs under app.py's navigation.

    Until app.py has run once, Streamlit treats the `pages/` folder as old-style
    automatic pages, so a link to a page as a fresh server's very first request would
    run the page without app.py's navigation and layout. One rerun goes through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not _navigation_built and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner="Starting the studio…")
def _open(settings: Settings) -> Studio:
    opened = open_studio(settings)
    _freeze_startup_objects()
    return opened


def _freeze_startup_objects() -> None:
    """Move what start-up built (modules, classes, the services) out of the garbage
    collector's sight, once per process.

    Streamlit collects garbage fully after every script and fragment run
    (`runner.postScriptGC`), and a full collection walks every tracked object: about
    150,000 of them live as long as the process (Streamlit's, pandas', Altair's, the
    studio's), which made each run's collection cost 60-120 ms, more than the run
    itself. Frozen, they are no longer walked (a collection then takes about a
    millisecond); what later runs make is collected as before. The pages' own modules
    and what they import on first use (Altair, Jinja, narwhals) are imported first so
    that they are frozen too. Frozen objects are only ever freed by reference counting,
    which is all that objects living as long as the process need (the objects of the
    page run under way are frozen with them, once: a cycle among those is never freed).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    import kling.ui

    names = [m.name for m in pkgutil.iter_modules(kling.ui.__path__, "kling.ui.")]
    for name in names + list(_IMPORTED_ON_FIRST_USE):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - only an optimisation: the page says what broke
            log.warning("%s could not be imported at start-up", name, exc_info=True)
    gc.collect()
    gc.freeze()


def _services() -> Studio:
    """The process's services; a bad setting stops the page with a message saying what to fix."""
    try:
        settings = Settings.load()
    except SettingsError as exc:
        st.error(f"Kling Studio cannot start: {literal(exc)}")
        st.stop()
    try:
        return _open(settings)
    except (SettingsError, StorageError, OSError) as exc:
        st.error(f"Kling Studio cannot start: {literal(exc)}")
        st.stop()


def studio() -> Studio:
    """The studio as the person of this session may use it; stops at the sign-in screen
    while nobody is signed in."""
    services = _services()
    person = _person(services)
    if services.people.sign_in:
        st.session_state["_signed_in_owner"] = person.email
    return services.for_person(person)


def shared_history() -> HistoryStore:
    """The process's history for reads shared by every session (the sidebar's spend),
    so that one computation serves them all."""
    return _services().history


def _person(services: Studio) -> Person:
    if not services.people.sign_in:
        return local_person()
    if importlib.util.find_spec("authlib") is None:
        st.error(f"Sign-in is configured in {literal(services.settings.secrets_path)}, but "
                 "the packages it needs are not installed. Install them with "
                 "`.venv/bin/pip install -r requirements-team.txt`, then restart the studio.")
        st.stop()
    if not _streamlit_reads_our_secrets(services):
        st.error("Sign-in is configured in "
                 f"{literal(services.settings.secrets_path)}, but Streamlit was started "
                 "with other secrets files, so it cannot sign anyone in. Start the studio "
                 "with `make run`, or add `--secrets.files` naming that file.")
        st.stop()
    if not st.user.is_logged_in:
        _sign_in_screen()
        st.stop()
    email = st.user.get("email")
    if not email:
        st.error("Your sign-in did not say your email address, which the studio needs to "
                 "know who you are. Ask whoever runs the company's sign-in to share it.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return signed_in_person(services.people, str(email), str(st.user.get("name") or ""))


def _streamlit_reads_our_secrets(services: Studio) -> bool:
    from streamlit import config

    ours = services.settings.secrets_path.resolve()
    return any(Path(path).resolve() == ours for path in config.get_option("secrets.files"))


def _sign_in_screen() -> None:
    """What a signed-out browser sees on every page and deep link: no data, one button."""
    st.title("Kling Studio")
    st.write("Sign in with your company account to make and review videos.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login,
              key="sign_in")


def owner(*, in_url: bool = False) -> str:
    """What ties this person's jobs to them.

    Signed in, it is their email: their jobs follow them to any browser, and a copied
    link carries nothing of them. Without sign-in it is a token; with `in_url` (the
    Generate page, where the jobs are followed) it is kept in the address, so that a
    reload finds the same jobs. Other pages keep it out of the address, because their
    links are meant to be shared and must not hand someone else this person's jobs.
    """
    signed_in = st.session_state.get("_signed_in_owner")
    if signed_in:
        if _OWNER_PARAM in st.query_params:
            del st.query_params[_OWNER_PARAM]
        return signed_in
    token = st.session_state.get("_owner")
    if not token:
        from_url = st.query_params.get(_OWNER_PARAM, "") if in_url else ""
        token = from_url if _OWNER_PATTERN.match(from_url) else secrets.token_urlsafe(9)
        st.session_state["_owner"] = token
    if in_url:
        # Page switches clear the query string; put the token back on every run.
        if st.query_params.get(_OWNER_PARAM) != token:
            st.query_params[_OWNER_PARAM] = token
    elif _OWNER_PARAM in st.query_params:
        del st.query_params[_OWNER_PARAM]
    return token


def generate_link(owner: str) -> dict[str, str]:
    """The query parameters of a link to Generate that opens this person's jobs (none for
    a signed-in person, whose jobs are theirs wherever they open it)."""
    return {_OWNER_PARAM: owner} if _OWNER_PATTERN.match(owner) else {}


def open_in_generate(
    prompt: str,
    *,
    duration: str = "5",
    aspect_ratio: str = "16:9",
    seed: int | None = None,
    template: dict[str, Any] | None = None,
) -> None:
    """Switch to Generate with its form filled in (from Templates, History or a re-run).

    `template` is {"id", "version", "name", "vars"} when the prompt came from a template,
    so that the generations it starts record which one.
    """
    st.session_state[_HANDOFF_KEY] = {
        "prompt": prompt, "duration": str(duration), "aspect_ratio": aspect_ratio,
        "seed": seed, "template": template,
    }
    st.switch_page(GENERATE_PAGE, query_params=generate_link(owner()))


def take_handoff() -> dict[str, Any] | None:
    """What another page asked Generate to show, once."""
    return st.session_state.pop(_HANDOFF_KEY, None)
