"""Who may call what: authentication, routing (404, 405 with `Allow`) and the per-key
rate window with its `X-RateLimit-*` headers on every response."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import requests

from kling.client import KlingClient, RetryPolicy
from kling.errors import AuthenticationError, NotFoundError, RateLimitError
from kling.settings import CREDITS_PATH, MODEL_PATH

from .support import PROMPT, RATE_HEADERS, client_for, post


# --- authentication ------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "secret-key"},
    {"Authorization": "Token secret-key"},
    {"Authorization": "bearer secret-key"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-key"},
])
def test_401_for_a_missing_malformed_or_wrong_key(make_sim, headers):
    simulator = make_sim(api_key="secret-key")
    response = post(simulator, {"prompt": PROMPT}, key=None, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "Invalid API key" and body["message"]
    assert all(name in response.headers for name in RATE_HEADERS)
    assert "secret-key" not in response.text


def test_client_with_wrong_key_raises_authentication_error(make_sim):
    simulator = make_sim(api_key="secret-key")
    with client_for(simulator, "wrong-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            client.generate(prompt=PROMPT, seed=1)
        assert caught.value.status == 401
        with pytest.raises(AuthenticationError):
            client.credits_balance()
    with client_for(simulator, "secret-key") as client:
        assert client.generate(prompt=PROMPT, seed=1).seed == 1


# --- routing -------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/kling/kling-2-0-master", "/api/v1/other/kling-2-1-master", "/api/v1/kling",
    "/api/v1/kling/kling-2-1-master/extra",
])
def test_404_model_not_found_for_unknown_model_paths(sim, path):
    response = post(sim, {"prompt": PROMPT}, path=path)
    assert response.status_code == 404
    assert response.json()["error"] == "Model not found"
    assert all(name in response.headers for name in RATE_HEADERS)


def test_client_pointed_at_a_wrong_base_url_raises_not_found(sim):
    with KlingClient(api_key="demo", base_url=sim.url + "/wrong",
                     retry=RetryPolicy.none()) as client:
        with pytest.raises(NotFoundError):
            client.generate(prompt=PROMPT, seed=1)


@pytest.mark.parametrize("method, path, allow", [
    ("GET", MODEL_PATH, "POST"), ("PUT", MODEL_PATH, "POST"), ("DELETE", MODEL_PATH, "POST"),
    ("HEAD", MODEL_PATH, "POST"), ("POST", CREDITS_PATH, "GET, HEAD"),
])
def test_405_with_allow_for_a_wrong_method(sim, method, path, allow):
    response = requests.request(method, sim.url + path, headers={"Authorization": "Bearer k"},
                                json={"prompt": PROMPT} if method != "HEAD" else None)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert response.json()["error"] == "Method not allowed"
    assert all(name in response.headers for name in RATE_HEADERS)


# --- rate limits ---------------------------------------------------------------------

def test_rate_limit_headers_count_down_then_429_with_reset_and_retry_after(make_sim):
    simulator = make_sim(rate_limit_per_minute=3)
    with client_for(simulator) as client:
        remaining = []
        for _ in range(3):
            client.credits_balance()
            remaining.append(client.last_rate_limit.remaining)
        assert remaining == [2, 1, 0]
        assert client.last_rate_limit.limit == 3
        assert client.last_rate_limit.reset > time.time()
        with pytest.raises(RateLimitError) as caught:
            client.generate(prompt=PROMPT, seed=1)
    assert 0 < caught.value.retry_after <= 60

    response = requests.get(simulator.url + CREDITS_PATH, headers={"Authorization": "Bearer demo"})
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "Rate limit exceeded"
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert body["message"] == f"Try again in {wait} seconds."
    reset_at = datetime.fromisoformat(body["resetAt"])
    assert abs(reset_at.timestamp() - int(response.headers["X-RateLimit-Reset"])) <= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"

    # The window is per key: another key is not limited.
    with client_for(simulator, "another-key") as other:
        assert other.credits_balance() == 1000.0


def test_rate_window_resets(make_sim):
    simulator = make_sim(rate_limit_per_minute=1, rate_window_s=0.5)
    with client_for(simulator) as client:
        client.credits_balance()
        with pytest.raises(RateLimitError):
            client.credits_balance()
        time.sleep(0.6)
        assert client.credits_balance() == 1000.0
        assert client.last_rate_limit.remaining == 0


def test_client_retry_policy_waits_out_a_429(make_sim):
    simulator = make_sim(rate_limit_per_minute=1, rate_window_s=0.4)
    with client_for(simulator, retry=RetryPolicy(max_attempts=3, max_total_wait=5)) as client:
        client.credits_balance()
        started = time.monotonic()
        assert client.credits_balance() == 1000.0
    assert time.monotonic() - started >= 0.2


def test_every_response_carries_rate_limit_headers(sim):
    with client_for(sim) as client:
        url = client.generate(prompt=PROMPT, seed=3).video.url
    auth = {"Authorization": "Bearer demo"}
    responses = [
        post(sim, {"prompt": PROMPT, "seed": 3}),
        post(sim, {"prompt": ""}),
        post(sim, {"prompt": PROMPT}, key=None),
        post(sim, {}, path="/api/v1/nope/nope"),
        requests.get(sim.url + MODEL_PATH, headers=auth),
        requests.get(sim.url + CREDITS_PATH, headers=auth),
        requests.head(sim.url + CREDITS_PATH, headers=auth),
        requests.get(url),
        requests.head(url),
        requests.get(url, headers={"Range": "bytes=0-9"}),
        requests.get(url, headers={"Range": "bytes=999999999-"}),
        requests.get(sim.url + "/videos/" + "0" * 32 + ".mp4"),
        requests.get(sim.url + "/"),
        requests.get(sim.url + "/api/generations", headers=auth),
    ]
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 206, 400, 401, 404, 405, 416]
    for response in responses:
        for name in RATE_HEADERS:
            assert response.headers[name].isdigit(), (response.url, response.status_code, name)


def test_video_downloads_do_not_use_up_the_quota(make_sim):
    simulator = make_sim(rate_limit_per_minute=2)
    with client_for(simulator) as client:
        url = client.generate(prompt=PROMPT, seed=3).video.url
        for _ in range(5):
            assert requests.get(url, headers={"Range": "bytes=0-1"}).status_code == 206
        assert client.credits_balance() == pytest.approx(1000 - 5 * 0.28)
