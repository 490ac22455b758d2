"""The documented Firemoon contract as a Starlette application.

How a request to the API is answered, in order:

1. `force_status` set: that status with its documented body, for every `/api/` request.
2. Routing: an unknown path is 404 (`Model not found` under `/api/v1/`), a known path
   with another method is 405 with `Allow`.
3. Authentication: 401 `Invalid API key` for a missing header, no `Bearer ` prefix, an
   empty token or (when started with `api_key`) another key.
4. Rate limit: 429 `Rate limit exceeded` past `rate_limit_per_minute` in the key's window.
5. Body: 413 past `MAX_BODY_BYTES` (and the connection closed, as the rest is not read),
   then 400 `Invalid input` with an `errors` list naming every invalid field
   (`validation`).
6. Credits: 402 `Insufficient credits` when the video would cost more than the balance.
7. Fault injection: 500 `Generation failed` for the first `fail_first` generations and
   then for a `failure_rate` fraction of them, after the simulated latency.
8. 200 with the documented body; the balance is lowered by the video's price.

Every response carries `X-RateLimit-Limit/Remaining/Reset`. Every `/api/` request counts
against the window of its key (or of the client address when it has no valid key); video
downloads stand for the public blob storage of the real service and only report the
window of the client address without using it up, so seeking a video never costs quota.

Videos are Starlette `FileResponse`s: Range (206 and 416), If-Range and HEAD are the
framework's. A `Range` header that is not one byte range is ignored, as RFC 9110 allows,
so a player always gets the whole video rather than a 400 or a multipart body.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Mapping

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..models import MODEL_NAME
from ..render import frame_size
from ..settings import CREDITS_PATH, MODEL_PATH
from .account import Account, RateLimiter, RateWindow
from .config import SimulatorConfig
from .validation import validate
from .videos import VideoShelf

__all__ = ["Backend", "MAX_BODY_BYTES", "build_app"]

log = logging.getLogger(__name__)

PROVIDER = "kling"
#: Largest request body read; anything bigger is refused with 413 and the connection closed.
MAX_BODY_BYTES = 1 << 20
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_ONE_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
#: The methods a route for "any method" takes (Starlette's default for one is GET only).
_EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

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


@dataclass(frozen=True)
class Backend:
    """What the application answers from. The server owns each part and closes it.

    `origin` is the address put in video URLs when the request's `Host` is unusable;
    `renders` runs the renders off the event loop; `stopping` is set when the server
    begins to stop, and ends every simulated latency at once.
    """

    config: SimulatorConfig
    limiter: RateLimiter
    account: Account
    videos: VideoShelf
    renders: Executor
    origin: str
    stopping: asyncio.Event


def build_app(backend: Backend) -> ASGIApp:
    """The ASGI application of the contract, over `backend`."""
    api = _Endpoints(backend)
    routes = []
    if backend.config.force_status is not None:
        routes.append(Route("/api/{rest:path}", api.forced, methods=_EVERY_METHOD))
    routes += [
        Route("/api/v1/{provider}/{model}", api.generate, methods=["POST"]),
        Route("/api/v1/{provider}/{model}/", api.generate, methods=["POST"]),
        Route(CREDITS_PATH, api.balance, methods=["GET"]),
        # Every method reaches the endpoint, so a missing video is 404 before 405.
        Route("/videos/{file}", api.video, methods=_EVERY_METHOD),
    ]
    app = Starlette(routes=routes, exception_handlers={
        404: _not_found, 405: _method_not_allowed, Exception: _internal_error})
    # The contract has no redirects: a path that is not served is 404.
    app.router.redirect_slashes = False
    # Outermost, so that Starlette's own answers (500 included) carry the window too.
    return _Metering(app, backend)


class _Metering:
    """Counts each `/api/` request against its key's window, stamps a window on every
    response and logs the request line (never a header, so never the key)."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self._app = app
        self._api_key = backend.config.api_key
        self._limiter = backend.limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        client = (scope.get("client") or ("",))[0]
        address = "address:" + client
        state = scope.setdefault("state", {})
        if scope["path"].startswith("/api/"):
            header = Headers(scope=scope).get("authorization")
            problem = _authentication_problem(header, self._api_key)
            # Keyed by a hash so that the key itself is never held as a dictionary key.
            key = hashlib.sha256(header.encode()).hexdigest() if problem is None else address
            state["window"] = self._limiter.hit(key, time.time())
            state["auth_problem"] = problem

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                window = state.get("window") or self._limiter.peek(address, time.time())
                headers = MutableHeaders(scope=message)
                for name, value in window.headers().items():
                    if name not in headers:  # a response's own window (a 429) wins
                        headers.append(name, value)
                log.info('%s "%s %s HTTP/%s" %d', client, scope["method"], scope["path"],
                         scope["http_version"], message["status"])
            await send(message)

        await self._app(scope, receive, stamped)


def _authentication_problem(header: str | None, expected: str | None) -> str | None:
    """What is wrong with an `Authorization` header, or None when its key is accepted."""
    if header is None:
        return "Missing Authorization header. Send 'Authorization: Bearer <API key>'."
    if not header.startswith("Bearer "):
        return "The Authorization header must be 'Bearer <API key>'."
    token = header[len("Bearer "):].strip()
    if not token or (expected is not None and not hmac.compare_digest(
            token.encode(), expected.encode())):
        return "The API key is invalid or has expired."
    return None


class _Endpoints:
    """The routes' endpoints, over one backend."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def generate(self, request: Request) -> Response:
        provider, model = request.path_params["provider"], request.path_params["model"]
        if (provider, model) != (PROVIDER, MODEL_NAME):
            return _error(404, "Model not found",
                          f"The model {provider[:60]}/{model[:60]} does not exist. "
                          f"Kling 2.1 Master is at {MODEL_PATH}.")
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        raw = await _body(request)
        if raw is None:
            return _error(413, _phrase(413), f"The body is larger than {MAX_BODY_BYTES} bytes.",
                          {"Connection": "close"})
        generation, errors = validate(raw)
        if generation is None:
            return _error(400, "Invalid input", "Request validation failed: "
                          + "; ".join(errors) + ".", errors=errors)
        backend = self._backend
        seconds = int(generation.duration)
        cost = round(seconds * backend.config.price_per_second, 4)
        if not backend.account.reserve(cost):
            balance = backend.account.balance
            return _error(402, "Insufficient credits",
                          f"This {seconds} s video costs ${cost:.2f} but the balance is "
                          f"${balance:.2f}. Add credits to continue.",
                          details={"required": cost, "balance": round(balance, 2)})
        started = time.monotonic()
        fails, latency, random_seed = backend.account.next_generation(seconds)
        if fails:
            # Failed generations are not billed.
            backend.account.refund(cost)
            if not await self._wait(latency):
                return _stopped()
            return _error(500, "Generation failed",
                          "Generation failed: the model did not finish (simulated failure).")
        seed = random_seed if generation.seed is None else generation.seed
        try:
            name = await asyncio.get_running_loop().run_in_executor(
                backend.renders, backend.videos.render,
                generation.prompt, seed, generation.duration, generation.aspect_ratio)
            finished = await self._wait(latency - (time.monotonic() - started))
        except BaseException:
            backend.account.refund(cost)
            raise
        if not finished:
            backend.account.refund(cost)
            return _stopped()
        width, height = frame_size(generation.aspect_ratio)
        return _JSON({
            "videos": [{
                "url": f"{self._origin(request)}/videos/{name}.mp4",
                "duration": seconds,
                "width": width,
                "height": height,
                "content_type": "video/mp4",
            }],
            "seed": seed,
            "timings": {"inference": round(time.monotonic() - started, 3)},
        })

    async def balance(self, request: Request) -> Response:
        return _refusal(request) or _JSON(
            {"balance": round(self._backend.account.balance, 2), "currency": "USD"})

    async def forced(self, request: Request) -> Response:
        """The documented answer for the configured `force_status`, whatever was asked."""
        status = self._backend.config.force_status
        assert status is not None
        if status == 429:
            window = dataclasses.replace(request.state.window, remaining=0, allowed=False)
            return _rate_limited(window, time.time())
        error = ERROR_TYPES.get(status) or _phrase(status)
        if status == 400:
            return _error(400, error, "Request validation failed.",
                          errors=["Simulated invalid input (forced status 400)"])
        if status == 403:
            return _error(403, error,
                          f"Your API key does not have access to provider: {PROVIDER}")
        if status == 405:
            return _error(405, "Method not allowed", "Simulated 405 (forced status).",
                          {"Allow": "POST"})
        messages = {
            401: "The API key is invalid or has expired.",
            402: "Your balance is too low for this generation.",
            404: f"No model at {request.scope['path'][:200]}.",
            500: "Generation failed: the provider is unavailable.",
        }
        return _error(status, error, messages.get(status, f"Simulated {status} (forced status)."))

    async def video(self, request: Request) -> Response:
        file = self._backend.videos.find(request.path_params["file"])
        if file is None:
            return _error(404, "Not found", "There is no such video.")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "Method not allowed", "Videos can only be read.",
                          {"Allow": "GET, HEAD"})
        return _VideoFile(file, media_type="video/mp4",
                          headers={"Cache-Control": "public, max-age=86400"})

    async def _wait(self, seconds: float) -> bool:
        """Wait out a simulated latency; False when the server began to stop first."""
        stopping = self._backend.stopping
        if seconds > 0 and not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), seconds)
        return not stopping.is_set()

    def _origin(self, request: Request) -> str:
        """The address the client reached us at, so video URLs work from where it is."""
        host = request.headers.get("host", "")
        return f"http://{host}" if _HOST_HEADER.match(host) else self._backend.origin


class _VideoFile(FileResponse):
    """A video file, with a `Range` header that is not one byte range left out."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = Headers(scope=scope).get("range")
        if wanted is not None and not _is_one_byte_range(wanted):
            scope = {**scope, "headers": [(name, value) for name, value in scope["headers"]
                                          if name.lower() != b"range"]}
        await super().__call__(scope, receive, send)


def _is_one_byte_range(header: str) -> bool:
    match = _ONE_BYTE_RANGE.fullmatch(header.strip())
    if not match or not (match[1] or match[2]):
        return False
    return not (match[1] and match[2] and int(match[2]) < int(match[1]))


class _JSON(JSONResponse):
    """JSON written as `json.dumps` writes it by default: the bytes the simulator has
    always sent (Starlette's own rendering is more compact)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode()


def _error(status: int, error: str, message: str, headers: Mapping[str, str] | None = None,
           **extra: Any) -> Response:
    return _JSON({"error": error, "message": message, **extra}, status, headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a forced status HTTP has no name for, such as 599
        return "Error"


def _iso(moment: float) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's `toISOString()`."""
    text = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _rate_limited(window: RateWindow, now: float) -> Response:
    wait = window.retry_after(now)
    return _error(429, "Rate limit exceeded", f"Try again in {wait} seconds.",
                  {"Retry-After": str(wait), **window.headers()}, resetAt=_iso(window.reset))


def _refusal(request: Request) -> Response | None:
    """401 or 429 for a request that may not use the API now, else None."""
    problem = request.state.auth_problem
    if problem is not None:
        return _error(401, "Invalid API key", problem)
    window: RateWindow = request.state.window
    if not window.allowed:
        return _rate_limited(window, time.time())
    return None


def _stopped() -> Response:
    return _error(503, _phrase(503), "The simulator stopped before the video was ready; "
                  "it was not billed.")


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():  # chunked bodies declare no length
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    path = request.scope["path"]
    if path.startswith("/api/v1/"):
        return _error(404, "Model not found",
                      f"No model at {path[:200]}. Kling 2.1 Master is at {MODEL_PATH}.")
    if path.startswith("/videos/"):
        return _error(404, "Not found", "There is no such video.")
    return _error(404, "Not found", f"Nothing is served at {path[:200]}.")


async def _method_not_allowed(request: Request, exc: HTTPException) -> Response:
    # Starlette joins a route's methods from a set; sorted, the header reads the same
    # in every run ("GET, HEAD").
    allowed = ", ".join(sorted((exc.headers or {}).get("Allow", "").split(", ")))
    return _error(405, "Method not allowed",
                  f"{request.method} is not allowed here; use {allowed}.", {"Allow": allowed})


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette still raises the exception afterwards, so uvicorn logs its traceback.
    return _error(500, "Internal server error", "The simulator failed; see its log.")
