"""What the client tests share: the test key, a sleep that only records, clients that are
closed after each test, and addresses and headers of a scripted answer."""

from __future__ import annotations

import time

from kling.client import KlingClient
from kling.retry import RetryPolicy
from scripted_server import ScriptedServer, closed_port

KEY = "fm_live_Q7zX-distinctive-SECRET-3141"


class Sleeps:
    """An injectable sleep that records what it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


_open_clients: list[KlingClient] = []


def kept(client: KlingClient) -> KlingClient:
    """`client`, closed by `close_kept` when the test ends."""
    _open_clients.append(client)
    return client


def close_kept() -> None:
    while _open_clients:
        _open_clients.pop().close()


def make_client(server: ScriptedServer | str, retry: RetryPolicy | None = None,
                **kwargs) -> KlingClient:
    """A client with the test key; retries sleep nowhere unless a policy says otherwise."""
    base_url = server if isinstance(server, str) else server.url
    return kept(KlingClient(api_key=KEY, base_url=base_url,
                            retry=retry or RetryPolicy(sleep=Sleeps()), **kwargs))


def refused_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def rate_headers(remaining: int = 9, reset: float | None = None) -> dict[str, str]:
    return {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset if reset is not None else time.time() + 60))}
