"""The simulator's HTTP server, the process's shared simulators and the foreground command.

How a request to the API is answered, in order:

1. `force_status` set: that status with its documented body, for every `/api/` request.
2. Routing: an unknown path is 404 (`Model not found` under `/api/v1/`), a known path
   with another method is 405 with `Allow`.
3. Authentication: 401 `Invalid API key` for a missing header, no `Bearer ` prefix, an
   empty token or (when started with `api_key`) another key.
4. Rate limit: 429 `Rate limit exceeded` past `rate_limit_per_minute` in the key's window.
5. Body: 400 `Invalid input` with an `errors` list naming every invalid field
   (`validation`).
6. Credits: 402 `Insufficient credits` when the video would cost more than the balance.
7. Fault injection: 500 `Generation failed` for the first `fail_first` generations and
   then for a `failure_rate` fraction of them, after the simulated latency.
8. 200 with the documented body; the balance is lowered by the video's price.

Every response carries `X-RateLimit-Limit/Remaining/Reset`. Every `/api/` request counts
against the window of its key (or of the client address when it has no valid key); video
downloads stand for the public blob storage of the real service and only report the
window of the client address without using it up, so seeking a video never costs quota.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import re
import socket
import socketserver
import sys
import threading
import time
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..models import MODEL_NAME
from ..render import frame_size
from ..settings import CREDITS_PATH, MODEL_PATH
from .account import Account, RateLimiter, RateWindow
from .config import SimulatorConfig
from .validation import validate
from .videos import VideoShelf

__all__ = ["Simulator", "main_simulator", "shared_simulator"]

log = logging.getLogger("kling.simulator")

PROVIDER = "kling"
#: Largest request body read; anything bigger is refused with 413 and the connection closed.
MAX_BODY_BYTES = 1 << 20
_MODEL_ROUTE = re.compile(r"^/api/v1/([^/]+)/([^/]+)/?$")
_RANGE_HEADER = re.compile(r"^bytes=(\d*)-(\d*)$")
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")

#: The documented `error` of each status; other statuses use their HTTP reason phrase.
ERROR_TYPES: dict[int, str] = {
    400: "Invalid input",
    401: "Invalid API key",
    402: "Insufficient credits",
    403: "Access denied",
    404: "Model not found",
    429: "Rate limit exceeded",
    500: "Generation failed",
}


def _iso(moment: float) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's `toISOString()`."""
    text = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# --- HTTP ----------------------------------------------------------------------------

class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive, every response with a Content-Length."""

    server: "_Server"
    protocol_version = "HTTP/1.1"
    server_version = "FiremoonSimulator/1.0"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing

    def _dispatch(self) -> None:
        self._window: RateWindow | None = None
        self._sent = False
        path = urlsplit(self.path).path
        try:
            if path.startswith("/api/"):
                self._api(path)
            elif path.startswith("/videos/"):
                self._video(path)
            else:
                self._error(404, "Not found", f"Nothing is served at {path[:200]}.")
        except _BadBody as bad:
            self.close_connection = True
            self._error(bad.status, HTTPStatus(bad.status).phrase, bad.message)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:
            log.exception("simulator failed on %s %s", self.command, path[:200])
            self.close_connection = True
            if not self._sent:
                self._error(500, "Internal server error", "The simulator failed; see its log.")

    def _client_key(self) -> str:
        return "address:" + self.client_address[0]

    def _send(self, status: int, body: bytes, content_type: str,
              headers: Mapping[str, str] | None = None) -> None:
        window = self._window or self.server.simulator.limiter.peek(
            self._client_key(), time.time())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**window.headers(), **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self._sent = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any],
              headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(self, status: int, error: str, message: str,
               headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        self._json(status, {"error": error, "message": message, **extra}, headers)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Malformed requests (bad request line, huge headers, unknown method) get JSON
        and a closed connection, as the body (if any) was not read."""
        self.close_connection = True
        self._window = None
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._error(code, phrase, message or explain or phrase)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        # Only the request line and status: headers, and with them the key, never appear.
        log.info("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.warning("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        """The whole request body, so the connection stays usable for the next request."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadBody(400, "Content-Length is not a number.") from None
        if length < 0:
            raise _BadBody(400, "Content-Length is not a number.")
        if length > MAX_BODY_BYTES:
            raise _BadBody(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadBody(400, "The chunked body is malformed.") from None
            if size == 0:
                # Trailer headers end with an empty line.
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadBody(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- the API

    def _authenticate(self) -> str | None:
        """The problem with the Authorization header, or None when the key is accepted."""
        header = self.headers.get("Authorization")
        if header is None:
            return "Missing Authorization header. Send 'Authorization: Bearer <API key>'."
        if not header.startswith("Bearer "):
            return "The Authorization header must be 'Bearer <API key>'."
        token = header[len("Bearer "):].strip()
        expected = self.server.simulator.config.api_key
        if not token or (expected is not None and not hmac.compare_digest(
                token.encode(), expected.encode())):
            return "The API key is invalid or has expired."
        return None

    def _api(self, path: str) -> None:
        simulator = self.server.simulator
        config = simulator.config
        body = self._read_body() if self.command in _BODY_METHODS else b""
        auth_problem = self._authenticate()
        # Keyed by a hash so that the key itself is never held as a dictionary key.
        key = (hashlib.sha256(self.headers["Authorization"].encode()).hexdigest()
               if auth_problem is None else self._client_key())
        now = time.time()
        self._window = simulator.limiter.hit(key, now)

        if config.force_status is not None:
            self._forced(config.force_status, path, now)
            return
        model = _MODEL_ROUTE.match(path)
        allowed = "POST" if model else "GET, HEAD" if path == CREDITS_PATH else None
        if allowed is None:
            if path.startswith("/api/v1/"):
                self._error(404, "Model not found",
                            f"No model at {path[:200]}. Kling 2.1 Master is at {MODEL_PATH}.")
            else:
                self._error(404, "Not found", f"Nothing is served at {path[:200]}.")
            return
        if self.command not in allowed.split(", "):
            self._error(405, "Method not allowed",
                        f"{self.command} is not allowed here; use {allowed}.",
                        {"Allow": allowed})
            return
        if model and (model[1], model[2]) != (PROVIDER, MODEL_NAME):
            self._error(404, "Model not found",
                        f"The model {model[1][:60]}/{model[2][:60]} does not exist. "
                        f"Kling 2.1 Master is at {MODEL_PATH}.")
            return
        if auth_problem is not None:
            self._error(401, "Invalid API key", auth_problem)
            return
        if not self._window.allowed:
            self._rate_limited(now)
            return
        if model:
            self._generate(body)
        else:
            self._json(200, {"balance": round(simulator.account.balance, 2),
                             "currency": "USD"})

    def _rate_limited(self, now: float) -> None:
        assert self._window is not None
        wait = self._window.retry_after(now)
        self._error(429, "Rate limit exceeded", f"Try again in {wait} seconds.",
                    {"Retry-After": str(wait)}, resetAt=_iso(self._window.reset))

    def _forced(self, status: int, path: str, now: float) -> None:
        """The documented answer for `status`, whatever was asked."""
        error = ERROR_TYPES.get(status) or HTTPStatus(status).phrase
        if status == 429:
            assert self._window is not None
            self._window = RateWindow(self._window.limit, 0, self._window.reset, False)
            self._rate_limited(now)
        elif status == 400:
            self._error(400, error, "Request validation failed.",
                        errors=["Simulated invalid input (forced status 400)"])
        elif status == 403:
            self._error(403, error, f"Your API key does not have access to provider: {PROVIDER}")
        elif status == 405:
            self._error(405, "Method not allowed", "Simulated 405 (forced status).",
                        {"Allow": "POST"})
        else:
            messages = {
                401: "The API key is invalid or has expired.",
                402: "Your balance is too low for this generation.",
                404: f"No model at {path[:200]}.",
                500: "Generation failed: the provider is unavailable.",
            }
            self._error(status, error,
                        messages.get(status, f"Simulated {status} (forced status)."))

    def _generate(self, raw: bytes) -> None:
        simulator = self.server.simulator
        request, errors = validate(raw)
        if request is None:
            self._error(400, "Invalid input", "Request validation failed: "
                        + "; ".join(errors) + ".", errors=errors)
            return
        seconds = int(request.duration)
        cost = round(seconds * simulator.config.price_per_second, 4)
        if not simulator.account.reserve(cost):
            balance = simulator.account.balance
            self._error(402, "Insufficient credits",
                        f"This {seconds} s video costs ${cost:.2f} but the balance is "
                        f"${balance:.2f}. Add credits to continue.",
                        details={"required": cost, "balance": round(balance, 2)})
            return
        started = time.monotonic()
        fails, latency, random_seed = simulator.account.next_generation(seconds)
        if fails:
            # Failed generations are not billed.
            simulator.account.refund(cost)
            time.sleep(latency)
            self._error(500, "Generation failed",
                        "Generation failed: the model did not finish (simulated failure).")
            return
        seed = random_seed if request.seed is None else request.seed
        try:
            name = simulator.render(request.prompt, seed, request.duration,
                                    request.aspect_ratio)
        except BaseException:
            simulator.account.refund(cost)
            raise
        time.sleep(max(0.0, latency - (time.monotonic() - started)))
        width, height = frame_size(request.aspect_ratio)
        self._json(200, {
            "videos": [{
                "url": f"{self._origin()}/videos/{name}.mp4",
                "duration": seconds,
                "width": width,
                "height": height,
                "content_type": "video/mp4",
            }],
            "seed": seed,
            "timings": {"inference": round(time.monotonic() - started, 3)},
        })

    def _origin(self) -> str:
        """The address the client reached us at, so video URLs work from where it is."""
        host = self.headers.get("Host", "")
        if _HOST_HEADER.match(host):
            return f"http://{host}"
        return self.server.simulator.url

    # -- videos

    def _video(self, path: str) -> None:
        if self.command in _BODY_METHODS:
            self._read_body()
        file = (self.server.simulator.videos.find(path[len("/videos/"):])
                if path.count("/") == 2 else None)
        if file is None:
            self._error(404, "Not found", "There is no such video.")
            return
        if self.command not in ("GET", "HEAD"):
            self._error(405, "Method not allowed", "Videos can only be read.",
                        {"Allow": "GET, HEAD"})
            return
        data = file.read_bytes()
        size = len(data)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=86400"}
        wanted = _byte_range(self.headers.get("Range"), size)
        if wanted is None:
            self._send(200, data, "video/mp4", headers)
        elif wanted == "unsatisfiable":
            self._error(416, "Range not satisfiable",
                        f"The video has {size} bytes.", {**headers,
                                                         "Content-Range": f"bytes */{size}"})
        else:
            start, end = wanted
            self._send(206, data[start:end + 1], "video/mp4",
                       {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single `Range: bytes=...`, "unsatisfiable", or None to send
    the whole file (no header, a malformed one, or several ranges, as RFC 9110 allows)."""
    match = _RANGE_HEADER.match((header or "").strip())
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        return (max(0, size - suffix), size - 1) if suffix else "unsatisfiable"
    start = int(match[1])
    if match[2] and int(match[2]) < start:
        return None  # syntactically invalid, so ignored
    if start >= size:
        return "unsatisfiable"
    return start, min(int(match[2]), size - 1) if match[2] else size - 1


class _Server(ThreadingHTTPServer):
    """Threaded server that knows its open connections, so `stop()` can close them."""

    daemon_threads = True
    # A burst of parallel requests must not overflow the listen backlog.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], simulator: "Simulator") -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer would look up the host's FQDN here, which can stall on a slow DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones included) so they end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --- the simulator -------------------------------------------------------------------

class Simulator:
    """A Firemoon-compatible server on `host:port` (port 0: a free one).

    The socket is bound at construction, so `url` is known at once. `start()` serves on a
    background thread; `serve_forever()` serves in the foreground; `stop()` shuts down,
    closes every connection and the socket, and removes a temporary video directory.
    Also a context manager (started on entry, stopped on exit).
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.limiter = RateLimiter(self.config.rate_limit_per_minute,
                                    self.config.rate_window_s)
        self.account = Account(self.config)
        self.videos = VideoShelf(self.config.video_dir)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False
        try:
            self._server = _Server((host, port), self)
        except OSError:
            self.videos.remove()
            raise

    @property
    def url(self) -> str:
        """Base URL to give `KlingClient`, e.g. `http://127.0.0.1:54321`."""
        host, port = self._server.server_address[:2]
        # A wildcard address is not one a client can connect to; loopback is.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def balance(self) -> float:
        """The simulated balance in USD."""
        return self.account.balance

    def start(self) -> "Simulator":
        """Serve on a daemon thread; returns self."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped simulator cannot be started again")
            if self._thread is None:
                self._serving = True
                self._thread = threading.Thread(
                    target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                    name=f"kling-simulator-{self._server.server_address[1]}", daemon=True)
                self._thread.start()
                log.info("simulator serving at %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` is called from another or an exception."""
        with self._lock:
            self._serving = True
        self._server.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        """Stop serving, close connections and the socket; safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._serving:
                self._shutdown_promptly()
            if self._thread is not None:
                self._thread.join()
            self._server.close_connections()
            self._server.server_close()
            self.videos.remove()

    @property
    def video_dir(self) -> Path:
        """Where the videos are rendered and served from."""
        return self.videos.directory

    def render(self, prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
        """Render into the video directory unless already there; return the video name."""
        return self.videos.render(prompt, seed, duration, aspect_ratio)

    def _shutdown_promptly(self) -> None:
        # `shutdown()` is only noticed when the accept loop wakes; a connection wakes it
        # at once instead of after the poll interval.
        stopper = threading.Thread(target=self._server.shutdown, daemon=True)
        stopper.start()
        host, port = urlsplit(self.url).hostname, self._server.server_address[1]
        while stopper.is_alive():
            try:
                socket.create_connection((host, port), timeout=0.2).close()
            except OSError:
                pass
            stopper.join(0.01)

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r})"


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
    if not log.handlers and not logging.getLogger().handlers:
        # In the foreground, the request log is what the developer wants to see.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
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
