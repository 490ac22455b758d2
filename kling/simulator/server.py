"""`Simulator`: the contract's application served by uvicorn, and the process's shared ones.

The socket is bound when a `Simulator` is made, so its `url` is known at once and a busy
port fails there; `start()` serves on a thread of its own (the studio and the tests),
`serve_forever()` in the calling one (`python -m kling simulator`). Connections are kept
alive for two minutes, as clients reuse them between generations far apart. `stop()`
is prompt: simulated latencies end at once (503, not billed), idle connections are
closed, and nothing it started runs after it returns.

uvicorn stays quiet: what it logs below WARNING on a simulator's thread (its start and
stop lines, an access line) is dropped, as a studio's terminal would show it through
Streamlit's own uvicorn log. Requests are logged, without headers, on `kling.simulator`
at INFO.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import uvicorn

from .account import Account, RateLimiter
from .app import Backend, build_app
from .config import SimulatorConfig
from .videos import VideoShelf

__all__ = ["Simulator", "main_simulator", "shared_simulator"]

log = logging.getLogger(__name__)

_SERVER_HEADER = "FiremoonSimulator/1.0"
_THREAD_NAME = "kling-simulator"
#: How long `stop()` lets answers already on their way finish before cutting them off.
_GRACE_S = 2.0
_IDLE_CONNECTION_S = 120
#: A burst of parallel requests must not overflow the listen backlog.
_BACKLOG = 1024


class _QuietSimulatorThreads(logging.Filter):
    """Drops uvicorn's routine lines logged on a simulator's thread; warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.threadName.startswith(
            _THREAD_NAME)


_QUIET = _QuietSimulatorThreads()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, woken by `request_exit()` at once and stopped without the fixed
    pauses of its own shutdown (0.1 s, then polls every 0.1 s): tests start and stop a
    simulator each."""

    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self.stopping = stopping
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def request_exit(self) -> None:
        """Ask the server to stop, from any thread."""
        self.should_exit = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                self._loop.call_soon_threadsafe(self.stopping.set)

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stopping.set()
        for server in self.servers:
            server.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their answer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _GRACE_S
        while ((state.connections or state.tasks) and loop.time() < deadline
               and not self.force_exit):  # a second Ctrl+C cuts the grace short
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel()
        for connection in list(state.connections):
            connection.transport.abort()


class Simulator:
    """A Firemoon-compatible server on `host:port` (port 0: a free one).

    `start()` serves on a background thread; `serve_forever()` serves in the foreground;
    `stop()` stops serving, closes every connection and the socket, and removes a
    temporary video directory. Also a context manager (started on entry, stopped on exit).
    `account` holds the simulated balance, `videos` the rendered files.
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.account = Account(self.config)
        self.videos = VideoShelf(self.config.video_dir)
        try:
            self._socket = _listen(host, port)
        except OSError:
            self.videos.remove()
            raise
        self._address = self._socket.getsockname()[:2]
        self._renders = ThreadPoolExecutor(thread_name_prefix=f"{_THREAD_NAME}-render")
        stopping = asyncio.Event()
        limiter = RateLimiter(self.config.rate_limit_per_minute, self.config.rate_window_s)
        app = build_app(Backend(self.config, limiter, self.account, self.videos,
                                self._renders, self.url, stopping))
        self._server = _Uvicorn(uvicorn.Config(
            app, http="h11", ws="none", lifespan="off", log_config=None, access_log=False,
            proxy_headers=False, server_header=False, headers=[("Server", _SERVER_HEADER)],
            timeout_keep_alive=_IDLE_CONNECTION_S), stopping)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._served = threading.Event()
        self._stopped = False

    @property
    def url(self) -> str:
        """Base URL to give `KlingClient`, e.g. `http://127.0.0.1:54321`."""
        host, port = self._address
        # A wildcard address is not one a client can connect to; loopback is.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> "Simulator":
        """Serve on a daemon thread (once: a started simulator stays so); returns self."""
        with self._lock:
            if self._thread is not None and not self._stopped:
                return self
            self._claim()
            self._thread = threading.Thread(
                target=self._serve, name=f"{_THREAD_NAME}-{self._address[1]}", daemon=True)
            self._thread.start()
        log.info("simulator serving at %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` is called from another, or (in the main
        thread) until SIGINT or SIGTERM, which uvicorn raises again once it has stopped."""
        with self._lock:
            self._claim()
        self._serve()

    def stop(self) -> None:
        """Stop serving, close connections and the socket; safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._serving:
                self._server.request_exit()
                self._served.wait()
            if self._thread is not None:
                self._thread.join()
            self._renders.shutdown(wait=True)
            self._socket.close()
            self.videos.remove()

    def render(self, prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
        """Render into the video directory unless already there; return the video name."""
        return self.videos.render(prompt, seed, duration, aspect_ratio)

    def _claim(self) -> None:
        if self._stopped:
            raise RuntimeError("a stopped simulator cannot be started again")
        if self._serving:
            raise RuntimeError("the simulator is already serving")
        self._serving = True

    def _serve(self) -> None:
        # Streamlit may give the access logger a handler again after uvicorn's Config
        # took it away, and uvicorn asks for handlers connection by connection.
        for name in ("uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).addFilter(_QUIET)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._served.set()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r})"


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # TCP named explicitly: asyncio turns Nagle off only on sockets that say so, and
    # with it on, a header and a body written apart wait 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


_shared: dict[SimulatorConfig, Simulator] = {}
_shared_lock = threading.Lock()


def shared_simulator(config: SimulatorConfig | None = None) -> Simulator:
    """The process's one simulator for `config`, started on first use and stopped at
    interpreter exit (default `SimulatorConfig.from_env()`).

    Studios with the same configuration share it, so its account and rate limit are
    shared as a real account's would be; another configuration gets its own.
    """
    config = config or SimulatorConfig.from_env()
    with _shared_lock:
        if config not in _shared:
            simulator = Simulator(config).start()
            atexit.register(simulator.stop)
            _shared[config] = simulator
        return _shared[config]


def main_simulator(host: str = "127.0.0.1", port: int = 8765,
                   config: SimulatorConfig | None = None) -> int:
    """`python -m kling simulator`: serve in the foreground until Ctrl+C; exit status."""
    config = config or SimulatorConfig.from_env()
    try:
        simulator = Simulator(config, host, port)
    except OSError as exc:
        print(f"Cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    requests_log = logging.getLogger("kling.simulator")
    if not requests_log.handlers and not logging.getLogger().handlers:
        # In the foreground, the request log is what the developer wants to see.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        requests_log.addHandler(handler)
        requests_log.setLevel(logging.INFO)
    key = "the key in KLING_SIM_API_KEY" if config.api_key else "any key"
    print(f"Firemoon simulator at {simulator.url} (accepts {key}). "
          f"Use FIREMOON_BASE_URL={simulator.url}. Press Ctrl+C to stop.", flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0
