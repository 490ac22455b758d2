"""Widgets of the Generate page: the prompt form, the coach, and batch upload."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import streamlit as st

from kling.batch import LIMITS_TEXT, BatchFileError, new_batch_id, parse_batch
from kling.coach import ASPECT_RATIO_USES, DURATION_USES, RECOMMENDED_MAX_CHARS, review_prompt
from kling.jobs import plan_takes
from kling.models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS, MAX_SEED, GenerationRequest, validate_request
from kling.services import Studio
from kling.ui.jobs_panel import queue_jobs
from kling.ui.text import literal

FIELD_LABELS = {"prompt": "Prompt", "duration": "Duration", "aspect_ratio": "Aspect ratio",
                "seed": "Seed"}
BATCH_EXAMPLE = (
    "prompt,duration,aspect_ratio,seed\n"
    '"Waves crashing on a black sand beach, slow drone shot, golden hour",5,16:9,\n'
    '"Sneaker spinning on a pedestal, smooth orbit shot, fast-paced",10,9:16,42\n'
)


def apply_handoff(handoff: dict[str, Any] | None) -> None:
    """Fill the form from another page before its widgets are drawn."""
    if not handoff:
        return
    st.session_state["gen_prompt"] = handoff["prompt"]
    st.session_state["gen_duration"] = handoff["duration"]
    st.session_state["gen_aspect"] = handoff["aspect_ratio"]
    st.session_state["gen_seed"] = handoff.get("seed")
    st.session_state["gen_template"] = handoff.get("template")


def _last_seed(studio: Studio, owner: str) -> int | None:
    for job in studio.queue.jobs(owner):
        if job.result is not None:
            return job.result.seed
    return None


def _set_seed(value: int | None) -> None:
    st.session_state["gen_seed"] = value


def render_form(studio: Studio, owner: str) -> None:
    """The single-prompt form with coach and cost; queues jobs on Generate."""
    template = st.session_state.get("gen_template")
    if template:
        note, clear = st.columns([5, 1])
        note.info(f"From template **{literal(template['name'])}** (version {template['version']}). "
                  "Generations will record it.", icon=":material/library_books:")
        if clear.button("Detach", help="Stop recording the template for new generations"):
            st.session_state.pop("gen_template", None)
            st.rerun()

    form, advice = st.columns([3, 2], gap="large")
    with form:
        # No `max_chars`: the browser would silently drop a paste that is too long.
        # The length is checked below instead, and the text is kept as pasted.
        prompt = st.text_area(
            "Prompt", key="gen_prompt", height=130, persist_state="session",
            placeholder="A red sports car drifts around a mountain bend, drone shot "
                        "following from above, slow motion",
            help="Describe the scene, its motion, the camera movement and the pacing. "
                 f"Under {RECOMMENDED_MAX_CHARS} characters works best.",
        )
        prompt_length(prompt)
        left, right = st.columns(2)
        duration = left.radio(
            "Duration", DURATIONS, key="gen_duration", horizontal=True,
            format_func=lambda d: f"{d} s", persist_state="session",
            captions=[DURATION_USES[d].capitalize() for d in DURATIONS],
        )
        right.radio(
            "Aspect ratio", ASPECT_RATIOS, key="gen_aspect", horizontal=True,
            persist_state="session",
            captions=[ASPECT_RATIO_USES[a] for a in ASPECT_RATIOS],
        )
        seed_col, dice_col, reuse_col = st.columns([3, 1, 2], vertical_alignment="bottom")
        seed_col.number_input(
            "Seed", key="gen_seed", value=None, min_value=0, max_value=MAX_SEED, step=1,
            persist_state="session",
            placeholder="Random", help="Leave empty for a new random seed each take; set "
                                       "one to reproduce a result or make close variations.",
        )
        dice_col.button("New", icon=":material/casino:", help="Pick a new random seed and keep it fixed",
                        on_click=_set_seed, args=(random.randint(0, MAX_SEED),))
        last_seed = _last_seed(studio, owner)
        reuse_col.button("Reuse last seed", disabled=last_seed is None,
                         on_click=_set_seed, args=(last_seed,),
                         help="The seed of your latest finished video")
        takes = st.slider("Variations", 1, 8, key="gen_takes", persist_state="session",
                          help="Takes of the same prompt. With a fixed seed they use "
                               "consecutive seeds.")
    with advice:
        cost = studio.estimate_cost(int(duration), takes)
        st.metric("Estimated cost", f"${cost:,.2f}",
                  help=f"{duration} s × {takes} take(s) × "
                       f"${studio.settings.price_per_second:.2f} per second")
        render_coach(prompt or "")

    # A callback runs before the next run draws anything, so the sidebar's job count
    # and the panel below already include what this click queued.
    st.button("Generate", type="primary", icon=":material/play_arrow:", key="generate",
              on_click=submit, args=(studio, owner))
    for field, message in st.session_state.pop("gen_problems", {}).items():
        st.error(f"**{FIELD_LABELS[field]}**: {literal(message)}", icon=":material/error:")


def prompt_length(prompt: str | None) -> None:
    """The prompt's length against the limit, and how much to cut when it is over."""
    length = len((prompt or "").strip())
    over = length - MAX_PROMPT_CHARS
    if over > 0:
        st.error(f"The prompt is {length:,} characters: {over:,} over the limit of "
                 f"{MAX_PROMPT_CHARS:,}. Shorten it by {over:,} characters to generate; "
                 "nothing was cut.", icon=":material/content_cut:")
    else:
        st.caption(f"{length:,} / {MAX_PROMPT_CHARS:,} characters")


def render_coach(prompt: str) -> None:
    """The provider's prompting advice applied to this prompt."""
    report = review_prompt(prompt)
    with st.container(border=True):
        st.markdown(f"**Prompt coach** · {report.score_text}")
        for check in report.checks:
            icon = ":green[:material/check_circle:]" if check.passed else ":orange[:material/lightbulb:]"
            line = f"{icon} {check.label}"
            if not check.passed:
                line += f" — {check.suggestion}"
            st.markdown(line)


def submit(studio: Studio, owner: str) -> None:
    """The Generate button: validate field by field; queue the takes only when all is right."""
    state = st.session_state
    prompt, duration, aspect, seed = (state.get("gen_prompt"), state.get("gen_duration"),
                                      state.get("gen_aspect"), state.get("gen_seed"))
    problems = validate_request(prompt, duration, aspect, seed)
    if problems:
        state["gen_problems"] = problems
        return
    request = GenerationRequest.create(prompt, duration, aspect, seed)
    template = state.get("gen_template") or {}
    jobs = queue_jobs(
        studio, plan_takes(request, state.get("gen_takes", 1)), owner,
        template_id=template.get("id"), template_version=template.get("version"),
        template_vars=template.get("vars"),
    )
    if jobs:
        st.toast(f"Queued {len(jobs)} video{'s' if len(jobs) > 1 else ''}. "
                 "Keep working — they appear below when ready.", icon=":material/movie:")


def render_batch(studio: Studio, owner: str) -> None:
    """Upload a CSV of prompts, check every row, preview the cost, queue them all."""
    st.caption("One video per row. Columns: `prompt` (required), `duration` (5 or 10), "
               f"`aspect_ratio` (16:9 or 9:16), `seed` (optional). A file may hold "
               f"{LIMITS_TEXT}.")
    st.download_button("Example CSV", BATCH_EXAMPLE, file_name="kling-batch-example.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:")
    upload = st.file_uploader("Batch CSV", type=["csv"], key="batch_file")
    if upload is None:
        return
    try:
        plan = parse_batch(upload.getvalue())
    except BatchFileError as exc:
        st.error(literal(exc), icon=":material/error:")
        return
    if plan.row_errors:
        st.error(f"{len(plan.row_errors)} row(s) need fixing before anything is queued:",
                 icon=":material/error:")
        for line, problems in plan.row_errors.items():
            st.markdown(f"- **Line {line}**: " + literal(" ".join(problems)))
        return
    st.dataframe(
        [{"line": line, "prompt": r.prompt, "duration": f"{r.duration} s",
          "aspect ratio": r.aspect_ratio, "seed": r.seed if r.seed is not None else "random"}
         for line, r in zip(plan.lines, plan.requests)],
        hide_index=True,
    )
    cost = plan.cost(studio.settings.price_per_second)
    st.markdown(f"**{len(plan.requests)} videos · {plan.total_seconds} s of video · "
                f"estimated ${cost:,.2f}**")
    # Remember what was queued: a second click on the same file would bill it twice.
    fingerprint = hashlib.sha256(upload.getvalue()).hexdigest()
    queued = st.session_state.setdefault("batches_queued", {})
    if fingerprint in queued:
        st.success(f"This file was queued as {queued[fingerprint]}. Its videos appear "
                   "below; upload another file for a new batch.", icon=":material/check:")
        return
    if st.button(f"Queue {len(plan.requests)} videos", type="primary", key="batch_queue"):
        batch_id = new_batch_id()
        requests = plan.requests
        if queue_jobs(studio, requests, owner, batch_id=batch_id):
            queued[fingerprint] = batch_id
            st.toast(f"Queued {len(requests)} videos from the batch.", icon=":material/movie:")
            st.rerun()
