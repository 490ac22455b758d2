"""The job queue: concurrency bound, rate-limit waiting, history before and after."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kling.errors import GenerationFailedError, KlingError, PossiblyBilledError, RateLimitError
from kling.jobs import JobQueue, JobStatus, plan_takes
from kling.models import GenerationRequest, GenerationResult, RateLimit


def result_for(request: GenerationRequest) -> GenerationResult:
    return GenerationResult.parse({
        "videos": [{"url": f"http://127.0.0.1:1/videos/{request.seed}.mp4", "duration": 5,
                    "width": 640, "height": 360, "content_type": "video/mp4"}],
        "seed": request.seed if request.seed is not None else 7,
        "timings": {"inference": 0.01},
    })


class FakeClient:
    """Answers after `delay`; fails prompts containing 'fail'; can answer 429 first."""

    def __init__(self, delay: float = 0.05, rate_limited: int = 0, retry_after: float = 0.3):
        self.delay = delay
        self.rate_limited = rate_limited
        self.retry_after = retry_after
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[tuple[float, GenerationRequest]] = []
        self.last_rate_limit: RateLimit | None = None
        self._lock = threading.Lock()

    def generate(self, *, request: GenerationRequest) -> GenerationResult:
        with self._lock:
            self.calls.append((time.monotonic(), request))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            limited = self.rate_limited > 0
            if limited:
                self.rate_limited -= 1
        try:
            if limited:
                raise RateLimitError(retry_after=self.retry_after, status=429)
            time.sleep(self.delay)
            if "fail" in request.prompt:
                raise GenerationFailedError(status=500)
            return result_for(request)
        finally:
            with self._lock:
                self.in_flight -= 1


class RecordingHistory:
    """Implements the history protocol in memory, recording the order of events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.rows: dict[str, dict] = {}
        self._lock = threading.Lock()

    def record_pending(self, request, *, gen_id, **fields):
        with self._lock:
            self.events.append(("pending", gen_id))
            self.rows[gen_id] = {"status": "pending", "prompt": request.prompt,
                                 "seed": request.seed, **fields}
        return gen_id

    def record_success(self, gen_id, result, *, elapsed_s, video_path=None):
        with self._lock:
            self.events.append(("succeeded", gen_id))
            self.rows[gen_id].update(status="succeeded", elapsed_s=elapsed_s)

    def record_failure(self, gen_id, error, *, elapsed_s):
        with self._lock:
            self.events.append(("failed", gen_id))
            self.rows[gen_id].update(status="failed", error=str(error), error_type=error.kind)

    def record_video_path(self, gen_id, video_path, *, archive_error=None):
        with self._lock:
            self.events.append(("video", gen_id))
            self.rows[gen_id].update(video_path=video_path, archive_error=archive_error)

    def get(self, gen_id):
        with self._lock:
            row = self.rows.get(gen_id)
            return None if row is None else {"id": gen_id, **row}


class FakeArchive:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def download(self, gen_id: str, url: str) -> Path:
        if self.fail:
            raise KlingError("The video could not be saved locally.")
        return Path(f"/tmp/{gen_id}.mp4")

    def keep(self, gen_id: str, source: Path) -> Path:
        return source


def request(prompt: str = "waves crashing, drone shot, slow motion", seed: int | None = 1):
    return GenerationRequest.create(prompt, "5", "16:9", seed)


@pytest.fixture
def history():
    return RecordingHistory()


def test_concurrency_is_bounded(history):
    client = FakeClient(delay=0.2)
    queue = JobQueue(client, history, max_concurrency=3)
    jobs = queue.submit_many([request(seed=i) for i in range(9)], owner="a")
    done = queue.wait([j.id for j in jobs], timeout=30)
    assert all(j.status is JobStatus.SUCCEEDED for j in done)
    assert client.max_in_flight == 3
    queue.shutdown()


def test_pending_is_written_before_sending_and_outcome_after(history):
    client = FakeClient()
    queue = JobQueue(client, history, FakeArchive(), max_concurrency=2)
    job = queue.submit(request(), owner="a", template_id="builtin-x", template_version=2)
    assert history.rows[job.id]["status"] == "pending"
    assert history.rows[job.id]["template_id"] == "builtin-x"
    (job,) = queue.wait([job.id], timeout=10)
    order = [event for event, gen_id in history.events if gen_id == job.id]
    assert order == ["pending", "succeeded", "video"]
    assert history.rows[job.id]["video_path"] == f"/tmp/{job.id}.mp4"
    assert job.video_path == Path(f"/tmp/{job.id}.mp4")
    queue.shutdown()


def test_failing_job_beside_succeeding_ones(history):
    queue = JobQueue(FakeClient(), history, max_concurrency=4)
    good = queue.submit_many([request(seed=i) for i in range(3)], owner="a")
    bad = queue.submit(request("this will fail, pan, slowly"), owner="a")
    done = {j.id: j for j in queue.wait([j.id for j in [*good, bad]], timeout=10)}
    assert done[bad.id].status is JobStatus.FAILED
    assert "could not generate" in done[bad.id].error
    assert done[bad.id].error_kind == "generation_failed"
    assert history.rows[bad.id]["status"] == "failed"
    assert all(done[j.id].status is JobStatus.SUCCEEDED for j in good)
    queue.shutdown()


def test_rate_limit_waits_then_runs_and_is_shown_as_waiting(history):
    client = FakeClient(rate_limited=1, retry_after=0.6)
    queue = JobQueue(client, history, max_concurrency=1)
    job = queue.submit(request(), owner="a")
    seen = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snap = queue.get(job.id)
        seen.add(snap.status)
        if snap.status.finished:
            break
        time.sleep(0.02)
    assert JobStatus.WAITING in seen
    assert snap.status is JobStatus.SUCCEEDED
    first, second = client.calls[0][0], client.calls[1][0]
    assert second - first >= 0.6
    assert [e for e, _ in history.events] == ["pending", "succeeded"]
    queue.shutdown()


def test_exhausted_rate_limit_window_pauses_before_sending(history):
    client = FakeClient()
    client.last_rate_limit = RateLimit(limit=10, remaining=0, reset=time.time() + 0.5)
    queue = JobQueue(client, history, max_concurrency=1)
    submitted = time.monotonic()
    job = queue.submit(request(), owner="a")
    queue.wait([job.id], timeout=10)
    assert client.calls[0][0] - submitted >= 0.4
    queue.shutdown()


def test_archive_failure_never_fails_the_generation(history):
    queue = JobQueue(FakeClient(), history, FakeArchive(fail=True), max_concurrency=1)
    (job,) = queue.wait([queue.submit(request(), owner="a").id], timeout=10)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video_path is None and "could not be saved" in job.archive_error
    assert history.rows[job.id]["archive_error"] == job.archive_error
    queue.shutdown()


def test_owners_see_only_their_jobs_and_retry_makes_a_new_job(history):
    queue = JobQueue(FakeClient(), history, max_concurrency=2)
    mine = queue.submit(request("please fail, tracking shot, fast"), owner="me")
    theirs = queue.submit(request(), owner="them")
    queue.wait([mine.id, theirs.id], timeout=10)
    assert [j.id for j in queue.jobs("me")] == [mine.id]
    again = queue.retry(mine.id)
    assert again.id != mine.id and again.owner == "me"
    assert again.request == mine.request
    queue.wait([again.id], timeout=10)
    assert {j.id for j in queue.jobs("me")} == {mine.id, again.id}
    queue.shutdown()


def test_snapshots_are_copies(history):
    queue = JobQueue(FakeClient(), history, max_concurrency=1)
    job = queue.submit(request(), owner="a")
    job.status = JobStatus.FAILED
    (done,) = queue.wait([job.id], timeout=10)
    assert done.status is JobStatus.SUCCEEDED
    queue.shutdown()


def test_plan_takes_uses_consecutive_seeds_when_fixed():
    takes = plan_takes(request(seed=4294967294), 3)
    assert [t.seed for t in takes] == [4294967294, 4294967295, 0]
    randoms = plan_takes(request(seed=None), 8)
    assert all(t.seed is not None for t in randoms)
    assert len({t.seed for t in randoms}) == 8
    with pytest.raises(ValueError):
        plan_takes(request(), 9)


class BrokenHistory(RecordingHistory):
    """The disk filled up after the pending row was written."""

    def record_success(self, gen_id, result, *, elapsed_s, video_path=None):
        raise OSError(28, "No space left on device")

    record_failure = record_success


def test_a_history_write_failure_finishes_the_job_with_a_warning():
    queue = JobQueue(FakeClient(), BrokenHistory(), max_concurrency=2)
    good = queue.submit(request(), owner="a")
    bad = queue.submit(request("this will fail, pan, slowly"), owner="a")
    done = queue.wait([good.id, bad.id], timeout=10)
    assert [j.status for j in done] == [JobStatus.SUCCEEDED, JobStatus.FAILED]
    assert all("could not be written" in j.history_error for j in done)
    queue.shutdown()


def test_a_studio_start_archives_videos_whose_download_failed(studio_env):
    from kling.archive import VideoArchive
    from kling.history import HistoryLog
    from kling.services import open_studio
    from kling.simulator import shared_simulator

    simulator = shared_simulator()
    url = f"{simulator.url}/videos/{simulator.render('kite rising, pan, slow', 5, '5', '16:9')}.mp4"
    history = HistoryLog(studio_env)
    gen_id = history.record_pending(request(seed=5))
    history.record_success(gen_id, GenerationResult.parse({
        "videos": [{"url": url, "duration": 5, "width": 640, "height": 360,
                    "content_type": "video/mp4"}], "seed": 5, "timings": {"inference": 1}}),
        elapsed_s=1)
    history.record_video_path(gen_id, None, archive_error="network down")
    studio = open_studio()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not VideoArchive(studio_env).exists(gen_id):
        time.sleep(0.1)
    assert VideoArchive(studio_env).exists(gen_id)
    studio.close()


class CrashingArchive:
    def download(self, gen_id: str, url: str) -> Path:
        raise OSError(20, "Not a directory")


def test_a_crash_while_storing_the_video_still_finishes_the_job(history):
    queue = JobQueue(FakeClient(), history, CrashingArchive(), max_concurrency=1)
    (job,) = queue.wait([queue.submit(request(), owner="a").id], timeout=10)
    assert job.status is JobStatus.SUCCEEDED
    assert "not saved locally" in job.archive_error
    queue.shutdown()


def test_a_request_without_a_seed_gets_one_before_anything_is_written(history):
    """Whichever door a generation comes in by (page, batch, command line), the history
    knows its seed before the video exists."""
    queue = JobQueue(FakeClient(), history, max_concurrency=1)
    job = queue.submit(request(seed=None), owner="me")
    assert job.request.seed is not None
    assert history.rows[job.id]["seed"] == job.request.seed
    queue.wait([job.id], timeout=10)
    assert queue.get(job.id).result.seed == job.request.seed
    queue.shutdown()


def test_rerun_from_a_history_id_sends_the_same_request_and_template(history):
    queue = JobQueue(FakeClient(), history, max_concurrency=1)
    history.rows["old"] = {"status": "succeeded", "prompt": "waves crashing, drone shot",
                           "duration": 10, "aspect_ratio": "9:16", "seed": 77.0,
                           "template_id": "tiktok-hook", "template_version": 3.0,
                           "template_vars": '{"product": "sneaker"}'}
    job = queue.rerun("old", owner="me")
    assert (job.request.prompt, job.request.duration, job.request.aspect_ratio,
            job.request.seed) == ("waves crashing, drone shot", "10", "9:16", 77)
    assert (job.template_id, job.template_version) == ("tiktok-hook", 3)
    assert history.rows[job.id]["template_vars"] == '{"product": "sneaker"}'
    with pytest.raises(KeyError):
        queue.rerun("missing", owner="me")
    queue.shutdown()


@pytest.mark.parametrize("row", [{"status": "interrupted"},
                                 {"status": "failed", "error_type": "outcome_unknown"}])
def test_rerun_of_a_possibly_billed_generation_needs_the_confirmation(history, row):
    client = FakeClient()
    queue = JobQueue(client, history, max_concurrency=1)
    history.rows["sent"] = {"prompt": "waves crashing, drone shot", "duration": "5",
                            "aspect_ratio": "16:9", "seed": 5, **row}
    with pytest.raises(PossiblyBilledError):
        queue.rerun("sent", owner="me")
    assert client.calls == [] and set(history.rows) == {"sent"}
    job = queue.rerun("sent", owner="me", possibly_billed_again=True)
    queue.wait([job.id], timeout=10)
    assert len(client.calls) == 1
    queue.shutdown()
