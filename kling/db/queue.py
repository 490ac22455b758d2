"""Generation jobs in the team database: studio replicas queue and read, workers run.

The queue is the `jobs` table itself. Queueing inserts a generation's pending history
row and its job in one transaction; a worker (`kling.db.worker`) claims the oldest
queued job with `FOR UPDATE SKIP LOCKED`, so no two workers take one job, and is woken
by `NOTIFY` on `CHANNEL`. This is the mechanism PostgreSQL queues such as Procrastinate
are built on, kept in the studio's own table because a job's billing states must be
committed with its history row: a second job table kept in step would be a second truth.

Billing safety is in the states: `queued`, then `calling`, committed before the
request is sent; a `calling` job is never sent again automatically. If its worker stops
being seen (`WORKER_SILENCE_S`), another worker marks it failed with an unknown outcome,
**possibly billed**, for a person to decide. Only a 429, which Firemoon sends instead of
doing anything, puts a job back in the queue.

Any replica shows any job: `Job` snapshots are read from the database, with the
request and result from the job's `generations` row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from ..jobs import Job, JobStatus, Resubmitting, seeded
from ..history import new_id
from ..models import GenerationRequest, GenerationResult, Video
from .engine import unreachable
from .history import DatabaseHistory
from .tables import generations, jobs, pacing, workers

#: Where workers hear that a job was queued.
CHANNEL = "kling_jobs"
#: A worker not seen for this long is taken for gone: its calls are possibly billed.
WORKER_SILENCE_S = 30
#: The one row of `pacing`: the rate limit is the account's.
PACING = "firemoon"
#: Finished jobs stay on their owner's panel this long (a reload shows them again).
SHOWN_FOR_S = 12 * 3600
_SHOWN_AT_MOST = 60

_STATUSES = {"queued": JobStatus.QUEUED, "calling": JobStatus.RUNNING,
             "succeeded": JobStatus.SUCCEEDED, "failed": JobStatus.FAILED}
j, g = jobs.c, generations.c
JOB_ROWS = sa.select(
    j.id, j.owner, j.state, j.submitted_at, j.started_at, j.finished_at, j.error,
    j.error_kind, j.archive_error, j.history_error, g.prompt, g.duration, g.aspect_ratio,
    g.seed, g.source, g.template_id, g.template_version, g.template_vars, g.batch_id,
    g.storyboard_id, g.shot, g.created_by, g.video_url, g.video_width, g.video_height,
    g.video_duration, g.inference_s, g.video_path,
).select_from(jobs.join(generations, g.id == j.id))


def now() -> datetime:
    return datetime.now(timezone.utc)


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def job_from_row(row: Row, paused_until: datetime | None = None) -> Job:
    """A job as the studio's panels show it; a queued job waits while the account is
    paused by the rate limit."""
    status = _STATUSES[row.state]
    wait_until = None
    if status is JobStatus.QUEUED and paused_until is not None and paused_until > now():
        status, wait_until = JobStatus.WAITING, paused_until.timestamp()
    result = None
    if status is JobStatus.SUCCEEDED and row.video_url:
        result = GenerationResult(
            videos=(Video(url=row.video_url, duration=row.video_duration or 0.0,
                          width=row.video_width or 0, height=row.video_height or 0,
                          content_type="video/mp4"),),
            seed=row.seed or 0, inference_s=row.inference_s or 0.0)
    try:
        template_vars = json.loads(row.template_vars) if row.template_vars else None
    except ValueError:
        template_vars = None
    return Job(
        id=row.id, owner=row.owner, source=row.source or "studio",
        request=GenerationRequest(row.prompt or "", row.duration or "5",
                                  row.aspect_ratio or "16:9", row.seed),
        template_id=row.template_id, template_version=row.template_version,
        template_vars=template_vars, batch_id=row.batch_id,
        storyboard_id=row.storyboard_id, shot=row.shot, created_by=row.created_by,
        status=status, submitted_at=row.submitted_at.timestamp(),
        started_at=_epoch(row.started_at), finished_at=_epoch(row.finished_at),
        wait_until=wait_until, result=result, error=row.error, error_kind=row.error_kind,
        video_path=Path(row.video_path) if row.video_path else None,
        archive_error=row.archive_error, history_error=row.history_error,
    )


class DatabaseQueue(Resubmitting):
    """The `kling.stores.JobRunner` of a studio replica: it queues and reads; workers
    run the jobs. Safe to share between threads."""

    def __init__(self, engine: Engine, history: DatabaseHistory, *,
                 max_concurrency: int = 4) -> None:
        self.engine = engine
        self._history = history
        #: Places for calls at once, for the panels' wording (each worker has its own).
        self.max_concurrency = max_concurrency

    def _read(self, statement: Any) -> list[Row]:
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(statement))
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc

    def _paused_until(self) -> datetime | None:
        rows = self._read(sa.select(pacing.c.paused_until).where(pacing.c.name == PACING))
        return rows[0].paused_until if rows else None

    # -- queueing -------------------------------------------------------------------------
    def submit(self, request: GenerationRequest, *, owner: str, **fields: Any) -> Job:
        """Queue one generation (`seeded`): its pending history row and its job are
        committed together, and the workers are told."""
        request = seeded(request)

        def enqueue(connection: Connection, gen_id: str) -> None:
            connection.execute(sa.insert(jobs).values(
                id=gen_id, owner=owner, state="queued", submitted_at=now()))
            connection.execute(sa.text(f"NOTIFY {CHANNEL}"))

        gen_id = self._history.record_pending(request, gen_id=new_id(), along=enqueue,
                                              **fields)
        job = self.get(gen_id)
        assert job is not None
        return job

    # -- reading --------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        rows = self._read(JOB_ROWS.where(j.id == job_id))
        return job_from_row(rows[0], self._paused_until()) if rows else None

    def jobs(self, owner: str | None = None) -> list[Job]:
        """The jobs of `owner` (or everyone's) still to finish or finished lately,
        newest first."""
        recent = sa.or_(j.state.in_(("queued", "calling")),
                        j.submitted_at >= now() - timedelta(seconds=SHOWN_FOR_S))
        statement = JOB_ROWS.where(recent).order_by(j.submitted_at.desc()).limit(_SHOWN_AT_MOST)
        if owner is not None:
            statement = statement.where(j.owner == owner)
        paused = self._paused_until()
        return [job_from_row(row, paused) for row in self._read(statement)]

    def wait(self, job_ids: Sequence[str], timeout: float | None = None) -> list[Job]:
        """Block until these jobs have finished (or `timeout` passed); their snapshots."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = [self.get(job_id) for job_id in job_ids]
            snaps = [job for job in found if job is not None]
            done = all(job.status.finished for job in snaps)
            if done or (deadline is not None and time.monotonic() >= deadline):
                return snaps
            time.sleep(0.2)

    def active_count(self, owner: str | None = None) -> int:
        statement = sa.select(sa.func.count()).select_from(jobs).where(
            j.state.in_(("queued", "calling")))
        if owner is not None:
            statement = statement.where(j.owner == owner)
        return int(self._read(statement)[0][0])

    def worker_notice(self) -> str | None:
        """What to tell a person when no worker has been seen lately: nothing queued
        here runs until one starts."""
        seen = self._read(sa.select(sa.func.max(workers.c.seen_at)).where(
            workers.c.stopped_at.is_(None)))[0][0]
        if seen is not None and seen >= now() - timedelta(seconds=WORKER_SILENCE_S):
            return None
        return ("No worker has been seen for 30 seconds, so generations wait in the "
                "queue until one runs. Ask whoever runs the studio to start "
                "`python -m kling worker`.")

    def shutdown(self, wait: bool = True) -> None:
        """Nothing runs here: the workers go on with what was queued."""
