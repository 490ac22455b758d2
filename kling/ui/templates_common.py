"""What the Templates page's parts share: which template is open, one-off notices, text.

Everything a person chose on the page lives in `st.session_state` under `tpl_*` keys.
State that widgets depend on (selecting, duplicating, saving) changes in button callbacks,
so that the run which follows already draws the new state.
"""

from __future__ import annotations

import re
from datetime import datetime

import streamlit as st

from kling.templates import TemplateError, TemplateLibrary
from kling.ui.state import GENERATE_PAGE
from kling.ui.text import literal

SELECTED = "tpl_selected"
#: `SELECTED` holds this instead of an id while a new template is being written.
NEW = "__new__"
MODES = ("Use", "Edit", "Versions")
_NOTICE = "tpl_notice"


def library_problem(library: TemplateLibrary) -> str | None:
    """Why the team's template file cannot be read, if it cannot; None when it is fine."""
    try:
        library.all()
    except TemplateError as exc:
        return (f"{exc.message} The studio has not changed the file. Restore it from a "
                f"backup or move it away ({library.path}); the built-in templates come "
                "back at once.")
    return None


_BLANK_OR_BRACE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def highlight_blanks(body: str) -> str:
    """A template body as Markdown with each {blank} highlighted and everything else
    shown as typed (`{{`/`}}` as single braces)."""
    pieces, position = [], 0
    for match in _BLANK_OR_BRACE.finditer(body):
        pieces.append(literal(body[position:match.start()]))
        name = match.group(1)
        pieces.append(f":violet-background[{literal(name)}]" if name else literal(match.group(0)[0]))
        position = match.end()
    pieces.append(literal(body[position:]))
    return "".join(pieces)


def label_of(variable_name: str) -> str:
    """A variable's name as a form label: `seasonal_touch` -> "Seasonal touch"."""
    words = variable_name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def local_time(iso: str) -> str:
    """A saved-at stamp (ISO, UTC) in the studio's local time, to the minute."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def mode_key(template_id: str) -> str:
    """The key of a template's Use / Edit / Versions switch."""
    return f"tpl_mode_{template_id}"


def select(template_id: str | None, mode: str | None = None) -> None:
    """Open a template (or `NEW`, or nothing) in the workspace, optionally in `mode`."""
    st.session_state[SELECTED] = template_id
    if template_id and template_id != NEW and mode:
        st.session_state[mode_key(template_id)] = mode


def notify(text: str, *, icon: str = ":material/check_circle:", link: bool = False,
           error: bool = False, place: str = "workspace") -> None:
    """Say something at `place` ("workspace" or "transfer") on the next run: a callback
    or a run that ends in `st.rerun()` cannot show it itself."""
    st.session_state[f"{_NOTICE}_{place}"] = {"text": text, "icon": icon, "link": link,
                                              "error": error}


def show_notice(place: str, owner: str = "") -> None:
    """The notice pending for `place`, once; with a link to Generate (for `owner`) when it
    is about queued videos."""
    notice = st.session_state.pop(f"{_NOTICE}_{place}", None)
    if not notice:
        return
    show = st.error if notice["error"] else st.success
    show(literal(notice["text"]), icon=notice["icon"])
    if notice["link"]:
        st.page_link(GENERATE_PAGE, label="See them on the Generate page",
                     icon=":material/movie:", query_params={"s": owner})
