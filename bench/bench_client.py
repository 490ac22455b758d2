"""Overhead of `KlingClient.generate` beside a bare `requests` call, same server, same run.

A loopback HTTP/1.1 keep-alive server answers every POST at once with a valid 200, so
the time per call is transport plus client work. The baseline is what any caller must do
at the least: `Session.post` of the same JSON with the same header, then decode the JSON.
Rounds alternate between the two and the best round of each counts, so a noisy moment
on the machine hurts neither side alone.

Run alone: `python -m bench.bench_client`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import requests

from bench.common import Figure, isolated_settings, table
from kling.client import KlingClient, RetryPolicy
from kling.settings import MODEL_PATH

CALLS_PER_ROUND = 40
ROUNDS = 15
GOAL_RATIO = 1.2

_BODY = json.dumps({
    "videos": [{"url": "https://blob.example.com/v.mp4", "duration": 5, "width": 1920,
                "height": 1088, "content_type": "video/mp4"}],
    "seed": 42,
    "timings": {"inference": 12.5},
}).encode()


class _Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write (flushed after each request), and without
    # Nagle: split small writes would otherwise meet delayed ACKs, 40 ms per answer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_BODY)))
        self.send_header("X-RateLimit-Limit", "60")
        self.send_header("X-RateLimit-Remaining", "59")
        self.send_header("X-RateLimit-Reset", "1900000000")
        self.end_headers()
        self.wfile.write(_BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def measure(calls: int = CALLS_PER_ROUND, rounds: int = ROUNDS) -> tuple[float, float]:
    """(client, bare) best seconds per call against one instant loopback server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Instant)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    key = "bench-key-0123456789"
    payload = {"prompt": "waves crashing on the shore, drone shot", "duration": "5",
               "aspect_ratio": "16:9", "seed": 42}
    timeout = (10.0, 120.0)
    try:
        with KlingClient(api_key=key, base_url=base_url, retry=RetryPolicy.none()) as client, \
                requests.Session() as session:
            headers = {"Authorization": f"Bearer {key}"}

            def with_client() -> None:
                client.generate(prompt=payload["prompt"], duration="5",
                                aspect_ratio="16:9", seed=42)

            def bare() -> None:
                session.post(base_url + MODEL_PATH, json=payload, headers=headers,
                             timeout=timeout).json()

            for warm in (with_client, bare):  # open the connections, fill the caches
                _per_call(warm, 20)
            client_best = bare_best = float("inf")
            for _ in range(rounds):
                client_best = min(client_best, _per_call(with_client, calls))
                bare_best = min(bare_best, _per_call(bare, calls))
    finally:
        server.shutdown()
        server.server_close()
    return client_best, bare_best


def run() -> list[Figure]:
    """The client's cost per call against the bare call's, measured in the same run."""
    with isolated_settings():  # the client reads its timeouts from the settings
        client_s, bare_s = measure()
    return [Figure(
        area="client",
        name="KlingClient.generate, seconds per call (instant loopback server)",
        value=client_s,
        unit="s",
        baseline_name="bare requests Session.post + .json(), seconds per call",
        baseline_value=bare_s,
        goal=f"ratio <= {GOAL_RATIO}",
        met=client_s / bare_s <= GOAL_RATIO,
    )]


if __name__ == "__main__":
    print(table(run()))
