"""The live panel of a person's generations, refreshed in place while jobs run."""

from __future__ import annotations

import time
from typing import Any, Mapping

import streamlit as st

from kling.billing import POSSIBLY_BILLED
from kling.errors import KlingError, RefusedError
from kling.jobs import Job, JobStatus
from kling.models import GenerationRequest
from kling.services import Studio
from kling.errors import TemplateError
from kling.timing import Expectation, expectation, progress
from kling.people import Action
from kling.ui.access import allowed
from kling.ui.state import HISTORY_PAGE
from kling.ui.text import literal
from kling.ui.video import download_video_button, play_video

REFRESH_SECONDS = 1.0
#: How long the measured generation times behind the progress bars are reused.
EXPECTATIONS_TTL_S = 60.0
_STATUS_LABELS = {
    JobStatus.QUEUED: ("Queued", "gray"),
    JobStatus.WAITING: ("Waiting for the rate limit", "orange"),
    JobStatus.RUNNING: ("Generating", "blue"),
    JobStatus.SUCCEEDED: ("Ready", "green"),
    JobStatus.FAILED: ("Failed", "red"),
}


def _template_name(studio: Studio, template_id: str) -> str:
    try:
        return f"“{literal(studio.templates.get(template_id).name)}”"
    except TemplateError:  # deleted since: its id still says which one it was
        return literal(template_id)


def _settings_line(studio: Studio, job: Job) -> str:
    request = job.request
    parts = [f"{request.duration} s", request.aspect_ratio, f"seed {request.seed}"]
    if job.template_id:
        parts.append(f"template {_template_name(studio, job.template_id)} "
                     f"v{job.template_version}")
    return " · ".join(parts)


@st.cache_resource(ttl=EXPECTATIONS_TTL_S, show_spinner=False)
def _expected_times(_studio: Studio, data_dir: str) -> Mapping[str, Expectation]:
    """The history's measured generation times, shared by every session for a minute.

    Every open panel asks once a second per running job; each finished job changes the
    log, and asking the log means reading it again. These times move slowly, so one
    read a minute serves everyone.
    """
    return _studio.history.expected_times()


def _progress(studio: Studio, job: Job, now: float) -> None:
    if job.status is JobStatus.WAITING and job.wait_until:
        st.caption(f"Paused by the rate limit; continues in {max(0, job.wait_until - now):.0f} s.")
        return
    if job.status is JobStatus.QUEUED:
        st.caption(f"Queued for {job.elapsed(now):.0f} s: it starts when one of the "
                   f"{studio.queue.max_concurrency} places is free.")
        return
    expected = expectation(_expected_times(studio, str(studio.settings.data_dir)),
                           job.request.duration)
    shown = progress(job.running_for(now), expected)
    if shown.fraction is None:
        st.caption(shown.text)
    else:
        st.progress(shown.fraction, text=shown.text)


def _retry(studio: Studio, job: Job, owner: str) -> None:
    """Retry at once, or, for a possibly billed job, after a confirmation naming the cost."""
    confirm_key = f"confirm-retry-{job.id}"
    if job.possibly_billed and not st.session_state.get(confirm_key):
        if st.button("Retry…", key=f"retry-{job.id}", icon=":material/refresh:"):
            st.session_state[confirm_key] = True
            st.rerun()
        return
    again = True
    if job.possibly_billed:
        cost = studio.estimate_cost(job.request.seconds)
        st.warning(f"This generation is {POSSIBLY_BILLED}: Firemoon may have made it and "
                   f"charged about ${cost:.2f}. Check your Firemoon account first; retrying "
                   f"sends it again and may cost another ${cost:.2f}.",
                   icon=":material/warning:")
        left, right = st.columns(2)
        again = left.button(f"Retry anyway (${cost:.2f})", key=f"retry-yes-{job.id}",
                            type="primary")
        if right.button("Cancel", key=f"retry-no-{job.id}"):
            del st.session_state[confirm_key]
            st.rerun()
    elif not st.button("Retry", key=f"retry-{job.id}", icon=":material/refresh:"):
        again = False
    if again:
        st.session_state.pop(confirm_key, None)
        try:
            studio.queue.retry(job.id, owner=owner, possibly_billed_again=job.possibly_billed)
        except (KlingError, OSError) as exc:
            st.error(f"Could not retry: {literal(exc)}", icon=":material/error:")
        else:
            st.rerun()


def queue_jobs(studio: Studio, requests: list[GenerationRequest], owner: str,
               **fields: Any) -> list[Job]:
    """Queue these generations together (one budget check for all of them); if they
    cannot be queued, say why and stop.

    A generation is only queued once its pending row is on disk, so a failure here
    means the rest were not sent; those queued before it show in the jobs panel.
    """
    try:
        return studio.queue.submit_many(requests, owner=owner, **fields)
    except RefusedError as exc:
        st.error(literal(exc), icon=":material/block:")
    except (KlingError, OSError) as exc:
        st.error(f"Nothing more was queued: {literal(exc)}", icon=":material/error:")
    return []


def _job_card(studio: Studio, job: Job, owner: str, now: float) -> None:
    label, colour = _STATUS_LABELS[job.status]
    if job.possibly_billed:
        label, colour = f"Failed · {POSSIBLY_BILLED}", "orange"
    with st.container(border=True):
        st.markdown(f":{colour}-badge[{label}] `{job.id}`")
        st.text(job.request.prompt if len(job.request.prompt) <= 160
                else job.request.prompt[:157] + "…")
        st.caption(_settings_line(studio, job))
        if job.history_error:
            st.warning(literal(job.history_error), icon=":material/warning:")
        if job.status is JobStatus.SUCCEEDED and job.result is not None:
            play_video(studio.archive, job.id, job.result.video.url)
            st.caption(f"Seed {job.result.seed} · inference {job.result.inference_s:.1f} s · "
                       f"total {job.elapsed(now):.1f} s")
            if job.archive_error:
                st.caption(f"Not archived locally yet: {literal(job.archive_error)}")
            left, right = st.columns(2)
            with left:
                download_video_button(studio.archive, job.id, key=f"dl-{job.id}")
            with right:
                st.page_link(HISTORY_PAGE, label="History", icon=":material/history:",
                             query_params={"id": job.id})
        elif job.status is JobStatus.FAILED:
            st.error(literal(job.error or "The generation failed."), icon=":material/error:")
            _retry(studio, job, owner)
        else:
            _progress(studio, job, now)


def render_jobs(studio: Studio, owner: str, *, columns: int = 3) -> None:
    """This person's jobs, newest first; refreshes itself while any is unfinished."""
    active_at_start = studio.queue.active_count(owner) > 0

    @st.fragment(run_every=REFRESH_SECONDS if active_at_start else None)
    def panel() -> None:
        notice = studio.queue.worker_notice()
        if notice:
            st.warning(notice, icon=":material/engineering:")
        jobs = studio.queue.jobs(owner)
        if not jobs:
            if allowed(studio, Action.GENERATE):
                st.caption("Your generations will appear here. They run in the background, "
                           "so you can keep writing or switch pages meanwhile.")
            else:
                st.page_link(HISTORY_PAGE, label="Watch what the team made in History",
                             icon=":material/history:")
            return
        active = sum(1 for j in jobs if not j.status.finished)
        done = sum(1 for j in jobs if j.status is JobStatus.SUCCEEDED)
        st.caption(f"{active} running · {done} ready · {len(jobs) - active - done} failed")
        now = time.time()
        grid = st.columns(columns)
        for index, job in enumerate(jobs):
            with grid[index % columns]:
                _job_card(studio, job, owner, now)
        if active_at_start and active == 0:
            # Everything finished: one full rerun turns the panel static again and
            # brings the sidebar's counters up to date.
            st.rerun(scope="app")

    panel()
