"""Browser tests: the studio started with `streamlit run` on a free port, driven in
Debian's headless Chromium through Playwright (the way Streamlit's own e2e suite does it).

Waiting, without sleeps
-----------------------
A click on a Streamlit widget does not change the page by itself: the browser sends the
server a *rerun request* (a `rerun_script` BackMsg), the server runs the script (possibly
several runs, when the script calls `st.rerun()`), streams the new elements and ends
with `script_finished`. A test that looks at the page, or clicks again, before that run
has ended races the run: the element it holds may be replaced, a checkbox may be reset
("Clicking the checkbox did not change its state").

So every page these fixtures open carries a small watcher (`watch_runs`, installed as an
init script before any of Streamlit's code runs). It wraps the page's WebSocket to the
studio and reads, from the protocol itself, the user's rerun requests and the runs that
answer them: a request counts as *served* once a run that started after it was sent
(`new_session` received later), of its scope (the whole app, or the fragment/dialog the
widget lives in), has finished without being cut short for another rerun. Runs started
by timers (`st.fragment(run_every=...)`) are not requests and never make a wait return.
The request is recorded synchronously, in the page, as the click's event handler sends
it: there is no window in which a wait could miss it.

Helpers, from the most to the least preferred:

* ``rerun_after(page, action)``: ``action()`` (a callable doing one interaction) must
  send a rerun request; returns once that request was sent *and* served and the page is
  idle (below). Waits for a debounced widget to send its request too.
* ``click_and_wait(locator)``: ``rerun_after(locator.page, locator.click)``.
* ``commit_text(locator, text)``: fill a text input / area and commit it (by leaving
  the box, which also suits ``live=`` boxes; ``key="Enter"`` presses a key instead),
  waiting for the rerun.
* ``wait_idle(page)``: returns once every rerun request sent so far has been served and
  the page is idle. After an interaction that triggers no rerun it returns at once (the
  short-circuit); after one whose request is sent synchronously by the widget (buttons,
  checkboxes, radios, Enter in a text box) it waits for that rerun. It is the wait
  behind every helper here.
* ``open_studio(page, url)`` / ``wait_loaded(page)``: open a page (or, after
  ``page.reload()`` / ``page.goto(...)``, wait for it) until its first whole-app run has
  finished and the page is idle.

*Idle* is Streamlit's own e2e condition (`wait_for_app_run` in its
`e2e_playwright/conftest.py`): the app's websocket is `CONNECTED`
(``[data-testid="stApp"][data-test-connection-state="CONNECTED"]``), the script state is
``notRunning`` (so the status widget is gone), no element skeleton is left; plus: every
request served, the last status the server sent says no run is going, and the frontend
has *applied* every run end it received. That last part matters: Streamlit handles a
message asynchronously after it arrives, and only when it applies a `script_finished`
does it drop the previous run's elements, which can remount a widget and lose what a
test just typed into it. The watcher reads this from the App component's state
(`scriptRunFinishedSequence`, which counts the run ends applied); it fails loudly if a
Streamlit upgrade moves it.

A wait says the run has ended; it does not say what the run drew. After every
interaction, check the state it should produce with Playwright's auto-retrying
``expect(...)`` (``expect(checkbox).to_be_checked()``, ``expect(dialog).to_be_visible()``
...), never with ``time.sleep`` or ``page.wait_for_timeout``. A video plays when
``page.wait_for_function`` sees its ``currentTime`` advance (``assert_video_plays``).

Fixtures: ``browser`` (session), ``studio_server`` (module), ``page`` (a fresh watched
page for it) and ``new_page`` (a factory of fresh watched pages, for other servers); the
pages are closed when the test ends, and a failed test's report carries each page's
address, run log (the watcher's last requests and runs) and a screenshot. A wait that
times out says which part never came (request not sent, or not served) with the same log.

Servers: ``StudioServer`` is a context manager; it stops its process when it cannot
become healthy, in fixtures' teardown (which runs when a test fails), and, as a last
resort, at the end of the session and at interpreter exit.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from isolation import isolated_environ
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-dev-shm-usage", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
APP = '[data-testid="stApp"]'
APP_CONNECTED = f'{APP}[data-test-connection-state="CONNECTED"]'
APP_IDLE = f'{APP}[data-test-script-state="notRunning"]'
VIEWPORT = {"width": 1400, "height": 1000}
#: Playwright's timeout for every action and `expect` on the pages made here (ms).
DEFAULT_TIMEOUT = 30_000

pytestmark = pytest.mark.e2e


# -- servers ------------------------------------------------------------------------------

_RUNNING: "weakref.WeakSet[StudioServer]" = weakref.WeakSet()
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: teardown and atexit must do
    _prctl = None


def die_with_parent() -> None:
    """`preexec_fn` for a server a test starts: the kernel stops it when the test
    process dies, even by SIGKILL or SIGTERM, when no teardown or atexit can run."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until_serving(process: subprocess.Popen, url: str, what: str,
                       log: Callable[[], str] = lambda: "", timeout: float = 60,
                       healthy: Callable[[requests.Response], bool] = lambda r: r.ok) -> None:
    """Poll `url` until it answers as `healthy` says; fail at once if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if healthy(requests.get(url, timeout=1)):
                return
        except requests.RequestException:
            pass
        try:  # the pause between two polls is a wait for the process to die
            process.wait(0.2)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"{what} exited with status {process.returncode}:\n{log()}")
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s:\n{log()}")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class ServerProcess:
    """A server in a subprocess that dies with the test process, its output in a log
    file; started by `_start`, which returns once `health_url` answers. A context
    manager; `stop()` is idempotent."""

    log_path: Path
    process: subprocess.Popen

    def _start(self, args: list[str], *, env: dict[str, str], log_path: Path,
               health_url: str, name: str, cwd: Path | None = None, **wait) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        try:
            wait_until_serving(self.process, health_url, name, self.log, **wait)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """Stop the process (idempotent)."""
        try:
            stop_process(self.process)
        finally:
            if not self._log.closed:
                self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class StudioServer(ServerProcess):
    """One `streamlit run app.py` process with its own data directory.

    Use it as a context manager, or call `stop()` in a `finally`/fixture teardown; it
    stops itself when it does not become healthy."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None, *,
                 port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = isolated_environ(**{
            "KLING_STUDIO_DATA_DIR": str(data_dir),
            "KLING_SIM_LATENCY": "1.5-2",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            **(extra_env or {}),
        })
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _RUNNING.add(self)
        self._start(
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.headless=true", f"--server.port={self.port}",
             "--server.address=127.0.0.1", "--server.fileWatcherType=none",
             "--server.runOnSave=false"],
            cwd=ROOT, env=env, log_path=data_dir.parent / f"streamlit-{self.port}.log",
            health_url=f"{self.url}/_stcore/health", name="streamlit")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            _RUNNING.discard(self)


def stop_leftover_servers() -> None:
    for server in list(_RUNNING):
        server.stop()


atexit.register(stop_leftover_servers)


@pytest.fixture(scope="session", autouse=True)
def _no_server_outlives_the_session() -> Iterator[None]:
    yield
    stop_leftover_servers()


# -- browser and pages ---------------------------------------------------------------------

def _watcher_script() -> str:
    """The init script that follows rerun requests and script runs (see the docstring).

    Field numbers come from Streamlit's own protobuf descriptors, so they cannot drift."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    forward = ForwardMsg.DESCRIPTOR.fields_by_name
    metadata = forward["metadata"].message_type
    run = metadata.fields_by_name["run"].message_type
    client = ClientState.DESCRIPTOR.fields_by_name
    numbers = {
        "rerunScript": BackMsg.DESCRIPTOR.fields_by_name["rerun_script"].number,
        "fragmentId": client["fragment_id"].number,
        "isAutoRerun": client["is_auto_rerun"].number,
        "metadata": forward["metadata"].number,
        "run": metadata.fields_by_name["run"].number,
        "scriptRunId": run.fields_by_name["script_run_id"].number,
        "fragmentIds": run.fields_by_name["fragment_ids"].number,
        "newSession": forward["new_session"].number,
        "scriptFinished": forward["script_finished"].number,
        "sessionStatus": forward["session_status_changed"].number,
        "scriptIsRunning": forward["session_status_changed"].message_type
        .fields_by_name["script_is_running"].number,
        # A run that ended, as opposed to one cut short by another rerun.
        "ended": [ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
                  ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY],
    }
    return "(() => {\nconst F = " + json.dumps(numbers) + ";\n" + r"""
if (window.__klingRuns) return;
const s = window.__klingRuns = {
  doc: Math.random().toString(36).slice(2),
  requests: [],        // {fragment, after, served}: the user's rerun requests, in order
  received: 0,         // ForwardMsgs received so far
  runs: new Map(),     // script_run_id -> {fragments, startedAt}
  current: null,       // the run whose new_session came last
  running: false,      // what the last session_status_changed said
  wholeRunsEnded: 0,   // whole-app runs that ended (not cut short)
  finishes: 0,         // script_finished messages that name their run
  log: [],             // the last lifecycle events, for a failing wait's message
};
const note = (...event) => { s.log.push(event); if (s.log.length > 40) s.log.shift(); };
const utf8 = new TextDecoder();
function fields(bytes) {  // the top-level fields of one protobuf message
  const out = [];
  let i = 0;
  const varint = () => {
    let value = 0, scale = 1, byte;
    do { byte = bytes[i++]; value += (byte & 0x7f) * scale; scale *= 128; } while (byte & 0x80);
    return value;
  };
  while (i < bytes.length) {
    const key = varint(), number = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) out.push([number, varint()]);
    else if (wire === 2) {
      const n = varint();
      out.push([number, bytes.subarray(i, i + n)]);
      i += n;
    }
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else break;
  }
  return out;
}
const get = (list, number) => { const f = list.find(([n]) => n === number); return f && f[1]; };
const asBytes = (data) => data instanceof ArrayBuffer ? new Uint8Array(data)
  : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  : null;

function sent(data) {
  const bytes = asBytes(data);
  if (!bytes) return;
  const rerun = get(fields(bytes), F.rerunScript);
  if (!rerun) return;
  const state = fields(rerun);
  if (get(state, F.isAutoRerun)) return;  // a run_every timer, not the person
  const fragment = get(state, F.fragmentId);
  s.requests.push({fragment: fragment ? utf8.decode(fragment) : "", after: s.received,
                   served: false});
  note("request", s.requests.length - 1, s.received, fragment ? utf8.decode(fragment) : "");
}

function received(data) {
  const bytes = asBytes(data);
  if (!bytes) return;
  s.received += 1;
  const msg = fields(bytes);
  const meta = get(msg, F.metadata);
  const identity = meta && get(fields(meta), F.run);
  let id = null, fragments = [];
  if (identity) {
    const run = fields(identity);
    const raw = get(run, F.scriptRunId);
    id = raw ? utf8.decode(raw) : null;
    fragments = run.filter(([n]) => n === F.fragmentIds).map(([, v]) => utf8.decode(v));
  }
  if (get(msg, F.newSession) !== undefined) {
    s.current = {fragments, startedAt: s.received};
    if (id) s.runs.set(id, s.current);
    note("start", s.received, id, fragments.join(","));
  }
  const status = get(msg, F.scriptFinished);
  if (status !== undefined) note("finish", s.received, id, status);
  if (status !== undefined && id) s.finishes += 1;
  if (status !== undefined && F.ended.includes(status)) {
    const run = (id && s.runs.get(id)) || s.current;
    if (run) {
      if (run.fragments.length === 0) s.wholeRunsEnded += 1;
      for (const request of s.requests) {
        if (!request.served && request.after < run.startedAt &&
            (run.fragments.length === 0 || run.fragments.includes(request.fragment))) {
          request.served = true;
        }
      }
    }
    if (id) s.runs.delete(id);
  }
  const statusMsg = get(msg, F.sessionStatus);
  if (statusMsg !== undefined) {
    s.running = Boolean(get(fields(statusMsg), F.scriptIsRunning));
    note("running", s.received, s.running);
  }
}

// What the frontend has *applied*: the App component's state, as rendered. Streamlit
// handles each message asynchronously after it arrives, and only on applying a
// script_finished does it drop the previous run's elements (clearStaleNodes), which can
// remount widgets; it counts the script_finished messages it applied (naming their run)
// in scriptRunFinishedSequence. No DOM attribute says this, so read it from React.
let app = null;
s.applied = () => {
  const root = document.querySelector('[data-testid="stApp"]');
  if (!root) return null;
  if (app && app.root === root) return app.component.state;
  const key = Object.keys(root).find((k) => k.startsWith("__reactFiber$"));
  for (let fiber = key && root[key]; fiber; fiber = fiber.return) {
    const state = fiber.stateNode && fiber.stateNode.state;
    if (state && typeof state === "object" && "scriptRunFinishedSequence" in state &&
        "scriptRunState" in state) {
      app = {root, component: fiber.stateNode};
      return state;
    }
  }
  throw new Error("tests/e2e/conftest.py cannot find Streamlit's App state " +
                  "(scriptRunFinishedSequence) from the stApp element: update watch_runs " +
                  "for this Streamlit version.");
};

const Native = window.WebSocket;
class WatchedWebSocket extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    this.__kling = String(url).includes("/_stcore/stream");
    if (this.__kling) this.addEventListener("message", (event) => received(event.data));
  }
  send(data) {
    if (this.__kling) sent(data);
    return super.send(data);
  }
}
window.WebSocket = WatchedWebSocket;
})();
"""


WATCHER = _watcher_script()

#: True when the page is idle: see the module docstring.
_IDLE = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute("data-test-connection-state") !== "CONNECTED") return false;
  if (app.getAttribute("data-test-script-state") !== "notRunning") return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const s = window.__klingRuns;
  if (!s) return true;  // a page opened without the watcher: Streamlit's state alone
  if (s.running || !s.requests.every((r) => r.served)) return false;
  const applied = s.applied();  // and the frontend has applied every run's end it got
  return applied.scriptRunState === "notRunning" &&
    applied.scriptRunFinishedSequence >= s.finishes;
}
"""
_IDLE_AFTER = f"""
(marker) => {{
  const s = window.__klingRuns;
  if (!s) return false;
  const sent = s.doc === marker.doc ? s.requests.length > marker.count : s.requests.length > 0;
  return sent && ({_IDLE})();
}}
"""
_LOADED = f"""
() => {{
  const s = window.__klingRuns;
  return (!s || s.wholeRunsEnded > 0) && ({_IDLE})();
}}
"""
_MARKER = ("() => window.__klingRuns ? {doc: window.__klingRuns.doc, "
           "count: window.__klingRuns.requests.length} : null")

_WATCHED: "weakref.WeakSet" = weakref.WeakSet()


def watch_runs(page) -> None:
    """Install the run watcher on `page` for every document it loads from now on.

    Pages from the `page` fixture, `new_page` and `open_studio` have it already."""
    if page not in _WATCHED:
        page.add_init_script(WATCHER)
        _WATCHED.add(page)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_call_failed = report.failed


def _report_pages(pages, folder: Path) -> None:
    """After a failed test: each page's address, run log and a screenshot (printed, so
    pytest shows it with the failure)."""
    for number, page in enumerate(pages):
        try:
            shot = folder / f"failure-page{number}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"page {number}: {page.url}\n  state: {page.evaluate(_STATE)}\n"
                  f"  screenshot: {shot}")
        except PlaywrightError as exc:
            print(f"page {number}: unreadable ({exc})")


@pytest.fixture
def new_page(browser, request, tmp_path) -> Iterator[Callable[[], object]]:
    """A factory of fresh pages (each in its own browser context, watched, with the
    suite's viewport and timeout), all closed when the test ends, failed or not. When
    the test fails, each page's run log and a screenshot come with the report."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(DEFAULT_TIMEOUT)
        watch_runs(page)
        return page

    yield make
    try:
        if getattr(request.node, "e2e_call_failed", False):
            _report_pages([p for context in contexts for p in context.pages], tmp_path)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory) -> Iterator[StudioServer]:
    with StudioServer(tmp_path_factory.mktemp("studio") / "data") as server:
        yield server


@pytest.fixture
def page(new_page, studio_server):
    """A fresh page (not yet opened: call `open_studio(page, studio_server.url)`)."""
    return new_page()


# -- waiting -------------------------------------------------------------------------------

#: `expect(...)` retries as long as an action may take (its default is 5 s).
expect.set_options(timeout=DEFAULT_TIMEOUT)

_STATE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const s = window.__klingRuns;
  return JSON.stringify({
    connection: app && app.getAttribute("data-test-connection-state"),
    script: app && app.getAttribute("data-test-script-state"),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    watcher: s ? {requests: s.requests, running: s.running, received: s.received,
                  wholeRunsEnded: s.wholeRunsEnded, finishes: s.finishes,
                  applied: (() => { try { const a = s.applied();
                    return a && [a.scriptRunState, a.scriptRunFinishedSequence]; }
                    catch (e) { return String(e); } })(),
                  log: s.log} : null});
}"""


def _wait(page, expression: str, what: str, timeout: float, arg=None) -> None:
    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout)
    except PlaywrightTimeoutError:
        try:
            state = page.evaluate(_STATE)
        except PlaywrightError as exc:
            state = f"unreadable ({exc})"
        raise AssertionError(f"{what} within {timeout / 1000:.0f} s; the page: {state}") from None


def wait_idle(page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until every rerun request the page has sent has been served and the page is
    idle (see the module docstring). Returns at once when nothing is pending."""
    _wait(page, _IDLE, "The page did not become idle", timeout)


def wait_loaded(page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """After `page.goto(...)`/`page.reload()`: wait for the first whole-app run of the
    new document to finish and the page to be idle."""
    page.locator(APP_CONNECTED).wait_for(state="attached", timeout=timeout)
    _wait(page, _LOADED, "The app did not finish its first run", timeout)


def rerun_after(page, action: Callable[[], object], timeout: float = DEFAULT_TIMEOUT):
    """Do `action()`, an interaction that must make the page ask for a rerun, and wait
    until that rerun (and any `st.rerun()` chain after it) has run and the page is idle.
    Returns what `action` returned.

    It first waits for the page to be idle, so that no earlier run is taken for this
    one. An action that asks for no rerun (a text box committed unchanged, a popover
    opened) fails it: follow those with `expect(...)` alone."""
    wait_idle(page, timeout)
    marker = page.evaluate(_MARKER)
    result = action()
    if marker is None:  # a page loaded without the watcher: Streamlit's own state only
        wait_idle(page, timeout)
    else:
        _wait(page, _IDLE_AFTER, "The interaction's rerun was not asked for or did not end",
              timeout, marker)
    return result


def click_and_wait(locator, timeout: float = DEFAULT_TIMEOUT, **click_options) -> None:
    """Click `locator` (a widget whose click reruns the app) and wait for that rerun."""
    rerun_after(locator.page, lambda: locator.click(**click_options), timeout)


def commit_text(locator, text: str, key: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> None:
    """Type `text` into a text input or text area, commit it, and wait for the rerun
    that sends it. `text` must differ from what the box held, or nothing is sent.

    By default it commits by leaving the box (blur), which works for every box: a
    `live=...` box sends what is typed on its own after a pause, and leaving it sends at
    once and cancels that pending send, so no request can come after the wait. With
    `key` ("Enter", or "Control+Enter" in a text area) it presses that key instead:
    only for boxes that are not live. Either way the request is awaited from before
    the typing, so a live box's own send is never missed."""

    def type_and_commit() -> None:
        locator.fill(text)
        if key:
            locator.press(key)
        else:
            locator.blur()

    rerun_after(locator.page, type_and_commit, timeout)
    expect(locator).to_have_value(text)


def open_studio(page, url: str) -> None:
    """Open `url` in `page` and wait until the app has run once and is idle."""
    watch_runs(page)
    page.goto(url)
    wait_loaded(page)


def assert_video_plays(video, advance: float = 0.5, timeout: float = 15_000) -> None:
    """Start `video` (a locator) muted and wait until its clock really advances."""
    video.scroll_into_view_if_needed()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    video.page.wait_for_function(
        "([v, t]) => !v.paused && v.readyState >= 2 && v.currentTime > t && v.videoWidth > 0",
        arg=[video.element_handle(), advance], timeout=timeout)
