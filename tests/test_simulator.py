"""Contract tests: the real `KlingClient` against the built-in Firemoon simulator.

Every documented behaviour of the API (shape, auth, validation, rate limits, credits,
failures, videos with Range requests) is checked here, mostly through the client the
studio uses, and by raw HTTP where the client would never send such a request.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import av
import pytest
import requests

from kling.client import KlingClient, RetryPolicy, error_from_response
from kling.errors import (
    AccessDeniedError,
    AuthenticationError,
    GenerationFailedError,
    InsufficientCreditsError,
    InvalidRequestError,
    KlingError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from kling.settings import CREDITS_PATH, MODEL_PATH, Settings, SettingsError
from kling.simulator import (
    Simulator,
    SimulatorConfig,
    main_simulator,
    shared_simulator,
    video_name,
)

PROMPT = "Waves crashing on a rocky shore at sunset, slow drone shot"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(scope="module")
def video_cache(tmp_path_factory) -> Path:
    """One render cache for every simulator here, so each clip is rendered once."""
    return tmp_path_factory.mktemp("videos")


@pytest.fixture
def make_sim(video_cache) -> Iterator[Callable[..., Simulator]]:
    """Start simulators with config overrides (instant latency); all stopped afterwards."""
    started: list[Simulator] = []

    def make(**overrides) -> Simulator:
        overrides.setdefault("latency", (0.0, 0.0))
        overrides.setdefault("video_dir", video_cache)
        simulator = Simulator(SimulatorConfig(**overrides)).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim) -> Simulator:
    return make_sim()


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


# --- success -------------------------------------------------------------------------

@pytest.mark.parametrize("duration, aspect_ratio, size", [
    ("5", "16:9", (640, 360)),
    ("10", "9:16", (360, 640)),
])
def test_generate_returns_the_documented_shape_and_a_real_video(
        sim, duration, aspect_ratio, size):
    with client_for(sim) as client:
        result = client.generate(prompt=PROMPT, duration=duration,
                                 aspect_ratio=aspect_ratio, seed=1234)
    raw = result.raw
    assert set(raw) == {"videos", "seed", "timings"}
    assert set(raw["videos"][0]) == {"url", "duration", "width", "height", "content_type"}
    assert raw["videos"][0]["duration"] == int(duration)
    assert result.seed == 1234
    assert result.inference_s >= 0
    video = result.video
    assert video.url.startswith(sim.url + "/videos/") and video.url.endswith(".mp4")
    assert (video.width, video.height) == size
    assert video.content_type == "video/mp4"

    response = requests.get(video.url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert int(response.headers["Content-Length"]) == len(response.content)
    facts = video_facts(response.content)
    assert facts == {"codec": "h264", "pix_fmt": "yuv420p", "width": size[0],
                     "height": size[1], "frames": 24 * int(duration),
                     "duration": pytest.approx(int(duration))}


def test_seed_is_random_when_not_asked_and_reproducible_with_a_random_seed(make_sim):
    first = make_sim(random_seed=7)
    second = make_sim(random_seed=7)
    seeds = []
    for simulator in (first, second):
        with client_for(simulator) as client:
            seeds.append(client.generate(prompt=PROMPT).seed)
    assert seeds[0] == seeds[1]
    assert 0 <= seeds[0] <= 2**32 - 1


def urls_path(url: str) -> str:
    return url.split("/videos/", 1)[1]


def test_same_inputs_same_video_other_seed_other_video(sim):
    with client_for(sim) as client:
        a = client.generate(prompt=PROMPT, seed=5)
        b = client.generate(prompt=PROMPT, seed=5)
        c = client.generate(prompt=PROMPT, seed=6)
    assert urls_path(a.video.url) == urls_path(b.video.url)
    assert urls_path(a.video.url) != urls_path(c.video.url)
    assert requests.get(a.video.url).content != requests.get(c.video.url).content


def test_any_bearer_token_is_accepted_without_a_configured_key(sim):
    for key in ("demo", "anything-at-all"):
        with client_for(sim, key) as client:
            assert client.credits_balance() == 1000.0


def test_seed_may_be_an_integral_json_number_or_null(sim):
    assert post(sim, {"prompt": PROMPT, "seed": 1234.0}).json()["seed"] == 1234
    assert isinstance(post(sim, {"prompt": PROMPT, "seed": None}).json()["seed"], int)


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


# --- validation ----------------------------------------------------------------------

def test_400_names_every_invalid_field_and_the_client_reads_it(sim):
    response = post(sim, {"duration": 5, "aspect_ratio": "1:1", "seed": 1.5})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid input"
    errors = body["errors"]
    assert len(errors) == 4
    for field in ("prompt", "duration", "aspect_ratio", "seed"):
        assert any(field in error for error in errors), (field, errors)
    assert "Missing required field: prompt" in errors

    err = error_from_response(response.status_code, response.content, response.headers)
    assert isinstance(err, InvalidRequestError)
    assert err.errors == errors
    assert all(name in response.headers for name in RATE_HEADERS)


@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": "x" * 2501}, "prompt"),
    ({"prompt": PROMPT, "duration": "7"}, "duration"),
    ({"prompt": PROMPT, "duration": 10}, "duration"),
    ({"prompt": PROMPT, "aspect_ratio": "1:1"}, "aspect_ratio"),
    ({"prompt": PROMPT, "seed": "42"}, "seed"),
    ({"prompt": PROMPT, "seed": -1}, "seed"),
    ({"prompt": PROMPT, "seed": 2**32}, "seed"),
    ({"prompt": PROMPT, "seed": True}, "seed"),
])
def test_400_for_each_invalid_field(sim, body, field):
    response = post(sim, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors) == 1 and field in errors[0]


@pytest.mark.parametrize("raw, problem", [
    (b"not json", "valid JSON"), (b"", "valid JSON"), (b"[1, 2]", "JSON object"),
    (b'"prompt"', "JSON object"), (b"\xff\xfe", "valid JSON"), (b"[" * 100_000, "valid JSON"),
])
def test_400_for_a_body_that_is_not_a_json_object(sim, raw, problem):
    response = post(sim, raw)
    assert response.status_code == 400
    assert problem in response.json()["errors"][0]


def test_oversized_body_is_refused_and_the_connection_closed(sim):
    response = post(sim, b"x" * (2 << 20))
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


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


# --- credits -------------------------------------------------------------------------

def test_balance_drops_by_the_price_of_each_generated_second(make_sim):
    simulator = make_sim(starting_balance=50.0, price_per_second=0.5)
    with client_for(simulator) as client:
        assert client.credits_balance() == 50.0
        client.generate(prompt=PROMPT, duration="5", seed=1)
        assert client.credits_balance() == pytest.approx(47.5)
        client.generate(prompt=PROMPT, duration="10", seed=1)
        assert client.credits_balance() == pytest.approx(42.5)
    response = requests.get(simulator.url + CREDITS_PATH, headers={"Authorization": "Bearer x"})
    assert response.json() == {"balance": 42.5, "currency": "USD"}


def test_402_when_a_generation_would_exceed_the_balance(make_sim):
    simulator = make_sim(starting_balance=2.0)  # 5 s costs 1.40, 10 s costs 2.80
    with client_for(simulator) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            client.generate(prompt=PROMPT, duration="10", seed=1)
        assert caught.value.status == 402
        assert caught.value.error == "Insufficient credits"
        assert client.credits_balance() == 2.0
        client.generate(prompt=PROMPT, duration="5", seed=1)
        assert client.credits_balance() == pytest.approx(0.6)
        with pytest.raises(InsufficientCreditsError):
            client.generate(prompt=PROMPT, duration="5", seed=1)


# --- fault injection -----------------------------------------------------------------

def test_fail_first_fails_then_a_retry_works_and_failures_are_not_billed(make_sim):
    simulator = make_sim(fail_first=1)
    with client_for(simulator, retry=RetryPolicy()) as client:
        with pytest.raises(GenerationFailedError) as caught:
            client.generate(prompt=PROMPT, seed=1)
        assert caught.value.status == 500
        assert caught.value.error == "Generation failed"
        assert client.credits_balance() == 1000.0
        assert client.generate(prompt=PROMPT, seed=1).seed == 1
        assert client.credits_balance() == pytest.approx(1000 - 1.4)


def test_failure_rate_one_always_fails(make_sim):
    simulator = make_sim(failure_rate=1.0)
    with client_for(simulator) as client:
        for _ in range(3):
            with pytest.raises(GenerationFailedError):
                client.generate(prompt=PROMPT, seed=1)


def test_failure_rate_fails_about_that_fraction_reproducibly(make_sim):
    outcomes = []
    for _ in range(2):
        simulator = make_sim(failure_rate=0.5, random_seed=3, starting_balance=10**6)
        statuses = [post(simulator, {"prompt": PROMPT, "seed": 9}).status_code
                    for _ in range(30)]
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}
    assert 5 <= outcomes[0].count(500) <= 25


@pytest.mark.parametrize("status, error_class, error", [
    (400, InvalidRequestError, "Invalid input"),
    (401, AuthenticationError, "Invalid API key"),
    (402, InsufficientCreditsError, "Insufficient credits"),
    (403, AccessDeniedError, "Access denied"),
    (404, NotFoundError, "Model not found"),
    (429, RateLimitError, "Rate limit exceeded"),
    (500, GenerationFailedError, "Generation failed"),
    (503, ServerError, "Service Unavailable"),
])
def test_force_status_answers_every_request_with_the_documented_body(
        make_sim, status, error_class, error):
    simulator = make_sim(force_status=status)
    with client_for(simulator) as client:
        with pytest.raises(error_class) as caught:
            client.generate(prompt=PROMPT, seed=1)
        assert caught.value.status == status
        assert caught.value.error == error
        with pytest.raises(KlingError):
            client.credits_balance()
    response = post(simulator, {"prompt": PROMPT})
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["message"]
    assert all(name in response.headers for name in RATE_HEADERS)
    if status == 400:
        assert body["errors"]
    if status == 403:
        assert body["message"] == "Your API key does not have access to provider: kling"
    if status == 429:
        assert "resetAt" in body and int(response.headers["Retry-After"]) >= 1


# --- videos --------------------------------------------------------------------------

@pytest.fixture
def video(sim) -> tuple[str, bytes]:
    with client_for(sim) as client:
        url = client.generate(prompt=PROMPT, seed=11).video.url
    return url, requests.get(url).content


@pytest.mark.parametrize("spec, first, last", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None),
    ("bytes=10-10", 10, 10), ("bytes=0-999999999", 0, None),
])
def test_range_requests_get_206_with_the_right_bytes(video, spec, first, last):
    url, data = video
    response = requests.get(url, headers={"Range": spec})
    assert response.status_code == 206
    expected = data[first:None if last is None else last + 1]
    assert response.content == expected
    start = first if first >= 0 else len(data) + first
    end = start + len(expected) - 1
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert int(response.headers["Content-Length"]) == len(expected)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("spec", ["bytes={size}-", "bytes={size}-{big}", "bytes=-0"])
def test_unsatisfiable_range_gets_416(video, spec):
    url, data = video
    response = requests.get(url, headers={"Range": spec.format(size=len(data),
                                                                big=len(data) + 10)})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-9", "items=0-1", "bytes=9-2", "bytes=x-"])
def test_unusable_range_header_gets_the_whole_video(video, spec):
    url, data = video
    response = requests.get(url, headers={"Range": spec})
    assert response.status_code == 200 and response.content == data


def test_head_gives_the_headers_without_a_body(video):
    url, data = video
    response = requests.head(url)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["Content-Length"]) == len(data)
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("path", [
    "/videos/../kling/simulator.py", "/videos/%2e%2e/%2e%2e/etc/passwd",
    "/videos/..%2f..%2fetc%2fpasswd", "/videos/" + "A" * 32 + ".mp4",
    "/videos/" + "0" * 32 + ".mp4", "/videos/", "/videos/x.mp4",
])
def test_only_simulator_made_video_names_are_served(sim, path):
    # Sent verbatim: requests would normalise the dots away.
    connection = http.client.HTTPConnection(*sim.url[len("http://"):].split(":"))
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 404
    assert b"root:" not in response.read()
    connection.close()


def test_partial_render_files_are_never_served(sim, video):
    url, _ = video
    name = url.rsplit("/", 1)[1][:-4]
    stray = sim.video_dir / f".{name}-abc.part"
    stray.write_bytes(b"half")
    try:
        assert requests.get(f"{sim.url}/videos/{stray.name}").status_code == 404
    finally:
        stray.unlink()


# --- concurrency and latency ---------------------------------------------------------

def test_eight_requests_at_once_all_succeed_with_their_own_videos(make_sim, tmp_path):
    simulator = make_sim(video_dir=tmp_path)  # empty cache: all eight really render
    with client_for(simulator) as client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.generate, prompt=PROMPT, seed=1000 + i)
                   for i in range(8)]
        # The server keeps answering other requests while it renders: the balance comes
        # back (already charged for some of the eight) before the videos are all made.
        time.sleep(0.1)
        assert client.credits_balance() == pytest.approx(1000.0, abs=12)
        assert not all(future.done() for future in futures)
        results = [future.result() for future in futures]
    assert [r.seed for r in results] == [1000 + i for i in range(8)]
    urls = {r.video.url for r in results}
    assert len(urls) == 8
    blobs = {requests.get(url).content for url in urls}
    assert len(blobs) == 8
    for blob in blobs:
        assert video_facts(blob)["frames"] == 120
    assert not list(tmp_path.glob("*.part"))


def test_identical_concurrent_requests_share_one_intact_video(make_sim, tmp_path):
    simulator = make_sim(video_dir=tmp_path)
    with client_for(simulator) as client, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.generate(prompt=PROMPT, seed=77), range(4)))
    assert len({r.video.url for r in results}) == 1
    assert video_facts(requests.get(results[0].video.url).content)["frames"] == 120
    assert [p.name for p in tmp_path.iterdir()] == [
        video_name(PROMPT, 77, "5", "16:9") + ".mp4"]


def test_ten_second_videos_take_about_twice_as_long(make_sim):
    simulator = make_sim(latency=(0.3, 0.3))
    with client_for(simulator) as client:
        client.generate(prompt=PROMPT, duration="10", seed=21)  # render outside the timing
        timings = {}
        for duration in ("5", "10"):
            started = time.monotonic()
            result = client.generate(prompt=PROMPT, duration=duration, seed=21)
            timings[duration] = (time.monotonic() - started, result.inference_s)
    assert timings["5"][0] >= 0.3 and timings["5"][1] >= 0.3
    assert timings["10"][0] >= 0.6 and timings["10"][1] >= 0.6
    assert timings["10"][1] <= timings["10"][0]


# --- HTTP plumbing -------------------------------------------------------------------

def test_keep_alive_connection_survives_errors_with_bodies(sim):
    host, port = sim.url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", MODEL_PATH, body=b'{"prompt": "x"}',
                           headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 401
        first.read()
        connection.request("POST", MODEL_PATH, body=b'{"prompt": ""}',
                           headers={"Authorization": "Bearer k"})
        second = connection.getresponse()
        assert second.status == 400
        second.read()
        connection.request("GET", CREDITS_PATH, headers={"Authorization": "Bearer k"})
        third = connection.getresponse()
        assert third.status == 200 and json.loads(third.read())["balance"] == 1000.0
        assert third.getheader("Connection") != "close"
    finally:
        connection.close()


def test_chunked_request_bodies_are_read(sim):
    host, port = sim.url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", MODEL_PATH, body=iter([b'{"prompt": ', b'""}']),
                           headers={"Authorization": "Bearer k"}, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 400
        assert "prompt" in json.loads(response.read())["errors"][0]
    finally:
        connection.close()


def test_authorization_is_never_logged(make_sim, caplog):
    simulator = make_sim(api_key="top-secret-key")
    with caplog.at_level(logging.DEBUG, logger="kling.simulator"):
        post(simulator, {"prompt": PROMPT, "seed": 1}, key="top-secret-key")
        post(simulator, {"prompt": PROMPT}, key="other-secret-key")
    assert "POST /api/v1/kling/kling-2-1-master" in caplog.text
    assert "secret" not in caplog.text


def test_stop_closes_idle_connections_and_the_socket():
    simulator = Simulator(SimulatorConfig(latency=(0, 0))).start()
    session = requests.Session()
    assert session.get(simulator.url + CREDITS_PATH,
                       headers={"Authorization": "Bearer k"}).status_code == 200
    video_dir = simulator.video_dir
    assert video_dir.is_dir()
    started = time.monotonic()
    simulator.stop()
    simulator.stop()
    assert time.monotonic() - started < 2
    assert not video_dir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(simulator.url + CREDITS_PATH, timeout=2)
    session.close()
    with pytest.raises(RuntimeError):
        simulator.start()


def test_context_manager_and_foreground_serving():
    with Simulator(SimulatorConfig(latency=(0, 0))) as simulator:
        assert requests.get(simulator.url + CREDITS_PATH,
                            headers={"Authorization": "Bearer k"}).ok
    foreground = Simulator(SimulatorConfig(latency=(0, 0)))
    thread = threading.Thread(target=foreground.serve_forever)
    thread.start()
    assert requests.get(foreground.url + CREDITS_PATH,
                        headers={"Authorization": "Bearer k"}).ok
    foreground.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_shared_simulator_is_one_instance_per_configuration():
    first = shared_simulator(SimulatorConfig(latency=(0.0, 0.0)))
    assert shared_simulator(SimulatorConfig(latency=(0.0, 0.0))) is first
    other = shared_simulator(SimulatorConfig(latency=(0.5, 0.5)))
    assert other is not first and other.config.latency == (0.5, 0.5)
    with KlingClient(api_key="demo", base_url=first.url) as client:
        assert client.credits_balance() is not None


def test_main_simulator_reports_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main_simulator("127.0.0.1", busy.getsockname()[1], SimulatorConfig()) == 1
    assert "Cannot listen" in capsys.readouterr().err


# --- configuration -------------------------------------------------------------------

def test_config_from_env_reads_every_variable(tmp_path):
    config = SimulatorConfig.from_env({
        "KLING_SIM_LATENCY": "1-2", "KLING_PRICE_PER_SECOND": "0.5",
        "KLING_SIM_RATE_LIMIT": "10", "KLING_SIM_BALANCE": "25",
        "KLING_SIM_FAILURE_RATE": "0.25", "KLING_SIM_FAIL_FIRST": "2",
        "KLING_SIM_FORCE_STATUS": "503", "KLING_SIM_API_KEY": "k",
        "KLING_SIM_VIDEO_DIR": str(tmp_path),
    })
    assert config == SimulatorConfig(
        api_key="k", latency=(1.0, 2.0), rate_limit_per_minute=10, starting_balance=25.0,
        price_per_second=0.5, failure_rate=0.25, fail_first=2, force_status=503,
        video_dir=tmp_path)
    assert "'k'" not in repr(config)
    assert SimulatorConfig.from_env({}) == SimulatorConfig()


def test_config_from_settings_uses_their_latency_and_price():
    settings = Settings(sim_latency=(0.5, 0.5), price_per_second=1.0)
    config = SimulatorConfig.from_env({"KLING_SIM_LATENCY": "9"}, settings=settings)
    assert (config.latency, config.price_per_second) == ((0.5, 0.5), 1.0)


@pytest.mark.parametrize("name, value", [
    ("KLING_SIM_LATENCY", "fast"), ("KLING_SIM_LATENCY", "6-3"),
    ("KLING_PRICE_PER_SECOND", "-1"), ("KLING_SIM_RATE_LIMIT", "0"),
    ("KLING_SIM_RATE_LIMIT", "ten"), ("KLING_SIM_BALANCE", "lots"),
    ("KLING_SIM_FAILURE_RATE", "1.5"), ("KLING_SIM_FAILURE_RATE", "nan"),
    ("KLING_SIM_FAIL_FIRST", "-1"), ("KLING_SIM_FORCE_STATUS", "200"),
    ("KLING_SIM_FORCE_STATUS", "oops"),
])
def test_config_from_env_names_the_bad_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        SimulatorConfig.from_env({name: value})
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("overrides", [
    {"latency": (2.0, 1.0)}, {"rate_limit_per_minute": 0}, {"failure_rate": -0.1},
    {"fail_first": -1}, {"force_status": 302}, {"starting_balance": -5},
])
def test_config_refuses_impossible_values(overrides):
    with pytest.raises(ValueError):
        SimulatorConfig(**overrides)
