"""Import and export of the template library as JSON.

An export holds the current version of each of the team's templates. An import is read and
validated completely by the core first (`TemplateLibrary.preview_import`): the person sees
what will be added and chooses, for each name the library already has, to skip, replace or
rename; nothing changes until **Import**. A bad file shows the core's message and changes
nothing.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary
from kling.templates.transfer import IMPORT_LIMITS_TEXT, MAX_IMPORT_MB, ImportPlan
from kling.ui.templates_common import notify, show_notice
from kling.ui.text import literal

_UPLOAD_ROUND = "tpl_import_round"  # bumped after an import, to empty the uploader
_PROBLEMS_SHOWN = 8
_CHOICE_LABELS = {
    "skip": "Keep ours, skip theirs",
    "replace": "Replace ours (ours stays as an earlier version)",
    "rename": "Add theirs, with “(imported)” after its name",
}


def render_export(library: TemplateLibrary) -> None:
    """Download the team's templates as one JSON file."""
    mine = library.user_templates()
    st.markdown("**Export**")
    st.caption("Your team's templates, current versions, in one file to share with another "
               "studio or keep as a backup. Built-ins are in every studio already.")
    st.download_button(
        f"Download {len(mine)} template{'s' if len(mine) != 1 else ''} (JSON)",
        library.export_json() if mine else b"",
        file_name=f"kling-templates-{date.today():%Y-%m-%d}.json", mime="application/json",
        on_click="ignore", icon=":material/download:", disabled=not mine,
        key="tpl_export")
    if not mine:
        st.caption("Nothing to export yet: create or duplicate a template first.")


def render_import(library: TemplateLibrary) -> None:
    """Upload a JSON file, see what it would add, settle name clashes, then import."""
    st.markdown("**Import**")
    # Said before a file is picked; the core checks the same limits (`MAX_IMPORT_*`).
    st.caption(f"A JSON file exported from Kling Studio, {IMPORT_LIMITS_TEXT}. You see what "
               "it holds first: nothing changes until you press Import.")
    show_notice("transfer")
    upload = st.file_uploader(
        "Template file (JSON)", type=["json"], max_upload_size=MAX_IMPORT_MB,
        key=f"tpl_import_{st.session_state.get(_UPLOAD_ROUND, 0)}",
        help=f"UTF-8 JSON, {IMPORT_LIMITS_TEXT}.")
    if upload is None:
        return
    try:
        plan = library.preview_import(upload.getvalue())
    except TemplateError as exc:
        st.error(import_problem(upload.name, exc), icon=":material/error:")
        return
    resolution = _preview(plan)
    count = sum(1 for t in plan.templates if resolution.get(t.name) != "skip")
    if st.button(f"Import {count} template{'s' if count != 1 else ''}", type="primary",
                 icon=":material/upload:", key="tpl_import_apply", disabled=not count):
        try:
            saved = library.apply_import(plan, resolution)
        except TemplateError as exc:
            st.error(literal(exc.message + " Nothing was imported."), icon=":material/error:")
            return
        st.session_state[_UPLOAD_ROUND] = st.session_state.get(_UPLOAD_ROUND, 0) + 1
        names = ", ".join(f"“{t.name}”" for t in saved[:5]) + (" …" if len(saved) > 5 else "")
        notify(f"Imported {len(saved)} template{'s' if len(saved) != 1 else ''} from "
               f"{upload.name}: {names}. Find them in the Library tab.",
               icon=":material/upload:", place="transfer")
        st.rerun()


def import_problem(file_name: str, error: TemplateError) -> str:
    """The core's reasons a file cannot be imported, as Markdown: one line per problem."""
    head = f"**{literal(file_name)}** cannot be imported, so the library is unchanged."
    if not error.problems:
        return f"{head} {literal(error.message)}"
    shown = [f"- {literal(problem)}" for problem in error.problems[:_PROBLEMS_SHOWN]]
    hidden = len(error.problems) - _PROBLEMS_SHOWN
    if hidden > 0:
        shown.append(f"- and {hidden} more")
    return head + " Fix these and try again:\n" + "\n".join(shown)


def upload_summary(plan: ImportPlan) -> str:
    """"3 templates in the file: 1 new, 2 with a name the library already has"."""
    total, clashes = len(plan.templates), len(plan.conflicts)
    summary = f"{total} template{'s' if total != 1 else ''} in the file"
    if clashes:
        summary += (f": {total - clashes} new, {clashes} with a name the library already "
                    "has. Choose for each below.")
    return summary


def _preview(plan: ImportPlan) -> dict[str, str]:
    """What the file holds, and a choice for each name the library already has."""
    st.markdown(f"**{upload_summary(plan)}**")
    st.markdown("\n".join(
        f"- **{literal(t.name)}** · {literal(t.category)} · {t.duration} s · {t.aspect_ratio} · "
        + (":orange-badge[Name taken]" if plan.conflict(t.name) else ":green-badge[New]")
        for t in plan.templates))
    resolution: dict[str, str] = {}
    for index, conflict in enumerate(plan.conflicts):
        whose = "a built-in template" if conflict.existing_builtin else "one of your templates"
        resolution[conflict.name] = st.radio(
            f"“{literal(conflict.name)}” is already {whose}", conflict.options,
            format_func=_CHOICE_LABELS.get, horizontal=True,
            index=conflict.options.index("rename"), key=f"tpl_import_choice_{index}")
    return resolution
