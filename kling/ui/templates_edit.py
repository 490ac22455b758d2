"""Writing and managing the team's templates: the editor, duplicate, delete, versions.

One editor serves both a new template and an edit: its widgets live under a key prefix
(`tpl_draft` or `tpl_edit_<id>_v<version>`), so after a save, or a restore, the form starts
again from the version just made. Saving runs as a button callback that reads the form from
`st.session_state`; the core validates, and its `field_errors` are shown under each field.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from kling.coach import ASPECT_RATIO_USES, DURATION_USES, review_prompt
from kling.models import ASPECT_RATIOS, DURATIONS
from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary
from kling.templates.model import (
    CATEGORIES,
    DEFAULT_CATEGORY,
    FieldChange,
    Template,
    TemplateVariable,
    sync_variables,
)
from kling.templates.validation import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS
from kling.ui.templates_common import label_of, local_time, notify, select
from kling.ui.text import literal

NEW_PREFIX = "tpl_draft"
_CHECKED = "checked"  # suffix of the flag "a save was tried": from then on, errors show live
_BLANK: dict[str, Any] = {"name": "", "category": DEFAULT_CATEGORY, "description": "",
                          "body": "", "variables": (), "duration": "5",
                          "aspect_ratio": "16:9", "tags": ()}
BODY_HELP = ("The prompt, with {name} where a value goes, e.g. '{product} spins on a "
             "turntable, camera orbits, slow motion'. Write {{ and }} for literal braces.")


def edit_prefix(template: Template) -> str:
    """The key prefix of the editor of this version of a template."""
    return f"tpl_edit_{template.id}_v{template.version}"


def _key(prefix: str, field: str) -> str:
    return f"{prefix}_{field}"


def _variables(prefix: str, body: str, known: tuple[TemplateVariable, ...]
               ) -> tuple[TemplateVariable, ...]:
    """The variables the body declares as it is typed, with the default and hint typed for
    each (or the saved ones). A malformed body keeps the saved list: validation says why."""
    try:
        variables = sync_variables(body, known)
    except TemplateError:
        variables = known
    return tuple(
        TemplateVariable(
            v.name,
            st.session_state.get(_key(prefix, f"var_{v.name}_default"), v.default or ""),
            st.session_state.get(_key(prefix, f"var_{v.name}_hint"), v.hint),
        )
        for v in variables)


def form_fields(prefix: str, base: Template | None) -> dict[str, Any]:
    """The template the form describes right now, as `create`/`update` fields."""
    start = base.content() if base else _BLANK

    def value(field: str) -> Any:
        return st.session_state.get(_key(prefix, field), start[field])

    fields = {field: value(field) for field in
              ("name", "category", "description", "body", "duration", "aspect_ratio")}
    fields["tags"] = list(value("tags"))
    fields["variables"] = _variables(prefix, fields["body"] or "", start["variables"])
    return fields


def _save(library: TemplateLibrary, prefix: str, base: Template | None) -> None:
    """Create or update from the form; on failure remember to show the field errors."""
    try:
        if base is None:
            template = library.create(**form_fields(prefix, None))
        else:
            template = library.update(base.id, **form_fields(prefix, base))
    except TemplateError as exc:
        st.session_state[_key(prefix, _CHECKED)] = True
        if not exc.field_errors:  # e.g. the file is locked or unwritable
            notify(exc.message, icon=":material/error:", error=True)
        return
    if base is None:
        _forget_form(NEW_PREFIX)
        select(template.id, "Use")
        notify(f"Created “{template.name}”. Fill in its blanks below to try it.")
    elif template.version == base.version:
        notify("Nothing changed, so no new version was saved.", icon=":material/info:")
    else:
        notify(f"Saved “{template.name}” as version {template.version}. Earlier versions "
               "are under Versions.")


def _forget_form(prefix: str) -> None:
    for key in [k for k in st.session_state if str(k).startswith(prefix + "_")]:
        del st.session_state[key]


def _cancel_new() -> None:
    _forget_form(NEW_PREFIX)
    select(None)


def _field_error(errors: dict[str, str], field: str) -> None:
    if field in errors:
        st.error(literal(errors[field]), icon=":material/error:")


def render_editor(library: TemplateLibrary, base: Template | None) -> None:
    """The form for a new template (`base` None) or the next version of `base`."""
    prefix = NEW_PREFIX if base is None else edit_prefix(base)
    start = base.content() if base else _BLANK
    fields = form_fields(prefix, base)
    # A new form starts empty, so its errors wait for the first Save; an edit starts valid,
    # so anything it breaks is said at once.
    errors = (library.validate(fields, base.id if base else None)
              if base is not None or st.session_state.get(_key(prefix, _CHECKED)) else {})

    name_col, category_col = st.columns([3, 2])
    with name_col:
        st.text_input("Name", value=start["name"], key=_key(prefix, "name"),
                      placeholder="e.g. Summer drop teaser", max_chars=MAX_NAME_CHARS)
        _field_error(errors, "name")
    with category_col:
        st.selectbox("Category", CATEGORIES, key=_key(prefix, "category"),
                     index=CATEGORIES.index(start["category"])
                     if start["category"] in CATEGORIES else 0)
        _field_error(errors, "category")
    duration_col, aspect_col = st.columns([3, 2])
    with duration_col:
        st.radio("Duration", DURATIONS, index=DURATIONS.index(start["duration"]),
                 key=_key(prefix, "duration"), horizontal=True,
                 format_func=lambda d: f"{d} s",
                 captions=[DURATION_USES[d].capitalize() for d in DURATIONS])
        _field_error(errors, "duration")
    with aspect_col:
        st.radio("Aspect ratio", ASPECT_RATIOS, index=ASPECT_RATIOS.index(start["aspect_ratio"]),
                 key=_key(prefix, "aspect_ratio"), horizontal=True,
                 captions=[ASPECT_RATIO_USES[a] for a in ASPECT_RATIOS])
        _field_error(errors, "aspect_ratio")
    st.text_area("Description", value=start["description"], key=_key(prefix, "description"),
                 height=68, max_chars=MAX_DESCRIPTION_CHARS,
                 placeholder="What it is for, in one sentence")
    _field_error(errors, "description")
    st.text_area("Body", value=start["body"], key=_key(prefix, "body"), height=110,
                 help=BODY_HELP,
                 placeholder="{product} spins slowly on a turntable, camera orbits at eye "
                             "level, steady pace")
    _field_error(errors, "body")
    _variable_rows(prefix, fields["variables"])
    _field_error(errors, "variables")
    st.multiselect("Tags", sorted(set(library.tags()) | set(fields["tags"])),
                   default=list(start["tags"]), key=_key(prefix, "tags"),
                   accept_new_options=True, placeholder="Pick or type new tags",
                   help="Words to find the template by, e.g. launch, tiktok.")
    _field_error(errors, "tags")
    _draft_preview(fields)

    left, right = st.columns(2)
    if base is None:
        left.button("Create template", type="primary", icon=":material/save:",
                    key="tpl_create", on_click=_save, args=(library, prefix, None),
                    width="stretch")
        right.button("Cancel", key="tpl_create_cancel", on_click=_cancel_new, width="stretch")
    else:
        left.button(f"Save as version {base.version + 1}", type="primary",
                    icon=":material/save:", key=f"tpl_save_{base.id}", on_click=_save,
                    args=(library, prefix, base), width="stretch")
        right.button("Discard changes", key=f"tpl_discard_{base.id}", on_click=_forget_form,
                     args=(prefix,), width="stretch",
                     help="Back to the saved version. Every save keeps the earlier versions, "
                          "so you can always compare and go back.")


def _variable_rows(prefix: str, variables: tuple[TemplateVariable, ...]) -> None:
    """A default and a hint for each {variable} the body uses, as the body is typed."""
    if not variables:
        st.caption("Variables appear here as you write {name} in the body.")
        return
    st.markdown("**Variables** · an example value (used when the box is left empty) and a "
                "hint for whoever fills it in")
    for variable in variables:
        name_col, default_col, hint_col = st.columns([1, 2, 3], vertical_alignment="center")
        name_col.markdown(f"`{{{variable.name}}}`")
        default_col.text_input(f"Example for {variable.name}", value=variable.default or "",
                               key=_key(prefix, f"var_{variable.name}_default"),
                               placeholder="Example (optional)",
                               label_visibility="collapsed")
        hint_col.text_input(f"Hint for {variable.name}", value=variable.hint,
                            key=_key(prefix, f"var_{variable.name}_hint"),
                            placeholder=f"What goes in {label_of(variable.name).lower()}?",
                            label_visibility="collapsed")


def _draft_preview(fields: dict[str, Any]) -> None:
    """The body filled with its examples and the coach's verdict, while it is written."""
    if not (fields["body"] or "").strip():
        return
    draft = Template(id="", name="", category=DEFAULT_CATEGORY, description="",
                     body=fields["body"], variables=fields["variables"])
    try:
        preview = draft.preview()
    except TemplateError:
        return  # the body's own error is already shown under it
    report = review_prompt(preview)
    st.caption(f"With the examples: “{literal(preview)}” · {report.char_count} characters · "
               f"coach: {literal(report.summary)}")


# -- actions on a template -----------------------------------------------------------------

def duplicate(library: TemplateLibrary, template: Template) -> None:
    """Copy a template (a built-in too) into a new one of the team's, opened for editing."""
    try:
        copy = library.duplicate(template.id)
    except TemplateError as exc:
        notify(exc.message, icon=":material/error:", error=True)
        return
    select(copy.id, "Edit")
    notify(f"“{copy.name}” is your own copy of “{template.name}”: rename it and make it "
           "yours below.", icon=":material/content_copy:")


_CONFIRM_DELETE = "tpl_confirm_delete"


def ask_delete(template_id: str) -> None:
    """Open the delete confirmation for this template."""
    st.session_state[_CONFIRM_DELETE] = template_id


def _dismiss_delete() -> None:
    st.session_state.pop(_CONFIRM_DELETE, None)


def confirm_delete_if_asked(library: TemplateLibrary, template: Template) -> None:
    """Show the confirmation dialog while a delete of `template` waits for an answer."""
    if st.session_state.get(_CONFIRM_DELETE) == template.id:
        _delete_dialog(library, template)


@st.dialog("Delete this template?", on_dismiss=_dismiss_delete)
def _delete_dialog(library: TemplateLibrary, template: Template) -> None:
    count = len(library.versions(template.id))
    st.markdown(f"**{literal(template.name)}** and its {count} version{'s' if count > 1 else ''} "
                "will be deleted for the whole team. Videos already made from it stay in "
                "History.")
    left, right = st.columns(2)
    if left.button("Delete template", type="primary", icon=":material/delete:",
                   key="tpl_delete_confirm", width="stretch"):
        _dismiss_delete()
        try:
            library.delete(template.id)
        except TemplateError as exc:
            notify(exc.message, icon=":material/error:", error=True)
        else:
            select(None)
            notify(f"Deleted “{template.name}”.", icon=":material/delete:")
        st.rerun()
    if right.button("Keep it", key="tpl_delete_cancel", width="stretch"):
        _dismiss_delete()
        st.rerun()


# -- versions ------------------------------------------------------------------------------

def show_value(field: str, value: Any) -> str:
    """A field's value as a person reads it in a comparison."""
    if field == "variables":
        lines = [f"{{{v.name}}}: " + (f"example “{v.default}”" if v.default else "no example")
                 + (f" — {v.hint}" if v.hint else "") for v in value]
        return "\n".join(lines) or "(none)"
    if field == "tags":
        return ", ".join(value) or "(none)"
    if field == "duration":
        return f"{value} s"
    return str(value) if value != "" else "(empty)"


def _restore(library: TemplateLibrary, template: Template, version: int) -> None:
    try:
        restored = library.restore(template.id, version)
    except TemplateError as exc:
        notify(exc.message, icon=":material/error:", error=True)
        return
    notify(f"Restored version {version}: it is now the current version "
           f"({restored.version}).", icon=":material/history:")


def render_versions(library: TemplateLibrary, template: Template, *,
                    restore_refused: str | None = None) -> None:
    """Every version, newest first, with who saved it; an earlier one can be read,
    compared and restored (unless `restore_refused` says why this person may not)."""
    versions = library.versions(template.id)
    if len(versions) == 1:
        st.info("This is the first version. Every save adds a version here, so you can "
                "compare it with earlier ones and go back.", icon=":material/history:")
        return
    # Plain lines, not a data grid: a grid's hover toolbar would cover the Delete button.
    lines = []
    for previous, version in reversed(list(zip([versions[0], *versions[:-1]], versions))):
        changed = [c.label for c in library.diff(template.id, previous.version,
                                                 version.version)]
        lines.append(f"- **Version {version.version}**"
                     + (" (current)" if version.version == template.version else "")
                     + f" · saved {local_time(version.updated_at)}"
                     + (f" by {literal(version.author)}" if version.author else "") + " · "
                     + (f"changed {', '.join(changed).lower()}" if changed else "first version"))
    st.markdown("\n".join(lines))
    earlier = [v.version for v in versions if v.version != template.version]
    chosen = st.selectbox("Compare with the current version", list(reversed(earlier)),
                          format_func=lambda n: f"Version {n}",
                          key=f"tpl_compare_{template.id}")
    changes = library.diff(template.id, chosen, template.version)
    if not changes:
        st.caption(f"Version {chosen} is the same as the current one.")
    else:
        _render_changes(changes, chosen, template.version)
    st.button(f"Restore version {chosen}", icon=":material/restore:",
              key=f"tpl_restore_{template.id}", on_click=_restore,
              args=(library, template, chosen), disabled=restore_refused is not None,
              help=restore_refused or "Makes it current again as a new version; nothing is lost.")


def _render_changes(changes: list[FieldChange], old: int, new: int) -> None:
    """Each changed field, before and after."""
    for change in changes:
        with st.container(border=True):
            st.markdown(f"**{change.label}**")
            before, after = st.columns(2)
            before.caption(f"Version {old}")
            before.text(show_value(change.field, change.old))
            after.caption(f"Now (version {new})")
            after.text(show_value(change.field, change.new))
