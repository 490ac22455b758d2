"""Generation jobs in the team database: a studio replica queues, workers run them,
any replica reads them; the account's rate limit is paced across workers; and a worker
that dies mid-call leaves its job possibly billed, never sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

import pytest
import sqlalchemy as sa

from kling import db
from kling.archive import VideoArchive
from kling.client import KlingClient, RetryPolicy
from kling.db.history import DatabaseHistory
from kling.db.queue import DatabaseQueue, now
from kling.db.worker import Worker
from kling.errors import PossiblyBilledError
from kling.jobs import JobStatus
from kling.models import GenerationRequest
from kling.simulator import SimulatorConfig
from kling.simulator.server import Simulator
from tests.test_cli import ROOT, cli_env


@pytest.fixture
def engine(upgraded) -> Iterator[sa.Engine]:
    engine = db.connect(upgraded)
    yield engine
    engine.dispose()


@pytest.fixture
def history(engine) -> DatabaseHistory:
    return DatabaseHistory(engine)


@pytest.fixture
def queue(engine, history) -> DatabaseQueue:
    return DatabaseQueue(engine, history)


@contextmanager
def simulator(**config) -> Iterator[Simulator]:
    config.setdefault("latency", (0.0, 0.0))
    with Simulator(SimulatorConfig(**config)).start() as sim:
        yield sim


class Counting(KlingClient):
    """A client that counts what it sent."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(api_key="demo", base_url=sim.url, read_timeout=60,
                         retry=RetryPolicy(retry_rate_limits=False))
        self.sent = 0
        self._count = threading.Lock()

    def generate(self, *args, **kwargs):
        with self._count:
            self.sent += 1
        return super().generate(*args, **kwargs)


@contextmanager
def running(engine, history, sim, tmp_path, *, concurrency=2) -> Iterator[Worker]:
    worker = Worker(engine, Counting(sim), history, VideoArchive(tmp_path),
                    concurrency=concurrency)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=120)


def request(prompt="Waves crashing on the shore, drone shot", seed=None) -> GenerationRequest:
    return GenerationRequest.create(prompt, "5", "16:9", seed)


def test_a_queued_job_is_run_by_a_worker_and_read_by_any_replica(engine, history, queue,
                                                                   tmp_path):
    job = queue.submit(request(seed=11), owner="me", created_by="cy@acme.com",
                       template_id="tpl-a")
    assert job.status is JobStatus.QUEUED and job.request.seed == 11
    assert history.get(job.id)["status"] == "pending"
    assert "No worker" in queue.worker_notice()
    with simulator() as sim, running(engine, history, sim, tmp_path) as worker:
        (done,) = queue.wait([job.id], timeout=60)
        assert queue.worker_notice() is None
    assert done.status is JobStatus.SUCCEEDED and done.result.seed == 11
    assert done.video_path == tmp_path / "videos" / f"{job.id}.mp4"
    assert done.video_path.is_file() and worker._client.sent == 1
    other = DatabaseQueue(engine, DatabaseHistory(engine))  # another replica
    assert [j.id for j in other.jobs("me")] == [job.id] and other.jobs("you") == []
    row = history.get(job.id)
    assert (row["status"], row["created_by"], row["template_id"]) == (
        "succeeded", "cy@acme.com", "tpl-a")
    assert other.active_count("me") == 0


def test_a_job_that_fails_says_why_and_retries_only_when_asked(engine, history, queue,
                                                               tmp_path):
    with simulator(fail_first=1) as sim, running(engine, history, sim, tmp_path):
        (failed,) = queue.wait([queue.submit(request(), owner="me").id], timeout=60)
        assert failed.status is JobStatus.FAILED and failed.error_kind == "generation_failed"
        assert not failed.possibly_billed
        (again,) = queue.wait([queue.retry(failed.id, owner="me").id], timeout=60)
    assert again.status is JobStatus.SUCCEEDED
    assert again.request == failed.request and again.id != failed.id


def test_two_workers_share_the_accounts_rate_limit(engine, history, queue, tmp_path):
    # Ten requests a window (a short window: the minute's rules, sooner).
    with simulator(rate_limit_per_minute=10, rate_window_s=4,
                   latency=(0.2, 0.2)) as sim, \
            running(engine, history, sim, tmp_path / "a", concurrency=4) as one, \
            running(engine, history, sim, tmp_path / "b", concurrency=4) as two:
        jobs = queue.submit_many([request(seed=n) for n in range(20)], owner="me")
        seen_waiting = False
        deadline = time.monotonic() + 120
        while queue.active_count("me") and time.monotonic() < deadline:
            seen_waiting |= any(j.status is JobStatus.WAITING for j in queue.jobs("me"))
            time.sleep(0.1)
        done = queue.wait([j.id for j in jobs], timeout=1)
    assert [j.status for j in done] == [JobStatus.SUCCEEDED] * 20
    assert seen_waiting, "the queue never showed the pause"
    with engine.connect() as connection:
        rate_limited = connection.execute(sa.text("select rate_limited from pacing")).scalar()
    sent = one._client.sent + two._client.sent
    assert one._client.sent and two._client.sent  # both workers took jobs
    assert rate_limited <= 2 and sent == 20 + rate_limited


WORKER_ENV = {"KLING_SIM_LATENCY": "0"}


def test_a_worker_killed_mid_call_leaves_it_possibly_billed_and_never_resent(
        engine, history, queue, upgraded, tmp_path):
    with simulator(latency=(30.0, 30.0)) as sim:
        env = cli_env(tmp_path / "data", KLING_DATABASE_URL=upgraded,
                      FIREMOON_BASE_URL=sim.url)
        process = subprocess.Popen([sys.executable, "-m", "kling", "worker"], cwd=ROOT,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            job = queue.submit(request(), owner="me")
            deadline = time.monotonic() + 60
            while queue.get(job.id).status is not JobStatus.RUNNING:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
            charged = sim.account.balance
            while sim.account.balance == 1000.0:  # the simulator has the request
                assert time.monotonic() < deadline
                time.sleep(0.05)
            charged = sim.account.balance
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        # 30 s of silence, without waiting them out.
        with engine.begin() as connection:
            connection.execute(sa.update(db.workers).values(
                seen_at=now() - timedelta(seconds=31)))
        with running(engine, history, sim, tmp_path) as survivor:
            assert survivor.reap() == 1
            (ended,) = queue.wait([job.id], timeout=5)
            assert survivor._client.sent == 0
        assert sim.account.balance == charged  # charged once, never sent again
    assert ended.status is JobStatus.FAILED and ended.possibly_billed
    row = history.get(job.id)
    assert (row["status"], row["error_type"]) == ("failed", "outcome_unknown")
    with pytest.raises(PossiblyBilledError):
        queue.retry(job.id, owner="me")
    stats = history.stats()
    assert stats.possibly_billed == 1 and stats.possibly_billed_usd == pytest.approx(1.4)


def test_a_replica_killed_after_queueing_does_not_touch_the_job(engine, history,
                                                               upgraded, tmp_path):
    child = (
        "import sys\n"
        "from kling import db\n"
        "from kling.db.history import DatabaseHistory\n"
        "from kling.db.queue import DatabaseQueue\n"
        "from kling.models import GenerationRequest\n"
        "engine = db.connect(sys.argv[1])\n"
        "queue = DatabaseQueue(engine, DatabaseHistory(engine))\n"
        "job = queue.submit(GenerationRequest.create('A kite', '5', '16:9', 4), owner='me')\n"
        "print(job.id, flush=True)\n"
    )
    gen_id = subprocess.run([sys.executable, "-c", child, upgraded], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert history.get(gen_id)["status"] == "pending"  # its replica is gone: still queued
    queue = DatabaseQueue(engine, history)
    with simulator() as sim, running(engine, history, sim, tmp_path):
        (done,) = queue.wait([gen_id], timeout=60)
    assert done.status is JobStatus.SUCCEEDED
    assert history.get(gen_id)["status"] == "succeeded"
