"""What the Templates page's parts share: which template is open, one-off notices, text,
and the way out of a damaged template file.

Everything a person chose on the page lives in `st.session_state` under `tpl_*` keys.
State that widgets depend on (selecting, duplicating, saving, recovering) changes in button
callbacks, so that the run which follows already draws the new state.
"""

from __future__ import annotations

import re
from datetime import datetime

import streamlit as st

from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary
from kling.templates.library_file import DAMAGED_PREFIX, LibraryDamage
from kling.ui.state import GENERATE_PAGE, generate_link
from kling.ui.text import literal

SELECTED = "tpl_selected"
#: `SELECTED` holds this instead of an id while a new template is being written.
NEW = "__new__"
MODES = ("Use", "Edit", "Versions")
_NOTICE = "tpl_notice"


def can_change(library: TemplateLibrary) -> bool:
    """False while the team's template file is damaged: only the built-ins can be used."""
    return library.damage() is None


def render_damage(library: TemplateLibrary) -> bool:
    """When the team's template file cannot be read: one message saying so, with the ways
    out (restore its last good copy, or set it aside and start afresh). Returns True while
    it cannot be read; the page then works with the built-in templates."""
    damage = library.damage()
    if damage is None:
        return False
    if damage.newer:
        st.warning(f"**Your team's templates are not shown:** {literal(damage.path.name)} "
                   f"{literal(damage.reason)}. Update this studio to use them; the built-in "
                   "templates below work as usual.", icon=":material/update:")
        return True
    with st.container(border=True, key="tpl_damage"):
        st.error(f"**Your team's templates are not shown: {literal(damage.path.name)} is "
                 f"damaged.** It {literal(damage.reason)}. The built-in templates below work "
                 "as usual, and nothing has been changed.", icon=":material/error:")
        with st.container(horizontal=True, vertical_alignment="center"):
            if damage.backup:
                count = damage.backup.templates
                st.button(f"Restore the last good copy ({count} template"
                          f"{'s' if count != 1 else ''})", type="primary",
                          icon=":material/settings_backup_restore:", key="tpl_recover_restore",
                          on_click=_recover, args=(library, "restore"))
            st.button("Set the damaged file aside and start afresh",
                      type="secondary" if damage.backup else "primary",
                      icon=":material/drive_file_move:", key="tpl_recover_set_aside",
                      on_click=_recover, args=(library, "set aside"))
        st.caption(_recovery_choices(damage))
    return True


def _recovery_choices(damage: LibraryDamage) -> str:
    kept = (f"The damaged file is kept either way, as {DAMAGED_PREFIX}<date>.json in "
            f"{damage.path.parent}, for someone to look at.")
    if damage.backup is None:
        return literal("There is no last good copy to restore: it is made each time the "
                       "studio saves the library. Setting the file aside starts an empty "
                       f"library for your team's templates. {kept}")
    saved = damage.backup.saved_at.astimezone().strftime("%-d %b %Y, %H:%M")
    return literal(f"The last good copy is the library as it was saved on {saved}. Starting "
                   f"afresh leaves your team's library empty instead. {kept}")


def _recover(library: TemplateLibrary, action: str) -> None:
    """The recovery buttons: restore the last good copy, or set the damaged file aside."""
    try:
        recovery = (library.restore_backup() if action == "restore"
                    else library.set_aside_damaged())
    except TemplateError as exc:
        notify(exc.message, icon=":material/error:", error=True, place="page")
        return
    kept = f"The damaged file is kept as {recovery.kept_as.name} in {recovery.kept_as.parent}."
    if action == "restore":
        count = recovery.restored
        notify(f"Restored the last good copy: your team's {count} template"
               f"{'s are' if count != 1 else ' is'} back. {kept}",
               icon=":material/settings_backup_restore:", place="page")
    else:
        notify(f"The damaged file is set aside and your team's library starts afresh. {kept}",
               icon=":material/drive_file_move:", place="page")


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
    """Say something at `place` ("page", "workspace" or "transfer") on the next run: a
    callback or a run that ends in `st.rerun()` cannot show it itself."""
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
                     icon=":material/movie:", query_params=generate_link(owner))
