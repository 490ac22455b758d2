"""`python -m kling worker`: runs the team's generation jobs from the database.

Each of `concurrency` threads claims the oldest queued job (`kling.db.queue`) when the
account's pacing lets a request go, commits it as `calling`, sends it, and records the
outcome with `kling.jobs.record_success` / `record_failure`, as the studio's own queue
does. A heartbeat marks the worker seen every `HEARTBEAT_S` and ends the calls of
workers not seen for `WORKER_SILENCE_S` as failed with an unknown outcome: **possibly
billed**, never sent again.

**Pacing is the account's.** Firemoon limits requests per API key, so every worker reads
and writes one `pacing` row, under a row lock, when it claims a job: the last
`X-RateLimit-*` headers seen (remaining requests, when the window resets), and a pause
after a 429. A claim spends one of the remaining requests; none is claimed while none
remains or while paused, and queued jobs show as waiting until then.

Stopping (SIGTERM, Ctrl+C): no new job is claimed; calls under way finish and are
recorded, since they are made and billed either way.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import KlingError, OutcomeUnknownError, RateLimitError
from ..jobs import DEFAULT_RATE_LIMIT_WAIT_S, Job, record_failure, record_success
from ..models import RateLimit
from ..storage.process import process_owner
from ..stores import Archiver, GenerationClient
from .history import DatabaseHistory
from .queue import CHANNEL, PACING, WORKER_SILENCE_S, JOB_ROWS, job_from_row, now
from .tables import jobs, pacing, workers

log = logging.getLogger("kling.worker")

HEARTBEAT_S = 5.0
#: Longest a free thread sleeps before looking at the queue again (a NOTIFY wakes it).
POLL_S = 2.0

j, p = jobs.c, pacing.c


class Worker:
    """One worker process's threads, heartbeat and listener."""

    def __init__(self, engine: Engine, client: GenerationClient, history: DatabaseHistory,
                 archive: Archiver | None, *, concurrency: int = 4) -> None:
        self.engine = engine
        # The process, and which of its workers (a test may run two in one process).
        self.id = f"{process_owner()}/{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency
        self._client = client
        self._history = history
        self._archive = archive
        self._stop = threading.Event()
        self._wake = threading.Condition()

    # -- the process ----------------------------------------------------------------------
    def run(self) -> None:
        """Run jobs until `stop()`; returns when every call under way was recorded."""
        started = now()
        with self.engine.begin() as connection:
            connection.execute(sa.insert(workers).values(
                id=self.id, concurrency=self.concurrency, started_at=started, seen_at=started))
        log.info("worker %s started with %d places", self.id, self.concurrency)
        helpers = [threading.Thread(target=self._heartbeat, name="kling-heartbeat"),
                   threading.Thread(target=self._listen, name="kling-listen")]
        places = [threading.Thread(target=self._place, name=f"kling-worker-{n}")
                  for n in range(self.concurrency)]
        for thread in helpers + places:
            thread.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self._stop.set()
            self._wake_all()
            for thread in places + helpers:
                thread.join()
            with self.engine.begin() as connection:
                connection.execute(sa.update(workers).where(workers.c.id == self.id)
                                   .values(stopped_at=now(), seen_at=now()))
            log.info("worker %s stopped", self.id)

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the calls under way are recorded."""
        self._stop.set()
        self._wake_all()

    def _wake_all(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _idle(self, seconds: float) -> None:
        with self._wake:
            if not self._stop.is_set():
                self._wake.wait(max(0.05, min(seconds, POLL_S)))

    def _listen(self) -> None:
        """Wake the free places when a job is queued (polling stands in meanwhile)."""
        while not self._stop.is_set():
            try:
                raw = self.engine.raw_connection()
                try:
                    connection = raw.driver_connection
                    connection.autocommit = True
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        if any(True for _ in connection.notifies(timeout=1.0, stop_after=1)):
                            self._wake_all()
                finally:
                    raw.invalidate()  # a LISTENing session is not for the pool
            except Exception:  # noqa: BLE001 - polling goes on; try listening again soon
                log.warning("worker %s: not listening for new jobs", self.id, exc_info=True)
                self._stop.wait(HEARTBEAT_S)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.engine.begin() as connection:
                    connection.execute(sa.update(workers).where(workers.c.id == self.id)
                                       .values(seen_at=now()))
                self.reap()
            except (SQLAlchemyError, KlingError):
                log.warning("worker %s: heartbeat failed", self.id, exc_info=True)

    def reap(self) -> int:
        """End the calls of workers not seen for `WORKER_SILENCE_S`: failed, outcome
        unknown, possibly billed. How many."""
        silent = now() - timedelta(seconds=WORKER_SILENCE_S)
        with self.engine.connect() as connection:
            orphans = connection.execute(JOB_ROWS.where(
                j.state == "calling",
                j.worker.in_(sa.select(workers.c.id).where(workers.c.seen_at < silent)))).all()
        for row in orphans:
            job = job_from_row(row)
            error = OutcomeUnknownError(
                "The worker running this generation stopped while waiting for Firemoon's "
                "answer, so it is unknown whether the video was made (and billed).")
            history_error = record_failure(self._history, job, error,
                                           elapsed_s=time.time() - job.submitted_at)
            with self.engine.begin() as connection:
                connection.execute(sa.update(jobs).where(j.id == job.id, j.state == "calling")
                                   .values(state="failed", finished_at=now(), error=str(error),
                                           error_kind=error.kind, history_error=history_error))
            log.warning("job %s: its worker is gone; possibly billed", job.id)
        return len(orphans)

    # -- one place --------------------------------------------------------------------------
    def _place(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.claim()
            except SQLAlchemyError:
                log.warning("worker %s: could not claim a job", self.id, exc_info=True)
                self._idle(POLL_S)
                continue
            if isinstance(claimed, Job):
                self._run(claimed)
            else:
                self._idle(POLL_S if claimed is None else claimed)

    def claim(self) -> Job | float | None:
        """The oldest queued job, now `calling`; or how long the pacing says to wait;
        or None when nothing is queued."""
        with self.engine.begin() as connection:
            state = connection.execute(
                sa.select(pacing).where(p.name == PACING).with_for_update()).one()
            at = now()
            if state.paused_until is not None and state.paused_until > at:
                return (state.paused_until - at).total_seconds()
            window = state.reset_at is not None and state.reset_at > at
            if window and state.remaining is not None and state.remaining <= 0:
                return (state.reset_at - at).total_seconds()
            found = connection.execute(
                sa.select(j.id).where(j.state == "queued").order_by(j.submitted_at, j.id)
                .limit(1).with_for_update(skip_locked=True)).first()
            if found is None:
                return None
            connection.execute(sa.update(jobs).where(j.id == found.id).values(
                state="calling", started_at=at, worker=self.id))
            if window and state.remaining is not None:
                spent = {"remaining": state.remaining - 1}
                if state.remaining - 1 <= 0:
                    spent["paused_until"] = state.reset_at
                connection.execute(sa.update(pacing).where(p.name == PACING).values(**spent))
            return job_from_row(connection.execute(JOB_ROWS.where(j.id == found.id)).one())

    def _run(self, job: Job) -> None:
        try:
            result = self._client.generate(request=job.request)
        except RateLimitError as err:
            # Firemoon refused it and did nothing: the one answer after which it is sent
            # again, once the account's window allows.
            wait = err.retry_after if err.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT_S
            self._paced(self._client.last_rate_limit, pause_s=wait)
            with self.engine.begin() as connection:
                connection.execute(sa.update(jobs).where(j.id == job.id).values(
                    state="queued", started_at=None, worker=None))
            log.info("job %s: rate limited, back in the queue for %.0f s", job.id, wait)
            return
        except KlingError as err:
            self._paced(self._client.last_rate_limit)
            self._failed(job, err)
            return
        except Exception as err:  # a bug must not leave the job calling forever
            log.exception("job %s crashed", job.id)
            self._failed(job, KlingError(f"Unexpected error: {type(err).__name__}."))
            return
        self._paced(self._client.last_rate_limit)
        kept = record_success(self._history, self._archive, job, result,
                              elapsed_s=time.time() - job.submitted_at)
        # Written whatever a reaper decided meanwhile: the video exists.
        self._finish(job, state="succeeded", archive_error=kept.archive_error,
                     history_error=kept.history_error)

    def _failed(self, job: Job, error: KlingError) -> None:
        history_error = record_failure(self._history, job, error,
                                       elapsed_s=time.time() - job.submitted_at)
        self._finish(job, state="failed", error=str(error), error_kind=error.kind,
                     history_error=history_error)

    def _finish(self, job: Job, **values: object) -> None:
        for attempt in range(3):
            try:
                with self.engine.begin() as connection:
                    connection.execute(sa.update(jobs).where(j.id == job.id)
                                       .values(finished_at=now(), **values))
                return
            except SQLAlchemyError:
                log.warning("job %s: its state could not be written (try %d)", job.id,
                            attempt + 1, exc_info=True)
                self._stop.wait(1.0)

    def _paced(self, limit: RateLimit | None, *, pause_s: float | None = None) -> None:
        """Share what the last answer said about the account's window with every worker.
        Within one window the fewest remaining wins: answers arrive out of order."""
        changes: dict[str, object] = {}
        with self.engine.begin() as connection:
            state = connection.execute(
                sa.select(pacing).where(p.name == PACING).with_for_update()).one()
            paused = state.paused_until
            if limit is not None and limit.remaining is not None and limit.reset is not None:
                reset = datetime.fromtimestamp(limit.reset, timezone.utc)
                if state.reset_at is None or reset > state.reset_at:
                    changes.update(remaining=limit.remaining, reset_at=reset)
                elif reset == state.reset_at:
                    changes["remaining"] = min(limit.remaining, state.remaining
                                               if state.remaining is not None
                                               else limit.remaining)
                if changes.get("remaining", 1) <= 0:
                    paused = max(filter(None, (paused, reset)))
            if pause_s is not None:
                paused = max(filter(None, (paused, now() + timedelta(seconds=pause_s))))
                changes["rate_limited"] = p.rate_limited + 1
            if paused != state.paused_until:
                changes["paused_until"] = paused
            if changes:
                connection.execute(sa.update(pacing).where(p.name == PACING).values(**changes))
