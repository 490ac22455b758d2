"""One studio, N people: server CPU, memory and a History click as sessions are added.

For each N in `SIZES` a real `streamlit run app.py` starts on a free loopback port with
its own data folder (a 100,000-row history written by
`bench.bench_history.write_synthetic_log`) and the isolated environment of
`bench.common.bench_environ` (demo mode, no outside key). N people then have it open:

* one real Chromium on History (the person whose clicks are timed), and
* N - 1 light sessions (`bench.session_client.LightSession`, Streamlit's own websocket
  protocol, timers of `st.fragment(run_every=...)` included): half of the N on
  Generate, the rest on History.

Two phases are measured, each from `/proc/<pid>/stat` (user + system CPU of the server
process over wall time, in % of one core) and `/proc/<pid>/status` (RSS):

1. idle: nobody has a job; every page is open and untouched (`IDLE_WINDOW_S`);
2. busy: every Generate session keeps `JOBS_IN_FLIGHT` generations in flight (it clicks
   Generate again when its panel says they finished), while Chromium clicks the
   **16:9** filter of History's "More filters" `CLICKS` times (on, off, ...). A click is
   timed from the click to the page being idle again: its rerun request served and
   the script state `notRunning` (the condition the browser tests wait for).

Figures are ratios to N = 1 (Chromium alone). Goals (issue 16): at N = 20 the idle
server below 10 % of one core, and the click's p95 within 2x of N = 1's. The simulator
renders its videos in the studio process (demo mode), so the busy phase's CPU includes
that rendering. `python -m bench.bench_load [N ...]` runs it alone and prints a table by N.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Coroutine

import requests

from bench.bench_history import write_synthetic_log
from bench.common import Figure, bench_environ, table
from bench.session_client import LightSession

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-dev-shm-usage", "--no-first-run"]
SIZES = (1, 5, 10, 20)
ROWS = 100_000
IDLE_WINDOW_S = 10.0
SETTLE_S = 3.0
CLICKS = 10
JOBS_IN_FLIGHT = 2
#: Simulated generation time: the studio's default.
SIM_LATENCY = "3-6"
PROMPT = "A red fox running through fresh snow, tracking shot, slow motion"
SEED = 42
IDLE_CPU_GOAL = 10.0     # % of one core, at the largest N
CLICK_P95_GOAL = 2.0     # x the click's p95 with one session

_TICKS = os.sysconf("SC_CLK_TCK")

#: True once the page is idle and every rerun request it sent was served (a run that
#: started after the request, of the whole app, has ended). Timer reruns are not requests.
_WATCHER = r"""
(() => {
  if (window.__benchRuns) return;
  const s = window.__benchRuns = {requests: 0, served: 0, received: 0, runStart: 0,
                                   pendingAt: [], running: false};
  const F = %(fields)s;
  function fields(bytes) {
    const out = []; let i = 0;
    const varint = () => { let v = 0, k = 1, b;
      do { b = bytes[i++]; v += (b & 0x7f) * k; k *= 128; } while (b & 0x80); return v; };
    while (i < bytes.length) {
      const key = varint(), n = Math.floor(key / 8), w = key %% 8;
      if (w === 0) out.push([n, varint()]);
      else if (w === 2) { const len = varint(); out.push([n, bytes.subarray(i, i + len)]); i += len; }
      else if (w === 1) i += 8; else if (w === 5) i += 4; else break;
    }
    return out;
  }
  const get = (l, n) => { const f = l.find(([m]) => m === n); return f && f[1]; };
  const bytesOf = (d) => d instanceof ArrayBuffer ? new Uint8Array(d)
    : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
  let current = null;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes("/_stcore/stream")) return;
      this.addEventListener("message", (event) => {
        const b = bytesOf(event.data); if (!b) return;
        s.received += 1;
        const msg = fields(b);
        const meta = get(msg, F.metadata), run = meta && get(fields(meta), F.run);
        const fragments = run ? fields(run).filter(([n]) => n === F.fragmentIds).length : 0;
        if (get(msg, F.newSession) !== undefined) current = {whole: fragments === 0, at: s.received};
        const done = get(msg, F.scriptFinished);
        if (done !== undefined && F.ended.includes(done) && current && current.whole) {
          s.pendingAt = s.pendingAt.filter((after) => after >= current.at);
          s.served = s.requests - s.pendingAt.length;
        }
        const st = get(msg, F.sessionStatus);
        if (st !== undefined) s.running = Boolean(get(fields(st), F.scriptIsRunning));
      });
      const send = this.send.bind(this);
      this.send = (data) => {
        const b = bytesOf(data);
        const rerun = b && get(fields(b), F.rerunScript);
        if (rerun && !get(fields(rerun), F.isAutoRerun) && !get(fields(rerun), F.fragmentId)) {
          s.requests += 1; s.pendingAt.push(s.received);
        }
        return send(data);
      };
    }
  };
})();
"""
_IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const s = window.__benchRuns;
  return !!app && app.getAttribute("data-test-connection-state") === "CONNECTED"
    && app.getAttribute("data-test-script-state") === "notRunning"
    && !document.querySelector('[data-testid="stSkeleton"]')
    && !!s && !s.running && s.served === s.requests;
}"""


def _watcher() -> str:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    import json

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
        "fragmentIds": run.fields_by_name["fragment_ids"].number,
        "newSession": forward["new_session"].number,
        "scriptFinished": forward["script_finished"].number,
        "sessionStatus": forward["session_status_changed"].number,
        "scriptIsRunning": forward["session_status_changed"].message_type
        .fields_by_name["script_is_running"].number,
        "ended": [ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR],
    }
    return _WATCHER % {"fields": json.dumps(numbers)}


# -- the server ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`streamlit run app.py` on a free loopback port, on `data_dir`, with no outside key."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        env = bench_environ(KLING_STUDIO_DATA_DIR=str(data_dir), KLING_SIM_LATENCY=SIM_LATENCY,
                            STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
                            **(extra_env or {}))
        self.log_path = data_dir.parent / f"streamlit-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
             f"--server.port={self.port}", "--server.address=127.0.0.1",
             "--server.fileWatcherType=none", "--server.runOnSave=false"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self._log.close()


class CpuMeter:
    """CPU of the server over a window of wall time, in % of one core."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._cpu, self._wall = server.cpu_seconds(), time.perf_counter()

    def percent(self) -> float:
        cpu, wall = self._server.cpu_seconds(), time.perf_counter()
        return 100 * (cpu - self._cpu) / (wall - self._wall)


# -- the light sessions, on an event loop of their own --------------------------------------

class Crowd:
    """N - 1 light sessions on a background event loop; Generate ones can keep jobs going."""

    def __init__(self, ws_url: str) -> None:
        self._ws_url = ws_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="bench-crowd")
        self._thread.start()
        self.generate: list[LightSession] = []
        self.history: list[LightSession] = []
        self._keepers: list[asyncio.Task] = []
        self.submitted = 0

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 600) -> Any:
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def open(self, generate: int, history: int) -> None:
        async def go() -> None:
            for page, count, into in (("", generate, self.generate),
                                      ("history", history, self.history)):
                for _ in range(count):
                    session = LightSession(self._ws_url, page)
                    await session.open()
                    into.append(session)
        self._call(go())

    @property
    def sessions(self) -> list[LightSession]:
        return self.generate + self.history

    def fragment_runs(self) -> int:
        return sum(s.counts.fragment_runs for s in self.sessions)

    def start_jobs(self) -> None:
        async def keep(session: LightSession) -> None:
            while True:
                if not session.running:  # nothing of this person's is left in flight
                    await session.rerun({
                        session.widget("text_area", "Prompt"): PROMPT,
                        session.widget("radio", "Duration"): "5 s",
                        session.widget("radio", "Aspect ratio"): "16:9",
                        session.widget("slider", "Variations"): [JOBS_IN_FLIGHT],
                        # A fixed seed: the simulator renders each take once and then
                        # serves it from its folder, so the server's CPU is the studio's.
                        session.widget("number_input", "Seed"): SEED,
                        session.widget("button", "Generate"): True,
                    })
                    self.submitted += JOBS_IN_FLIGHT
                await asyncio.sleep(0.25)

        async def go() -> None:
            self._keepers = [asyncio.create_task(keep(s)) for s in self.generate]
        self._call(go())

    def stop_jobs(self) -> None:
        async def go() -> None:
            for task in self._keepers:
                task.cancel()
            self._keepers = []
        self._call(go())

    def close(self) -> None:
        async def go() -> None:
            for task in self._keepers:
                task.cancel()
            await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)
        try:
            self._call(go(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


# -- the person who clicks ----------------------------------------------------------------

def _wait_idle(page, timeout_ms: float = 120_000) -> None:
    page.wait_for_function(_IDLE, timeout=timeout_ms, polling=10)


def _open_history(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(_watcher())
    page.goto(f"{url}/history")
    page.locator('[data-testid="stApp"][data-test-connection-state="CONNECTED"]').wait_for(
        timeout=120_000)
    page.get_by_text("generations", exact=False).first.wait_for(timeout=120_000)
    _wait_idle(page)
    page.get_by_text("More filters").click()  # drawn in the browser: no rerun
    page.get_by_role("button", name="16:9").wait_for()
    return context, page


def _timed_clicks(page, clicks: int) -> list[float]:
    pill = page.get_by_role("button", name="16:9")
    times = []
    for _ in range(clicks):
        _wait_idle(page)
        before = page.evaluate("() => window.__benchRuns.requests")
        start = time.perf_counter()
        pill.click()
        page.wait_for_function(f"() => window.__benchRuns.requests > {before}",
                               timeout=30_000, polling=5)
        _wait_idle(page)
        times.append(time.perf_counter() - start)
        time.sleep(0.3)  # a person's pause between two clicks
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Result:
    n: int
    idle_cpu: float
    idle_fragment_runs_per_s: float
    idle_rss: float
    busy_cpu: float
    busy_rss: float
    clicks: list[float] = field(default_factory=list)
    jobs_submitted: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.clicks)

    @property
    def p95(self) -> float:
        return _p95(self.clicks)


def measure(n: int, browser, root: Path, extra_env: dict[str, str] | None = None) -> Result:
    """Open a studio for `n` people, measure it idle and busy, close it."""
    data_dir = root / f"n{n}" / "data"
    write_synthetic_log(data_dir, ROWS, archived=True)
    server = Server(data_dir, extra_env)
    crowd = context = None
    try:
        context, page = _open_history(browser, server.url)
        crowd = Crowd(server.ws_url)
        generate = n // 2
        crowd.open(generate=generate, history=n - 1 - generate)
        time.sleep(SETTLE_S)
        meter, runs = CpuMeter(server), crowd.fragment_runs()
        time.sleep(IDLE_WINDOW_S)
        idle_cpu = meter.percent()
        idle_runs = (crowd.fragment_runs() - runs) / IDLE_WINDOW_S
        idle_rss = server.rss_mb()

        crowd.start_jobs()
        time.sleep(SETTLE_S)
        meter = CpuMeter(server)
        clicks = _timed_clicks(page, CLICKS)
        busy_cpu = meter.percent()
        busy_rss = server.rss_mb()
        crowd.stop_jobs()
        return Result(n, idle_cpu, idle_runs, idle_rss, busy_cpu, busy_rss, clicks,
                      crowd.submitted)
    finally:
        if crowd is not None:
            crowd.close()
        if context is not None:
            context.close()
        server.stop()


def measure_all(sizes: tuple[int, ...] = SIZES,
                extra_env: dict[str, str] | None = None) -> list[Result]:
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory(prefix="kling-bench-load-") as tmp, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            for n in sizes:
                print(f"  load: {n} session(s) …", file=sys.stderr, flush=True)
                results.append(measure(n, browser, Path(tmp), extra_env))
        finally:
            browser.close()
    return results


def figures(results: list[Result]) -> list[Figure]:
    base, last = results[0], results[-1]
    out = []

    def add(name: str, value: float, baseline: float, unit: str, goal: str = "reported",
            met: bool = True) -> None:
        out.append(Figure(area="load", name=name, value=value, unit=unit,
                          baseline_name=f"{base.n} session", baseline_value=baseline,
                          goal=goal, met=met))

    for r in results:
        final = r is last and r.n >= 20
        add(f"server CPU, idle, {r.n} sessions (% of one core)", r.idle_cpu, base.idle_cpu,
            "%", f"value < {IDLE_CPU_GOAL:.0f} %" if final else "reported",
            r.idle_cpu < IDLE_CPU_GOAL if final else True)
    for r in results:
        add(f"server CPU, jobs running, {r.n} sessions (% of one core)", r.busy_cpu,
            base.busy_cpu, "%")
    for r in results:
        add(f"server RSS, jobs running, {r.n} sessions", r.busy_rss, base.busy_rss, "MB")
    for r in results:
        add(f"History filter click p50, {r.n} sessions", r.p50, base.p50, "s")
    for r in results:
        final = r is last and r.n >= 20
        add(f"History filter click p95, {r.n} sessions", r.p95, base.p95, "s",
            f"ratio <= {CLICK_P95_GOAL:g}" if final else "reported",
            r.p95 <= CLICK_P95_GOAL * base.p95 if final else True)
    return out


def by_size(results: list[Result]) -> str:
    """The results as one row per N, ratios to the first N in brackets."""
    base = results[0]

    def cell(value: float, baseline: float, fmt: str) -> str:
        ratio = value / baseline if baseline else float("inf")
        return f"{fmt.format(value)} ({ratio:.2f}x)"

    lines = ["| N | idle CPU | idle fragment runs/s | CPU, jobs running | RSS | "
             "click p50 | click p95 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(
            f"| {r.n} | {cell(r.idle_cpu, base.idle_cpu, '{:.1f} %')} | "
            f"{r.idle_fragment_runs_per_s:.1f} | {cell(r.busy_cpu, base.busy_cpu, '{:.0f} %')} | "
            f"{cell(r.busy_rss, base.busy_rss, '{:.0f} MB')} | "
            f"{cell(r.p50 * 1000, base.p50 * 1000, '{:.0f} ms')} | "
            f"{cell(r.p95 * 1000, base.p95 * 1000, '{:.0f} ms')} |")
    return "\n".join(lines)


def run() -> list[Figure]:
    return figures(measure_all())


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES
    found = measure_all(sizes)
    print(by_size(found))
    print()
    print(table(figures(found)))
