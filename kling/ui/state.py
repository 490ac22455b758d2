"""Per-process services and per-person state of the studio.

`studio()` builds the core services once per server process (`st.cache_resource`), so the
job queue and its worker threads outlive page switches and browser reloads. `owner()` is
the token that ties a person's jobs to their browser tab: it lives in the URL (`?s=`), so
a reload finds the same jobs and two people each see their own.
"""

from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import re
import secrets
from typing import Any

import streamlit as st

from kling.services import Studio, open_studio
from kling.settings import Settings, SettingsError
from kling.ui.text import literal

GENERATE_PAGE = "pages/generate.py"
STORYBOARD_PAGE = "pages/storyboard.py"
TEMPLATES_PAGE = "pages/templates.py"
HISTORY_PAGE = "pages/history.py"

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
    """The studio's pages for `st.navigation`, in the order people use them."""
    global _navigation_built
    _navigation_built = True
    return [
        st.Page(GENERATE_PAGE, title="Generate", icon=":material/movie:", default=True),
        st.Page(STORYBOARD_PAGE, title="Storyboard", icon=":material/view_timeline:"),
        st.Page(TEMPLATES_PAGE, title="Templates", icon=":material/library_books:"),
        st.Page(HISTORY_PAGE, title="History", icon=":material/history:"),
    ]


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


def studio() -> Studio:
    """The studio's services; a bad setting stops the page with a message that says what to fix."""
    try:
        settings = Settings.load()
    except SettingsError as exc:
        st.error(f"Kling Studio cannot start: {literal(exc)}")
        st.stop()
    try:
        return _open(settings)
    except (SettingsError, OSError) as exc:
        st.error(f"Kling Studio cannot start: {literal(exc)}")
        st.stop()


def owner(*, in_url: bool = False) -> str:
    """This person's token, which ties their jobs to their browser tab.

    With `in_url` (the Generate page, where the jobs are followed) it is kept in the
    address, so that a reload finds the same jobs. Other pages keep it out of the
    address, because their links are meant to be shared and must not hand someone
    else this person's jobs.
    """
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
    """The query parameters of a link to Generate that opens this person's jobs."""
    return {_OWNER_PARAM: owner}


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
