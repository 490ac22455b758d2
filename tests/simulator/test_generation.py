"""Generating through the real `KlingClient`: the documented shape and a real video,
validation naming every invalid field, credits, and injected faults."""

from __future__ import annotations

import pytest
import requests

from kling.client import RetryPolicy
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
from kling.responses import error_from_response
from kling.settings import CREDITS_PATH

from .support import PROMPT, RATE_HEADERS, client_for, post, video_facts


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
