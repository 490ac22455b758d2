"""Background generation jobs: a bounded worker pool that paces itself by the rate limit.

The studio submits generations here and returns at once; worker threads call the API,
write the history log before and after, archive the video, and update a `Job` the pages
read. Worker threads never touch Streamlit: the UI only reads snapshots (`jobs()`,
`get()`), which are copies, so a page never sees a job half-updated.

Pacing: when the last response said no requests remain in the window, or the API
answered 429, jobs wait until the reset (status `waiting`, with `wait_until`) and then
run; a rate limit is a pause, not a failure. The client given to the queue should not
wait out 429s itself (see `KlingClient` retry policy), so that waiting stays visible here.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

from .billing import possibly_billed
from .errors import KlingError, PossiblyBilledError, RateLimitError
from .history import new_id
from .assembly import AssemblyError, write_recipe
from .models import MAX_SEED, MODEL_NAME, STUDIO_VERSION, GenerationRequest, GenerationResult
from .stores import Archiver, GenerationClient, HistoryStore, HistoryWriter

log = logging.getLogger("kling.jobs")

#: A job that keeps hitting the rate limit gives up after waiting this long in total.
MAX_RATE_LIMIT_WAIT_S = 15 * 60
#: Wait used when a 429 names no reset time.
DEFAULT_RATE_LIMIT_WAIT_S = 5.0


class JobStatus(str, Enum):
    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass
class Job:
    """One generation as the studio follows it. `id` is also its history id."""

    id: str
    request: GenerationRequest
    owner: str
    source: str = "studio"
    template_id: str | None = None
    template_version: int | None = None
    template_vars: dict[str, str] | None = None
    batch_id: str | None = None
    storyboard_id: str | None = None
    shot: str | None = None
    #: Who asked for it (their email, or the operating-system user without sign-in).
    created_by: str | None = None
    status: JobStatus = JobStatus.QUEUED
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    wait_until: float | None = None
    result: GenerationResult | None = None
    error: str | None = None
    error_kind: str | None = None
    video_path: Path | None = None
    archive_error: str | None = None
    history_error: str | None = None

    @property
    def possibly_billed(self) -> bool:
        """Sent, and no answer came: it may have been made and billed (`kling.billing`)."""
        return self.status is JobStatus.FAILED and possibly_billed("failed", self.error_kind)

    def running_for(self, now: float | None = None) -> float:
        """Seconds since the call was sent (0 while queued or waiting)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since it was submitted, frozen once it finished."""
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.submitted_at)


def plan_takes(request: GenerationRequest, takes: int,
               rng: random.Random | None = None) -> list[GenerationRequest]:
    """The requests for `takes` variations of one prompt.

    With a fixed seed the takes use consecutive seeds (wrapping at the maximum), so a
    good take can be found again. Without one each take gets its own random seed, chosen
    here rather than by the API so that the history knows it before the video exists.
    """
    if not 1 <= takes <= 8:
        raise ValueError("Variations must be between 1 and 8.")
    if request.seed is not None:
        return [request.with_seed((request.seed + i) % (MAX_SEED + 1)) for i in range(takes)]
    rng = rng or random.SystemRandom()
    return [request.with_seed(rng.randint(0, MAX_SEED)) for _ in range(takes)]


def seeded(request: GenerationRequest) -> GenerationRequest:
    """`request` with a seed: its own, or a random one chosen before anything is written
    or sent, so the history holds the seed of every take, whichever door (page, batch,
    command line) it came in by."""
    if request.seed is None:
        (request,) = plan_takes(request, 1)
    return request


def _cell(row: Mapping[str, Any], name: str) -> str | None:
    """A history cell as text, None when empty (a log row spells "empty" many ways)."""
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = str(value).strip()
    return value or None


def rerun_request(row: Mapping[str, Any]) -> tuple[GenerationRequest, dict[str, Any]]:
    """What queueing a logged generation again sends, and the template fields it records:
    the same prompt, duration, aspect ratio and seed (a random one if it had none)."""
    seed, version = _cell(row, "seed"), _cell(row, "template_version")
    request = GenerationRequest.create(
        _cell(row, "prompt") or "", _cell(row, "duration") or "5",
        _cell(row, "aspect_ratio") or "16:9", None if seed is None else int(float(seed)))
    fields = {"template_id": _cell(row, "template_id"),
              "template_version": None if version is None else int(float(version)),
              "template_vars": row.get("template_vars") or None}
    return request, fields


class Resubmitting:
    """What every job runner does alike on top of its own `submit`, `get` and history:
    queue several at once, retry a job and re-run a logged generation, each refusing a
    possibly billed one unless a person agreed to the cost."""

    _history: HistoryStore

    def submit(self, request: GenerationRequest, *, owner: str, **fields: Any) -> Job:
        raise NotImplementedError

    def get(self, job_id: str) -> Job | None:
        raise NotImplementedError

    def submit_many(self, requests: list[GenerationRequest], *, owner: str,
                    **fields: Any) -> list[Job]:
        """Queue several generations (variations or a batch) with the same metadata."""
        return self.submit_each([(request, fields) for request in requests], owner=owner)

    def submit_each(self, items: list[tuple[GenerationRequest, Mapping[str, Any]]], *,
                    owner: str) -> list[Job]:
        """Queue several generations, each with its own metadata (a storyboard's shots)."""
        return [self.submit(request, owner=owner, **fields) for request, fields in items]

    def retry(self, job_id: str, *, owner: str | None = None,
              possibly_billed_again: bool = False, created_by: str | None = None) -> Job:
        """Queue the same request again as a new job (the failed one stays in history).

        A possibly billed job is only sent again when the caller passes
        `possibly_billed_again=True`, after a person agreed to the cost. The new job is
        `created_by` whoever asked for it (by default whoever asked for the old one).
        """
        old = self.get(job_id)
        if old is None:
            raise KeyError(job_id)
        if old.possibly_billed and not possibly_billed_again:
            raise PossiblyBilledError(
                "This generation may already have been billed; retrying needs a "
                "confirmation that names the cost.")
        return self.submit(
            old.request, owner=owner or old.owner, source=old.source,
            template_id=old.template_id, template_version=old.template_version,
            template_vars=old.template_vars, batch_id=old.batch_id,
            storyboard_id=old.storyboard_id, shot=old.shot,
            created_by=created_by if created_by is not None else old.created_by,
        )

    def rerun(self, gen_id: str, *, owner: str, possibly_billed_again: bool = False,
              created_by: str | None = None) -> Job:
        """Queue a logged generation again as a new job (`rerun_request`).

        As with `retry`, a possibly billed generation is only sent again with
        `possibly_billed_again=True`, after a person agreed to the cost.
        """
        row = self._history.get(gen_id)
        if row is None:
            raise KeyError(gen_id)
        if possibly_billed(row.get("status"), row.get("error_type")) and not possibly_billed_again:
            raise PossiblyBilledError(
                "This generation may already have been billed; re-running it needs a "
                "confirmation that names the cost.")
        request, fields = rerun_request(row)
        return self.submit(request, owner=owner, created_by=created_by, **fields)


class JobQueue(Resubmitting):
    """Runs generations on at most `max_concurrency` worker threads."""

    def __init__(
        self,
        client: GenerationClient,
        history: HistoryStore,
        archive: Archiver | None = None,
        *,
        max_concurrency: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._history = history
        self._archive = archive
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._stopping = threading.Event()
        # Shared by all workers: once one job learns the window is used up, none sends.
        self._paused_until = 0.0
        self.max_concurrency = max_concurrency
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency,
                                        thread_name_prefix="kling-job")

    # -- submitting -------------------------------------------------------------------
    def submit(
        self,
        request: GenerationRequest,
        *,
        owner: str,
        source: str = "studio",
        template_id: str | None = None,
        template_version: int | None = None,
        template_vars: dict[str, str] | None = None,
        batch_id: str | None = None,
        storyboard_id: str | None = None,
        shot: str | None = None,
        created_by: str | None = None,
    ) -> Job:
        """Queue one generation (`seeded`); its pending history row is written before
        this returns."""
        request = seeded(request)
        job = Job(
            id=new_id(), request=request, owner=owner, source=source,
            template_id=template_id, template_version=template_version,
            template_vars=template_vars, batch_id=batch_id, storyboard_id=storyboard_id,
            shot=shot, created_by=created_by, submitted_at=self._clock(),
        )
        self._history.record_pending(
            request, gen_id=job.id, source=source, template_id=template_id,
            template_version=template_version, template_vars=template_vars,
            batch_id=batch_id, storyboard_id=storyboard_id, shot=shot, created_by=created_by,
        )
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id)
        return self._snapshot(job)

    # -- reading ----------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else self._snapshot(job)

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Snapshots of the jobs (of one owner, if given), newest first."""
        with self._lock:
            chosen = [j for j in self._jobs.values() if owner is None or j.owner == owner]
            snaps = [self._snapshot(j) for j in chosen]
        return sorted(snaps, key=lambda j: j.submitted_at, reverse=True)

    def wait(self, job_ids: list[str], timeout: float | None = None) -> list[Job]:
        """Block until these jobs have finished (or `timeout` passed); their snapshots."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._finished:
            while not all(self._jobs[i].status.finished for i in job_ids):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._finished.wait(remaining)
            return [self._snapshot(self._jobs[i]) for i in job_ids]

    def active_count(self, owner: str | None = None) -> int:
        return sum(1 for j in self.jobs(owner) if not j.status.finished)

    def worker_notice(self) -> str | None:
        """Nothing to say: the jobs run in this process."""
        return None

    def forget(self, job_id: str) -> None:
        """Drop a finished job from the panel (its history row stays)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status.finished:
                del self._jobs[job_id]

    def shutdown(self, wait: bool = True) -> None:
        """Stop waiting jobs and the pool; running API calls finish first when `wait`."""
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # -- the worker -------------------------------------------------------------------
    @staticmethod
    def _snapshot(job: Job) -> Job:
        return dataclasses.replace(job)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for name, value in changes.items():
                setattr(job, name, value)
            if job.status.finished:
                self._finished.notify_all()

    def _wait_until(self, job_id: str, until: float) -> bool:
        """Sleep (as status `waiting`) until `until`; False if the queue is stopping."""
        now = self._clock()
        if until <= now:
            return True
        self._update(job_id, status=JobStatus.WAITING, wait_until=until)
        log.info("job %s waits %.1f s for the rate limit", job_id, until - now)
        return not self._stopping.wait(until - now)

    def _pause_for_rate_limit(self, reset_at: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, reset_at)

    def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        assert job is not None
        waited = 0.0
        while True:
            pause = self._pause_from_headers()
            if pause and not self._wait_until(job_id, pause):
                return
            self._update(job_id, status=JobStatus.RUNNING, started_at=self._clock(),
                         wait_until=None)
            try:
                result = self._client.generate(request=job.request)
            except RateLimitError as err:
                wait = err.retry_after if err.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT_S
                waited += wait
                if waited <= MAX_RATE_LIMIT_WAIT_S:
                    self._pause_for_rate_limit(self._clock() + wait)
                    continue
                self._fail(job, err)
                return
            except KlingError as err:
                self._fail(job, err)
                return
            except Exception as err:  # a bug must not leave the job spinning forever
                log.exception("job %s crashed", job_id)
                self._fail(job, KlingError(f"Unexpected error: {type(err).__name__}."))
                return
            try:
                self._succeed(job, result)
            except Exception as err:  # the video exists: never leave the job "running"
                log.exception("job %s: storing the result failed", job_id)
                self._update(job_id, status=JobStatus.SUCCEEDED, finished_at=self._clock(),
                             result=result, wait_until=None,
                             archive_error=f"The video was not saved locally "
                                           f"({type(err).__name__}: {err}).")
            return

    def _pause_from_headers(self) -> float | None:
        """When to send next, if the window is used up; None to send now."""
        now = self._clock()
        with self._lock:
            paused_until = self._paused_until
        limit = self._client.last_rate_limit
        if limit is not None and limit.remaining == 0 and limit.reset and limit.reset > now:
            paused_until = max(paused_until, limit.reset)
        return paused_until if paused_until > now else None

    def _fail(self, job: Job, error: KlingError) -> None:
        finished = self._clock()
        history_error = record_failure(self._history, job, error,
                                       elapsed_s=finished - job.submitted_at)
        self._update(job.id, status=JobStatus.FAILED, finished_at=finished,
                     error=str(error), error_kind=error.kind, wait_until=None,
                     history_error=history_error)

    def _succeed(self, job: Job, result: GenerationResult) -> None:
        kept = record_success(self._history, self._archive, job, result,
                              elapsed_s=self._clock() - job.submitted_at)
        self._update(job.id, status=JobStatus.SUCCEEDED, finished_at=self._clock(),
                     result=result, video_path=kept.video_path,
                     archive_error=kept.archive_error, history_error=kept.history_error)


# -- what a finished call leaves behind, wherever the job ran ---------------------------

def _history_write(job_id: str, write: Callable[[], None]) -> str | None:
    """Run one history write; a full disk must not leave the job spinning."""
    try:
        write()
    except Exception as err:  # noqa: BLE001 - any write failure is reported the same way
        log.error("job %s: history not written: %s", job_id, err)
        return f"The history log could not be written ({err}); the result is shown here only."
    return None


def record_failure(history: HistoryWriter, job: Job, error: KlingError, *,
                   elapsed_s: float) -> str | None:
    """Log a failed call; what went wrong writing it, if anything."""
    return _history_write(job.id, lambda: history.record_failure(
        job.id, error, elapsed_s=elapsed_s))


def _write_recipe(job: Job, result: GenerationResult, path: Path) -> None:
    """Keep how the video was made in its own metadata (a remux, never a re-encode),
    so the file says it wherever it goes; a file that cannot take it stays as it is."""
    recipe = {"id": job.id, "prompt": job.request.prompt, "seed": result.seed,
              "model": MODEL_NAME, "duration": job.request.duration,
              "aspect_ratio": job.request.aspect_ratio, "template_id": job.template_id,
              "template_version": job.template_version,
              "storyboard_id": job.storyboard_id, "shot": job.shot,
              "studio_version": STUDIO_VERSION}
    try:
        write_recipe(path, path, recipe)
    except AssemblyError as err:
        log.warning("job %s: recipe not written into the video: %s", job.id, err)


@dataclass(frozen=True)
class Kept:
    """Where a made video was kept, or why it was not, and a history write that failed."""

    video_path: Path | None = None
    archive_error: str | None = None
    history_error: str | None = None


def record_success(history: HistoryWriter, archive: Archiver | None, job: Job,
                   result: GenerationResult, *, elapsed_s: float) -> Kept:
    """Log a made video, then archive it (with its recipe) and log where it went."""
    # The outcome is logged before the download so that a crash while archiving
    # still leaves the video URL in the history.
    history_error = _history_write(
        job.id, lambda: history.record_success(job.id, result, elapsed_s=elapsed_s))
    if archive is None:
        return Kept(history_error=history_error)
    video_path, archive_error = None, None
    try:
        video_path = archive.download(job.id, result.video.url)
        _write_recipe(job, result, video_path)
        archive.keep(job.id, video_path)  # final now: into the bucket, where there is one
    except KlingError as err:
        archive_error = str(err)
        log.warning("job %s: video not archived: %s", job.id, err)
    history_error = history_error or _history_write(
        job.id, lambda: history.record_video_path(
            job.id, None if video_path is None else str(video_path),
            archive_error=archive_error))
    return Kept(video_path, archive_error, history_error)
