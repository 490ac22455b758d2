"""A Firemoon-compatible HTTP server: demo mode's backend and the ground every test runs on.

It speaks the documented contract of `POST /api/v1/kling/kling-2-1-master` (see
`shared/reference/firemoon-kling-api.md`): Bearer authentication, validation naming every
invalid field, the documented error bodies, `X-RateLimit-*` headers with a per-key window,
a credit balance at `GET /api/credits/balance`, realistic latency, and real H.264 videos
(`kling.render`) served under `/videos/` with HTTP Range support so browsers can seek.
Faults can be injected at start (`SimulatorConfig`) so the studio's error handling can be
shown and tested.

How a request to the API is answered, in order:

1. `force_status` set: that status with its documented body, for every `/api/` request.
2. Routing: an unknown path is 404 (`Model not found` under `/api/v1/`), a known path
   with another method is 405 with `Allow`.
3. Authentication: 401 `Invalid API key` for a missing header, no `Bearer ` prefix, an
   empty token or (when started with `api_key`) another key.
4. Rate limit: 429 `Rate limit exceeded` past `rate_limit_per_minute` in the key's window.
5. Body: 400 `Invalid input` with an `errors` list naming every invalid field. As
   documented, `duration` is a string: `"5"` or `"10"`; the number 5 is refused, so a
   client that would be refused by the real API is refused here too. `seed` is a JSON
   number holding a whole number from 0 to 4294967295 (`null` means "pick one").
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
import math
import os
import random
import re
import shutil
import socket
import socketserver
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS, MAX_SEED, MODEL_NAME
from .render import RENDER_VERSION, frame_size, render_to_file
from .settings import (
    CREDITS_PATH, MODEL_PATH, Settings, parse_latency, parse_number, parse_whole,
)

__all__ = ["Simulator", "SimulatorConfig", "main_simulator", "shared_simulator", "video_name"]

log = logging.getLogger("kling.simulator")

PROVIDER = "kling"
#: Largest request body read; anything bigger is refused with 413 and the connection closed.
MAX_BODY_BYTES = 1 << 20
_MODEL_ROUTE = re.compile(r"^/api/v1/([^/]+)/([^/]+)/?$")
_VIDEO_ROUTE = re.compile(r"^/videos/([0-9a-f]{32})\.mp4$")
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


# --- configuration -------------------------------------------------------------------

@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves; fixed when it starts.

    `api_key` None accepts any non-empty Bearer token. `latency` is the (low, high) range
    in seconds of a 5 s video; a 10 s video takes twice as long. `random_seed` makes the
    random seeds and injected failures reproducible. `video_dir` None renders into a
    temporary directory removed at `stop()`. `rate_window_s` is the length of a rate
    window (a minute, as documented; shorter only to test resets quickly).
    """

    api_key: str | None = field(default=None, repr=False)
    latency: tuple[float, float] = (3.0, 6.0)
    rate_limit_per_minute: int = 60
    starting_balance: float = 1000.0
    price_per_second: float = 0.28
    failure_rate: float = 0.0
    fail_first: int = 0
    force_status: int | None = None
    video_dir: Path | None = None
    random_seed: int | None = None
    rate_window_s: float = 60.0

    def __post_init__(self) -> None:
        low, high = (float(x) for x in self.latency)
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high, "
                             f"not {self.latency!r}")
        object.__setattr__(self, "latency", (low, high))
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if not self.rate_window_s > 0:
            raise ValueError("rate_window_s must be positive")
        if not self.starting_balance >= 0 or not self.price_per_second >= 0:
            raise ValueError("starting_balance and price_per_second must not be negative")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if self.fail_first < 0:
            raise ValueError("fail_first must not be negative")
        if self.force_status is not None and not 400 <= self.force_status <= 599:
            raise ValueError("force_status must be an error status from 400 to 599")
        if self.video_dir is not None:
            object.__setattr__(self, "video_dir", Path(self.video_dir))
        if self.api_key is not None and not self.api_key.strip():
            object.__setattr__(self, "api_key", None)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        settings: Settings | None = None,
    ) -> "SimulatorConfig":
        """Read the configuration from the environment (`os.environ` by default).

        Variables: `KLING_SIM_LATENCY` (`"4"` or `"3-6"`), `KLING_PRICE_PER_SECOND`,
        `KLING_SIM_RATE_LIMIT`, `KLING_SIM_BALANCE`, `KLING_SIM_FAILURE_RATE` (0-1),
        `KLING_SIM_FAIL_FIRST`, `KLING_SIM_FORCE_STATUS` (400-599), `KLING_SIM_API_KEY`,
        `KLING_SIM_VIDEO_DIR`. When `settings` is given, its `sim_latency` and
        `price_per_second` are used instead of the first two, so values from
        `.streamlit/secrets.toml` count too. An unusable value raises `SettingsError` (a
        ValueError) naming the variable.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        if settings is not None:
            latency, price = settings.sim_latency, settings.price_per_second
        else:
            latency_text = get("KLING_SIM_LATENCY")
            latency = parse_latency(latency_text) if latency_text else cls.latency
            price_text = get("KLING_PRICE_PER_SECOND")
            price = (parse_number("KLING_PRICE_PER_SECOND", price_text, 0.0)
                     if price_text else cls.price_per_second)
        rate = get("KLING_SIM_RATE_LIMIT")
        balance = get("KLING_SIM_BALANCE")
        failure_rate = get("KLING_SIM_FAILURE_RATE")
        fail_first = get("KLING_SIM_FAIL_FIRST")
        force = get("KLING_SIM_FORCE_STATUS")
        video_dir = get("KLING_SIM_VIDEO_DIR")
        return cls(
            api_key=get("KLING_SIM_API_KEY"),
            latency=latency,
            rate_limit_per_minute=(parse_whole("KLING_SIM_RATE_LIMIT", rate, 1)
                                   if rate else cls.rate_limit_per_minute),
            starting_balance=(parse_number("KLING_SIM_BALANCE", balance, 0.0)
                              if balance else cls.starting_balance),
            price_per_second=price,
            failure_rate=(parse_number("KLING_SIM_FAILURE_RATE", failure_rate, 0.0, 1.0)
                          if failure_rate else cls.failure_rate),
            fail_first=parse_whole("KLING_SIM_FAIL_FIRST", fail_first, 0) if fail_first else 0,
            force_status=(parse_whole("KLING_SIM_FORCE_STATUS", force, 400, 599)
                          if force else None),
            video_dir=Path(video_dir) if video_dir else None,
        )


# --- request bodies --------------------------------------------------------------------

@dataclass(frozen=True)
class _Generation:
    prompt: str
    duration: str
    aspect_ratio: str
    seed: int | None


def _validate(raw: bytes) -> tuple[_Generation | None, list[str]]:
    """The generation asked for, or every problem with the body in the API's words."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, ["Request body must be valid JSON"]
    if not isinstance(body, dict):
        return None, ["Request body must be a JSON object"]
    errors = []
    prompt = body.get("prompt")
    if prompt is None:
        errors.append("Missing required field: prompt")
    elif not isinstance(prompt, str):
        errors.append("prompt must be a string")
    elif not prompt.strip():
        errors.append("prompt must not be empty")
    elif len(prompt) > MAX_PROMPT_CHARS:
        errors.append(f"prompt must be at most {MAX_PROMPT_CHARS} characters")
    duration = body.get("duration", "5")
    if duration not in DURATIONS or not isinstance(duration, str):
        kind = " (a string)" if isinstance(duration, (int, float)) else ""
        errors.append(f'duration must be "5" or "10"{kind}')
    aspect_ratio = body.get("aspect_ratio", "16:9")
    if not isinstance(aspect_ratio, str) or aspect_ratio not in ASPECT_RATIOS:
        errors.append('aspect_ratio must be "16:9" or "9:16"')
    seed = body.get("seed")
    if seed is not None:
        whole = (isinstance(seed, int) and not isinstance(seed, bool)) or (
            isinstance(seed, float) and math.isfinite(seed) and seed.is_integer())
        if not whole or not 0 <= seed <= MAX_SEED:
            errors.append(f"seed must be a whole number from 0 to {MAX_SEED}")
    if errors:
        return None, errors
    return _Generation(prompt, duration, aspect_ratio, None if seed is None else int(seed)), []


def video_name(prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
    """File name (without `.mp4`) of the render of these inputs: 32 hex digits."""
    key = json.dumps([RENDER_VERSION, prompt, seed, str(duration), aspect_ratio])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _iso(moment: float) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's `toISOString()`."""
    text = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# --- shared state --------------------------------------------------------------------

@dataclass(frozen=True)
class _Window:
    """One key's rate window as the `X-RateLimit-*` headers report it."""

    limit: int
    remaining: int
    reset: float
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset - now))


class _RateLimiter:
    """Fixed windows per key: a window opens at a key's first request and lasts
    `window_s`; at most `limit` requests are allowed in it."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> _Window:
        """Count one request for `key` (unless it is refused) and report the window."""
        with self._lock:
            start, count = self._current(key, now)
            allowed = count < self.limit
            if allowed:
                count += 1
                self._windows[key] = (start, count)
            return _Window(self.limit, self.limit - count, start + self.window_s, allowed)

    def peek(self, key: str, now: float) -> _Window:
        """Report the window of `key` without counting a request."""
        with self._lock:
            start, count = self._current(key, now)
            return _Window(self.limit, self.limit - count, start + self.window_s, True)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(key, (now, 0))
        if now >= start + self.window_s:
            start, count = now, 0
        if len(self._windows) > 10_000:
            # Many one-off keys (random wrong tokens): forget windows that have ended.
            self._windows = {k: v for k, v in self._windows.items()
                             if now < v[0] + self.window_s}
        return start, count


class _Account:
    """The simulated balance and the fault-injection dice, shared by all requests."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._balance = config.starting_balance
        self._generations = 0
        self._random = random.Random(config.random_seed)

    @property
    def balance(self) -> float:
        with self._lock:
            return round(self._balance, 4)

    def reserve(self, cost: float) -> bool:
        """Take `cost` from the balance if it is there (given back by `refund`)."""
        with self._lock:
            # A hair of tolerance so that float sums never refuse an exact last video.
            if cost > self._balance + 1e-9:
                return False
            self._balance -= cost
            return True

    def refund(self, cost: float) -> None:
        with self._lock:
            self._balance += cost

    def next_generation(self, seconds: int) -> tuple[bool, float, int]:
        """(fails, latency in seconds, random seed) for the next generation."""
        with self._lock:
            self._generations += 1
            fails = (self._generations <= self._config.fail_first
                     or self._random.random() < self._config.failure_rate)
            low, high = self._config.latency
            latency = self._random.uniform(low, high) * seconds / 5
            return fails, latency, self._random.randint(0, MAX_SEED)


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
        self._window: _Window | None = None
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
            self._window = _Window(self._window.limit, 0, self._window.reset, False)
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
        request, errors = _validate(raw)
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
        match = _VIDEO_ROUTE.match(path)
        file = self.server.simulator.video_dir / f"{match[1]}.mp4" if match else None
        if file is None or not file.is_file():
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
        self.limiter = _RateLimiter(self.config.rate_limit_per_minute,
                                    self.config.rate_window_s)
        self.account = _Account(self.config)
        self._own_dir = self.config.video_dir is None
        self.video_dir = (Path(tempfile.mkdtemp(prefix="kling-sim-videos-")) if self._own_dir
                          else self.config.video_dir)
        self.video_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False
        try:
            self._server = _Server((host, port), self)
        except OSError:
            self._remove_dir()
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
            self._remove_dir()

    def render(self, prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
        """Render into the video directory unless already there; return the video name."""
        name = video_name(prompt, seed, duration, aspect_ratio)
        target = self.video_dir / f"{name}.mp4"
        if not target.exists():
            # Render under a unique name and move it into place in one step, so that a
            # concurrent identical request never sees, or serves, a half-written file.
            handle, temp = tempfile.mkstemp(dir=self.video_dir, prefix=f".{name}-",
                                            suffix=".part")
            os.close(handle)
            try:
                render_to_file(temp, prompt, seed, duration, aspect_ratio)
                os.replace(temp, target)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        return name

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

    def _remove_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.video_dir, ignore_errors=True)

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
