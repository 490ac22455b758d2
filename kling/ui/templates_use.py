"""Using a template: fill in its blanks, read the prompt and the coach, send it on.

**Use in Generate** hands the prompt, duration and aspect ratio to the Generate page;
**Generate now** queues variations from here. Either way the generations record the
template's id, version and the values its blanks were filled with.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from kling.coach import RECOMMENDED_MAX_CHARS
from kling.errors import InvalidRequestError
from kling.jobs import plan_takes
from kling.models import ASPECT_RATIOS, DURATIONS, GenerationRequest
from kling.people import Action
from kling.services import Studio
from kling.ui.access import allowed
from kling.errors import TemplateError
from kling.templates.model import Template
from kling.ui.generate_form import render_coach
from kling.ui.jobs_panel import queue_jobs
from kling.ui.state import open_in_generate
from kling.ui.templates_common import label_of, notify
from kling.ui.text import literal


def var_key(template: Template, name: str) -> str:
    """The key of a variable's box. The version is part of it: after an edit or a restore
    the form starts from the new examples instead of values typed for another body."""
    return f"tpl_var_{template.id}_v{template.version}_{name}"


def typed_values(template: Template) -> dict[str, str]:
    """What the person typed for each variable of the open version (blank = use example)."""
    return {v.name: st.session_state.get(var_key(template, v.name)) or ""
            for v in template.variables}


def filled_values(template: Template, values: dict[str, str]) -> dict[str, str]:
    """Each variable's value as it went into the prompt: typed, else its example."""
    return {v.name: (values.get(v.name) or "").strip() or (v.default or "")
            for v in template.variables}


def render_use(studio: Studio, template: Template, owner: str) -> None:
    """The variables form, the prompt it makes with the coach's advice, and the actions."""

    @st.fragment
    def use_panel() -> None:
        # A fragment, so that typing in a blank redraws this panel, not the whole library.
        values = _variables_form(template)
        left, right = st.columns(2)
        duration = left.radio(
            "Duration", DURATIONS, index=DURATIONS.index(template.duration), horizontal=True,
            key=f"tpl_use_{template.id}_v{template.version}_duration", persist_state="session",
            format_func=lambda d: f"{d} s",
            help=f"The template recommends {template.duration} s.")
        aspect = right.radio(
            "Aspect ratio", ASPECT_RATIOS, index=ASPECT_RATIOS.index(template.aspect_ratio),
            horizontal=True, key=f"tpl_use_{template.id}_v{template.version}_aspect",
            persist_state="session",
            help=f"The template recommends {template.aspect_ratio}.")
        prompt = _prompt(template, values)
        record = {"id": template.id, "version": template.version, "name": template.name,
                  "vars": filled_values(template, values)}
        if allowed(studio, Action.GENERATE) and st.button(
                "Use in Generate", type="primary", icon=":material/arrow_forward:",
                key="tpl_use_in_generate", disabled=prompt is None,
                help="Opens Generate with this prompt, duration and aspect ratio "
                     "filled in, to adjust the words or the seed before generating."):
            open_in_generate(prompt or "", duration=duration, aspect_ratio=aspect,
                             template=record)
        _generate_now(studio, owner, prompt, duration, aspect, record)

    use_panel()


def _variables_form(template: Template) -> dict[str, str]:
    """One box per variable, prefilled with its example; returns what is typed."""
    if not template.variables:
        st.caption("This template has no blanks: it is ready to use as it is.")
        return {}
    st.markdown("**Fill in the blanks**")
    columns = st.columns(2)
    for index, variable in enumerate(template.variables):
        columns[index % 2].text_input(
            label_of(variable.name), value=variable.default or "",
            key=var_key(template, variable.name), live=True, persist_state="session",
            placeholder=variable.hint or f"Value for {{{variable.name}}}",
            help=(literal(variable.hint.rstrip(".")) + ". " if variable.hint else "")
                 + ("Leave empty to use the example." if variable.default
                    else "Required: this blank has no example."))
    return typed_values(template)


def _prompt(template: Template, values: dict[str, str]) -> str | None:
    """Show the filled prompt, its length and the coach; None while a blank is missing."""
    st.markdown("**Your prompt**")
    try:
        prompt: str | None = template.render(values)
    except TemplateError as exc:
        prompt = None
        st.warning(literal(exc.message), icon=":material/edit_note:")
    shown = prompt if prompt is not None else template.preview(values)
    st.code(shown, language=None, wrap_lines=True)
    count = len(shown.strip())
    st.caption(f"{count} characters · " + (
        f"within the recommended {RECOMMENDED_MAX_CHARS}" if count <= RECOMMENDED_MAX_CHARS
        else f"over the recommended {RECOMMENDED_MAX_CHARS}: try shorter values"))
    render_coach(shown)
    return prompt


def _generate_now(studio: Studio, owner: str, prompt: str | None, duration: str,
                  aspect: str, record: dict[str, Any]) -> None:
    """Queue variations of the prompt straight from here; they show up on Generate."""
    if not allowed(studio, Action.GENERATE):
        return  # making videos is a creator's: the Generate page says why
    with st.container(border=True):
        st.markdown("**Or generate right away**")
        takes_col, cost_col = st.columns([3, 2], vertical_alignment="bottom")
        takes = takes_col.slider("Variations", 1, 8, key="tpl_takes", persist_state="session",
                                 help="Takes of the same prompt, each with its own seed.")
        cost = studio.estimate_cost(int(duration), takes)
        cost_col.metric("Estimated cost", f"${cost:,.2f}",
                        help=f"{duration} s × {takes} take(s) × "
                             f"${studio.settings.price_per_second:.2f} per second")
        if not st.button("Generate now", icon=":material/play_arrow:", key="tpl_generate_now",
                         disabled=prompt is None):
            return
        try:
            request = GenerationRequest.create(prompt, duration, aspect)
        except InvalidRequestError as exc:
            for message in exc.field_errors.values():
                st.error(literal(message), icon=":material/error:")
            return
        jobs = queue_jobs(
            studio, plan_takes(request, takes), owner, template_id=record["id"],
            template_version=record["version"], template_vars=record["vars"])
        if not jobs:
            return
        notify(f"Queued {len(jobs)} video{'s' if len(jobs) > 1 else ''} from "
               f"“{record['name']}”. They appear on the Generate page under Your "
               "generations, and stay in History.", icon=":material/movie:", link=True)
        # A full run, so that the sidebar's job counter and the notice update at once.
        st.rerun(scope="app")
