"""An idle session costs the server nothing: no timer runs for a person with no job.

Pages refresh themselves with `st.fragment(run_every=...)`: each such fragment makes the
server send the browser an `auto_rerun` message, and the browser then asks for a
fragment run every `interval` seconds until the next whole-app run. These tests read
those messages from every run AppTest makes (no clock, no sleeps):

* with no job of this person's, no page schedules anything;
* while a job runs, the Generate page schedules its job panel (1 s) and the sidebar's
  counter (2 s), and other pages the counter, so what a person sees stays live;
* once the job has finished, the next timer run of either fragment asks for one
  whole-app run, and that run schedules nothing: the refreshing stops.

The job queue's API calls wait on a gate the test opens, so "still running" and
"finished" are states the test sets, not moments it waits for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import pytest
from streamlit.runtime.scriptrunner import RerunData, ScriptRunnerEvent
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test, local_script_runner

from tests.conftest import APP

import kling.ui.state as ui_state
from kling.jobs import JobQueue
from kling.models import GenerationRequest, GenerationResult
from kling.services import open_studio
from kling.ui.jobs_panel import REFRESH_SECONDS as PANEL_SECONDS
from kling.ui.sidebar import REFRESH_SECONDS as COUNTER_SECONDS

PROMPT = "Waves crashing on black sand, slow drone shot, golden hour"


class GatedClient:
    """Stands in for the API in the job queue: every generation waits for `gate`."""

    last_rate_limit = None

    def __init__(self) -> None:
        self.gate = threading.Event()

    def generate(self, *, request: GenerationRequest) -> GenerationResult:
        if not self.gate.wait(60):
            raise TimeoutError("the test never opened the gate")
        return GenerationResult.parse({
            "videos": [{"url": "http://127.0.0.1:9/v.mp4", "duration": 5, "width": 1920,
                        "height": 1088, "content_type": "video/mp4"}],
            "seed": request.seed or 1, "timings": {"inference": 12.5}})


@dataclass
class Run:
    """One script run AppTest made: whole app or fragments, and the timers it set."""

    fragments: tuple[str, ...]          # () for a whole-app run
    timers: dict[str, float]            # fragment id -> interval (s)
    ended: str                          # how it ended (a ScriptRunnerEvent name)


class Runs:
    """Every run of every `at.run()`, read from the script runners' own events."""

    def __init__(self) -> None:
        self.runners: list = []
        self._seen = 0
        self.fragment_rerun: str | None = None

    def new(self) -> list[Run]:
        """The runs made since the last call."""
        runs: list[Run] = []
        for runner in self.runners:
            for event, data in zip(runner.events, runner.event_data):
                if event is ScriptRunnerEvent.SCRIPT_STARTED:
                    runs.append(Run(tuple(data.get("fragment_ids_this_run") or ()), {}, ""))
                elif event is ScriptRunnerEvent.ENQUEUE_FORWARD_MSG and runs:
                    msg = data["forward_msg"]
                    if msg.WhichOneof("type") == "auto_rerun":
                        runs[-1].timers[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
                elif event.name.startswith(("SCRIPT_STOPPED", "FRAGMENT_STOPPED")) and runs:
                    runs[-1].ended = event.name
        fresh, self._seen = runs[self._seen:], len(runs)
        return fresh


@pytest.fixture
def runs(monkeypatch) -> Runs:
    """Record AppTest's script runners; `runs.fragment_rerun = id` makes the next
    `at.run()` a timer's fragment run of that fragment, as the browser would send it."""
    record = Runs()
    make_runner = local_script_runner.LocalScriptRunner.__init__

    def init(self, *args, **kwargs) -> None:
        make_runner(self, *args, **kwargs)
        record.runners.append(self)

    def rerun_data(**fields) -> RerunData:
        # Made twice per `at.run()`: the runner's initial request, then `run`'s own
        # (with the widget states); a whole-app request in either would win.
        data = RerunData(**fields)
        if record.fragment_rerun:
            data = replace(data, fragment_id_queue=[record.fragment_rerun],
                           is_auto_rerun=True)
            if "widget_states" in fields:
                record.fragment_rerun = None
        return data

    # A browser session keeps its pages between runs; AppTest makes them anew for each
    # run, from the navigation that run builds. A fragment run builds none, so it gets
    # the previous run's (or `st.page_link` in a fragment finds no page).
    made_pages = []

    def pages_manager(*args, **kwargs):
        if not (record.fragment_rerun and made_pages):
            real_pages_manager.uses_pages_directory = None  # as AppTest does
            made_pages.append(real_pages_manager(*args, **kwargs))
        return made_pages[-1]

    real_pages_manager = app_test.PagesManager
    monkeypatch.setattr(local_script_runner.LocalScriptRunner, "__init__", init)
    monkeypatch.setattr(local_script_runner, "RerunData", rerun_data)
    monkeypatch.setattr(app_test, "PagesManager", pages_manager)
    return record


@pytest.fixture
def gated(studio_env, monkeypatch) -> GatedClient:
    """The studio AppTest builds runs its jobs through a `GatedClient`."""
    client = GatedClient()

    def open_gated(settings):
        studio = open_studio(settings, retry_downloads=False)
        studio.queue = JobQueue(client, studio.history, None,
                                max_concurrency=settings.max_concurrency)
        return studio

    monkeypatch.setattr(ui_state, "open_studio", open_gated)
    yield client
    client.gate.set()  # never leave a worker thread waiting


def timers(runs: list[Run]) -> list[float]:
    return sorted(interval for run in runs for interval in run.timers.values())


def start_job(at: AppTest) -> None:
    at.text_area(key="gen_prompt").input(PROMPT).run()
    at.button(key="generate").click().run()
    assert not at.exception


def studio_queue() -> JobQueue:
    return ui_state.studio().queue


def test_no_job_no_timer_on_any_page(studio_env, gated, runs):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    for page in ("pages/history.py", "pages/templates.py", "pages/generate.py"):
        at.switch_page(page).run()
        assert not at.exception
    made = runs.new()
    assert made and all(not run.fragments for run in made)  # whole-app runs only
    assert timers(made) == []


def test_a_running_job_keeps_the_panel_and_the_counter_live(studio_env, gated, runs):
    at = AppTest.from_file(APP, default_timeout=60).run()
    runs.new()
    start_job(at)
    assert [job.status.value for job in studio_queue().jobs()] in (["queued"], ["running"])
    # The run that drew the queued job: panel every second, counter every 2 s.
    assert timers(runs.new()) == [PANEL_SECONDS, COUNTER_SECONDS]

    # A timer's run of the panel, the job still running: it redraws itself only.
    at.run()
    fragment = next(f for f, s in runs.new()[-1].timers.items() if s == PANEL_SECONDS)
    runs.fragment_rerun = fragment
    at.run()
    made = runs.new()
    assert [run.fragments for run in made] == [(fragment,)]
    assert made[0].ended == "FRAGMENT_STOPPED_WITH_SUCCESS"

    # On another page the counter alone follows the job.
    at.switch_page("pages/history.py").run()
    assert timers(runs.new()) == [COUNTER_SECONDS]


@pytest.mark.parametrize("which", ["panel", "counter"])
def test_refreshing_stops_once_everything_finished(studio_env, gated, runs, which):
    at = AppTest.from_file(APP, default_timeout=60).run()
    start_job(at)
    scheduled = runs.new()[-1].timers
    interval = PANEL_SECONDS if which == "panel" else COUNTER_SECONDS
    fragment = next(f for f, s in scheduled.items() if s == interval)

    gated.gate.set()
    jobs = studio_queue().wait([job.id for job in studio_queue().jobs()], timeout=60)
    assert [job.status.value for job in jobs] == ["succeeded"]

    # The next timer run finds nothing left to follow: one whole-app run, no timers.
    runs.fragment_rerun = fragment
    at.run()
    assert not at.exception
    made = runs.new()
    assert made[0].fragments == (fragment,)
    assert made[0].ended == "SCRIPT_STOPPED_FOR_RERUN"
    assert [run.fragments for run in made[1:]] == [()]
    assert timers(made[1:]) == []
    assert any(m.label == "Jobs running" and m.value == "0" for m in at.sidebar.get("metric"))
