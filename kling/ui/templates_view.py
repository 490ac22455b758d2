"""The Templates page's library and workspace.

The library lists the templates that match the search, category and tags, one card each
with its settings, a preview of its prompt and how it did in the history. The workspace
shows the open template: **Use** (`kling.ui.templates_use`), and for the team's own
templates **Edit** and **Versions** (`kling.ui.templates_edit`); built-ins are read-only
and offer **Duplicate to edit** instead. While the team's file is damaged (the page says so
once, above) the built-ins are listed and used as usual, and nothing offers to save.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from kling.coach import RECOMMENDED_MAX_CHARS, duration_hint, platform_hint
from kling.people import Action
from kling.services import Studio
from kling.ui.access import allowed, reason
from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary
from kling.templates.model import Template
from kling.ui.templates_common import (
    MODES,
    NEW,
    SELECTED,
    can_change,
    highlight_blanks,
    local_time,
    mode_key,
    select,
)
from kling.ui.text import literal
from kling.ui.templates_edit import (
    ask_delete,
    confirm_delete_if_asked,
    duplicate,
    render_editor,
    render_versions,
)
from kling.ui.templates_use import render_use

_PREVIEW_CHARS = 170
_WAIT_FOR_RECOVERY = "Restore or set aside the damaged template file first (see above)."


# -- the library ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """What the person is looking for."""

    text: str
    category: str | None
    tags: tuple[str, ...]

    @property
    def active(self) -> bool:
        return bool(self.text.strip() or self.category or self.tags)


def render_filters(library: TemplateLibrary) -> Filters:
    """Search box, category pills and tag picker; kept while the person visits other pages."""
    text = st.text_input(
        "Search templates", key="tpl_search", type="search", live=True,
        persist_state="session", icon=":material/search:",
        placeholder="Try: launch, drone, food, tiktok",
        help="Finds every word in the name, description, prompt, tags or category.")
    # Wrapped: in a column, pills would scroll on one row and cut "Storytelling" off.
    category = st.pills("Category", library.categories(), key="tpl_category",
                        persist_state="session", wrap=True)
    tags = st.multiselect("Tags", library.tags(), key="tpl_tags", persist_state="session",
                          placeholder="Any tag", help="Shows templates carrying all of these.")
    return Filters(text or "", category, tuple(tags))


@dataclass(frozen=True)
class Usage:
    """How a template has done in the history."""

    uses: int
    success_rate: float | None = None
    average_rating: float | None = None
    last_used: pd.Timestamp | None = None

    def line(self) -> str:
        """One line for a card: "Used 4× · 75% succeeded · ★ 4.2 · last used 3 Jun 2025"."""
        if not self.uses:
            return "Not used yet"
        parts = [f"Used {self.uses}×"]
        if self.success_rate is not None:
            parts.append(f"{self.success_rate:.0%} succeeded")
        parts.append(f"★ {self.average_rating:.1f}" if self.average_rating is not None
                     else "not rated yet")
        if self.last_used is not None:
            parts.append(f"last used {self.last_used:%-d %b %Y}")
        return " · ".join(parts)


def usage_by_template(studio: Studio) -> dict[str, Usage]:
    """Times used, success rate, average rating and last use of each template."""
    usage = {}
    for row in studio.history.template_stats().itertuples(index=False):
        usage[str(row.template_id)] = Usage(
            uses=int(row.uses),
            success_rate=None if pd.isna(row.success_rate) else float(row.success_rate),
            average_rating=None if pd.isna(row.avg_rating) else float(row.avg_rating),
            last_used=None if pd.isna(row.last_used) else pd.Timestamp(row.last_used),
        )
    return usage


def render_library(studio: Studio) -> None:
    """The filters, then one card per matching template."""
    library = studio.templates
    filters = render_filters(library)
    found = library.search(filters.text, filters.category, filters.tags)
    total = len(library.all())
    writable = can_change(library)
    edit = reason(studio, Action.EDIT)
    # A row, not columns: the button keeps the width of its label and the count the rest.
    with st.container(horizontal=True, vertical_alignment="center",
                      horizontal_alignment="distribute"):
        if filters.active:
            st.caption(f"{len(found)} of {total} templates")
        elif writable:
            st.caption(f"{total} templates · {len(library.user_templates())} by your team")
        else:
            st.caption(f"{total} built-in templates")
        st.button("New template", icon=":material/add:", key="tpl_new", on_click=select,
                  args=(NEW,), disabled=not writable or edit is not None,
                  help=edit or (None if writable else _WAIT_FOR_RECOVERY))
    if not found:
        st.info("No template matches. Clear the search, or pick another category or tag.",
                icon=":material/search_off:")
        return
    usage = usage_by_template(studio)
    selected = st.session_state.get(SELECTED)
    # Its own scroll area, so that the open template stays in view beside the list.
    with st.container(height=820, border=False):
        for template in found:
            render_card(template, usage.get(template.id, Usage(0)), selected == template.id)


def render_card(template: Template, usage: Usage, selected: bool) -> None:
    """A template at a glance: what it is for, its settings, its prompt and how it did."""
    with st.container(border=True, key=f"tpl_card_{template.id}"):
        whose = (":gray-badge[Built-in]" if template.builtin
                 else f":violet-badge[Your team's · v{template.version}]")
        st.markdown(f"**{literal(template.name)}**  \n:blue-badge[{literal(template.category)}] "
                    f":gray-badge[{template.duration} s] :gray-badge[{template.aspect_ratio}] "
                    f"{whose}")
        if template.description:
            st.caption(literal(template.description))
        body = template.body
        if len(body) > _PREVIEW_CHARS:
            body = body[:_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
        st.markdown(highlight_blanks(body))
        if template.tags:
            st.caption(" ".join(f"#{literal(tag)}" for tag in template.tags))
        with st.container(horizontal=True, horizontal_alignment="distribute",
                          vertical_alignment="center"):
            st.caption(usage.line())
            st.button("Selected" if selected else "Use this template",
                      key=f"tpl_open_{template.id}",
                      type="primary" if selected else "secondary", disabled=selected,
                      on_click=select, args=(template.id,))


# -- the workspace -------------------------------------------------------------------------

def render_workspace(studio: Studio, owner: str) -> None:
    """The open template (or the new-template form, or a word on where to start)."""
    library = studio.templates
    writable = can_change(library)
    edit = reason(studio, Action.EDIT)
    if st.session_state.get(SELECTED) == NEW and (not writable or edit is not None):
        select(None)  # nothing could be saved: the page says why, above
    if st.session_state.get(SELECTED) == NEW:
        st.subheader("New template", anchor=False)
        st.caption("Write the prompt once with {blanks}; the team fills them in each time.")
        render_editor(library, None)
        return
    template = _open_template(library)
    if template is None:
        st.info("Pick a template on the left to fill in its blanks, or start a new one. "
                "Every built-in follows Kling's advice: an action, a camera movement and a "
                f"pace, in under {RECOMMENDED_MAX_CHARS} characters.", icon=":material/arrow_back:")
        return
    _header(template)
    if template.builtin:
        st.button("Duplicate to edit", icon=":material/content_copy:",
                  key=f"tpl_duplicate_{template.id}", on_click=duplicate,
                  args=(library, template), disabled=not writable or edit is not None,
                  help=edit or ("Built-in templates are read-only: make your team's own copy "
                                "to edit." if writable else _WAIT_FOR_RECOVERY))
        render_use(studio, template, owner)
        return
    key = mode_key(template.id)
    modes = MODES if edit is None else tuple(m for m in MODES if m != "Edit")
    if st.session_state.get(key) not in modes:
        st.session_state[key] = modes[0]
    count = len(library.versions(template.id))
    with st.container(horizontal=True, vertical_alignment="center"):
        mode = st.segmented_control(
            "View", modes, key=key, required=True, label_visibility="collapsed",
            format_func=lambda m: f"Versions ({count})" if m == "Versions" else m)
        st.space("stretch")
        st.button("Duplicate", icon=":material/content_copy:",
                  key=f"tpl_duplicate_{template.id}", on_click=duplicate,
                  args=(library, template), disabled=edit is not None, help=edit)
        if allowed(studio, Action.REMOVE):  # removing templates is an admin's
            st.button("Delete", icon=":material/delete:", key=f"tpl_delete_{template.id}",
                      on_click=ask_delete, args=(template.id,))
    confirm_delete_if_asked(library, template)
    if mode == "Edit":
        render_editor(library, template)
    elif mode == "Versions":
        render_versions(library, template, restore_refused=edit)
    else:
        render_use(studio, template, owner)


def _open_template(library: TemplateLibrary) -> Template | None:
    """The open template; forgets it, with a word, if someone deleted it meanwhile."""
    template_id = st.session_state.get(SELECTED)
    if not template_id:
        return None
    try:
        return library.get(template_id)
    except TemplateError as exc:
        select(None)
        if can_change(library):  # deleted meanwhile; a damaged file is said once, above
            st.warning(literal(exc.message), icon=":material/warning:")
        return None


def _header(template: Template) -> None:
    """Name, category, recommended settings and whose template it is."""
    st.subheader(literal(template.name), anchor=False)
    st.markdown(f":blue-badge[{literal(template.category)}] :gray-badge[{template.duration} s] "
                f":gray-badge[{template.aspect_ratio}] "
                + (":gray-badge[Built-in · read-only]" if template.builtin
                   else f":violet-badge[Your team's · version {template.version}]"))
    if template.author:
        st.caption(f"Version {template.version} saved by {literal(template.author)}")
    notes = [platform_hint(template.aspect_ratio), duration_hint(template.duration)]
    if not template.builtin and template.updated_at:
        notes.append(f"saved {local_time(template.updated_at)}")
    st.caption(literal(" · ".join(note for note in notes if note)))
    if template.description:
        st.markdown(literal(template.description))
