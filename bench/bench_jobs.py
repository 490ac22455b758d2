"""8 generations through the job queue at concurrency 8, beside the same 8 made one
after another the way the provider's example code does (a plain `requests.post` loop),
against a loopback server that takes 1 s per video. Goal: at least 6 times faster.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from bench.common import Figure, isolated_settings, table
from kling.client import KlingClient, RetryPolicy
from kling.history import HistoryLog
from kling.jobs import JobQueue
from kling.models import GenerationRequest
from kling.settings import MODEL_PATH

LATENCY_S = 1.0
TAKES = 8


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(LATENCY_S)
        payload = json.dumps({
            "videos": [{"url": "https://example.invalid/v.mp4", "duration": 5,
                        "width": 1920, "height": 1088, "content_type": "video/mp4"}],
            "seed": body.get("seed", 1), "timings": {"inference": LATENCY_S},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


def run() -> list[Figure]:
    with isolated_settings():  # the client reads its timeouts from the settings
        return _run()


def _run() -> list[Figure]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    requests_ = [GenerationRequest.create("waves crashing, drone shot, slow motion", "5",
                                          "16:9", seed) for seed in range(TAKES)]
    try:
        start = time.perf_counter()
        for req in requests_:
            response = requests.post(base_url + MODEL_PATH, json=req.to_payload(),
                                     headers={"Authorization": "Bearer bench"}, timeout=30)
            response.raise_for_status()
        sequential = time.perf_counter() - start

        with tempfile.TemporaryDirectory() as data_dir:
            client = KlingClient(api_key="bench", base_url=base_url,
                                 retry=RetryPolicy(retry_rate_limits=False))
            queue = JobQueue(client, HistoryLog(data_dir), max_concurrency=TAKES)
            start = time.perf_counter()
            jobs = queue.submit_many(requests_, owner="bench")
            done = queue.wait([j.id for j in jobs])
            queued = time.perf_counter() - start
            queue.shutdown()
            client.close()
        assert all(j.result is not None for j in done), [j.error for j in done]
    finally:
        server.shutdown()
        server.server_close()
    speedup = sequential / queued
    return [Figure(
        area="jobs", name=f"{TAKES} generations, job queue at concurrency {TAKES}",
        value=queued, unit="s", baseline_name="one after another",
        baseline_value=sequential, goal=">= 6x faster (ratio <= 0.167)",
        met=speedup >= 6,
    )]


if __name__ == "__main__":
    print(table(run()))
