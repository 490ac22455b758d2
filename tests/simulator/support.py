"""What the simulator tests share: a prompt, a client for a simulator, a raw POST and a
look inside a video."""

from __future__ import annotations

import io
import json

import av
import requests

from kling.client import KlingClient, RetryPolicy
from kling.settings import MODEL_PATH
from kling.simulator.server import Simulator

PROMPT = "Waves crashing on a rocky shore at sunset, slow drone shot"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def client_for(simulator: Simulator, key: str = "demo", **kwargs) -> KlingClient:
    kwargs.setdefault("retry", RetryPolicy.none())
    return KlingClient(api_key=key, base_url=simulator.url, read_timeout=30, **kwargs)


def post(simulator: Simulator, body, *, key: str | None = "demo", path: str = MODEL_PATH,
         headers: dict | None = None) -> requests.Response:
    """A raw POST: `body` is JSON-encoded unless it is bytes."""
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(simulator.url + path, data=data, headers=sent, timeout=30)


def video_facts(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "frames": sum(1 for _ in container.demux(stream) if _.size),
            "duration": float(stream.duration * stream.time_base),
        }
