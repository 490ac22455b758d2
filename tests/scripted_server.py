"""A real HTTP server on loopback that tests script answer by answer.

Tests queue `Reply` objects (status, headers, body, and misbehaviour: a delay before
answering, a connection dropped without an answer, a body trickled slowly or cut short)
and read back every request the server received. It speaks HTTP/1.1 with keep-alive, so
a pooled client behaves as it would against the real API.

    with ScriptedServer() as server:
        server.script(Reply(429, headers={"Retry-After": "1"}), Reply.ok())
        client = KlingClient(api_key="k", base_url=server.url)
        ...
        assert server.post_count == 2

Any suite can reuse it (client, job queue, fault tests): `default` answers when the
script is empty, and a reply may be a function of the request for dynamic answers.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Union

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "closed_port", "success_body"]


def success_body(
    seed: int = 42, url: str = "https://blob.example.com/video.mp4", duration: int = 5,
    inference: float = 12.5,
) -> dict[str, Any]:
    """A documented 200 body of the Kling endpoint."""
    return {
        "videos": [{"url": url, "duration": duration, "width": 1920, "height": 1088,
                    "content_type": "video/mp4"}],
        "seed": seed,
        "timings": {"inference": inference},
    }


@dataclass
class Reply:
    """One scripted answer.

    `body` may be bytes, text, or a JSON-able value (sent as application/json).
    `delay`: seconds to wait after reading the request, before answering.
    `drop`: read the request, then close the connection without a byte of answer.
    `trickle`: seconds between body chunks of `chunk_size` bytes (headers go at once).
    `content_length`: announce this length instead of the real one (a lie cuts the
    answer short; the connection is then closed).
    """

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    trickle: float | None = None
    chunk_size: int = 16
    content_length: int | None = None

    @classmethod
    def ok(cls, **body: Any) -> "Reply":
        """A documented success; keyword arguments go to `success_body`."""
        return cls(200, success_body(**body))

    @classmethod
    def error(cls, status: int, error: str, message: str, **extra: Any) -> "Reply":
        """A documented error body `{"error", "message", ...}`; `headers=` sets headers."""
        headers = extra.pop("headers", {})
        return cls(status, {"error": error, "message": message, **extra}, headers=headers)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            body = self.body
        elif isinstance(self.body, str):
            body = self.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            body = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        return body, headers


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """Header value, case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Responder = Union[Reply, Callable[[RecordedRequest], Reply]]

#: Answer when the script is empty and no default was given: loud, and not a documented
#: status, so a test that sends more than it scripted fails visibly.
EXHAUSTED = Reply(599, {"error": "Script exhausted", "message": "No reply was scripted."})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write (flushed after each request), and without
    # Nagle: split small writes would otherwise meet delayed ACKs, 40 ms per answer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: "_Server"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = RecordedRequest(
            method=self.command, path=self.path, headers=dict(self.headers.items()),
            body=body, client_port=self.client_address[1])
        owner = self.server.owner
        reply = owner._record_and_pick(recorded)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        payload, headers = reply.encoded()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        announced = len(payload) if reply.content_length is None else reply.content_length
        self.send_header("Content-Length", str(announced))
        if announced != len(payload):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if reply.trickle is None:
            self.wfile.write(payload)
            return
        self.wfile.flush()
        for start in range(0, len(payload), reply.chunk_size):
            if owner._stopping.wait(reply.trickle):
                self.close_connection = True
                return
            self.wfile.write(payload[start:start + reply.chunk_size])
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def handle(self) -> None:
        # The client hanging up (timeouts, drops) is part of the script, not an error.
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: "ScriptedServer"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def disconnect_all(self) -> None:
        """Hang up on every client, idle keep-alive connections included."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ScriptedServer:
    """A loopback HTTP server answering from a script; use it as a context manager."""

    def __init__(self, replies: Iterable[Responder] = (), *,
                 default: Responder | None = None) -> None:
        self.default = default
        self._script: deque[Responder] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
            name="scripted-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Responder) -> "ScriptedServer":
        """Queue answers, used in order, one per request."""
        with self._changed:
            self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Scripted answers not used yet."""
        with self._changed:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests received, optionally only of one method and/or path."""
        return sum(1 for r in self.requests
                   if (method is None or r.method == method) and (path is None or r.path == path))

    @property
    def post_count(self) -> int:
        return self.count("POST")

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Block until at least `n` requests arrived; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._requests) >= n, timeout)

    def disconnect_all(self) -> None:
        """Hang up on every connected client (the next request opens a new connection)."""
        self._httpd.disconnect_all()

    def close(self) -> None:
        """Stop serving and hang up; delayed and trickling answers are cut short."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.disconnect_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            responder = self._script.popleft() if self._script else self.default
        if responder is None:
            return EXHAUSTED
        return responder(request) if callable(responder) else responder


def closed_port() -> int:
    """A loopback port with nothing listening (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
