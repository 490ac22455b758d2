"""KlingClient against a real loopback server: statuses, retries, timeouts, secrecy."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from kling import KlingClient
from kling.client import RetryPolicy, error_from_response, retry_after_seconds
from kling.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConnectionFailedError,
    GenerationFailedError,
    InsufficientCreditsError,
    InvalidRequestError,
    KlingError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
)
from kling.models import GenerationRequest, RateLimit
from kling.settings import CREDITS_PATH, MODEL_PATH
from scripted_server import Reply, ScriptedServer, closed_port, success_body

KEY = "fm_live_Q7zX-distinctive-SECRET-3141"


class Sleeps:
    """An injectable sleep that records what it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


_open_clients: list[KlingClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open_clients:
        _open_clients.pop().close()


def make_client(server: ScriptedServer | str, retry: RetryPolicy | None = None,
                **kwargs) -> KlingClient:
    """A client with the test key; retries sleep nowhere unless a policy says otherwise."""
    base_url = server if isinstance(server, str) else server.url
    client = KlingClient(api_key=KEY, base_url=base_url,
                         retry=retry or RetryPolicy(sleep=Sleeps()), **kwargs)
    _open_clients.append(client)
    return client


def refused_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def rate_headers(remaining: int = 9, reset: float | None = None) -> dict[str, str]:
    return {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset if reset is not None else time.time() + 60))}


# ---------------------------------------------------------------------------- success


def test_generate_sends_the_documented_request_and_parses_the_answer(server):
    server.script(Reply.ok(seed=7))
    with make_client(server) as client:
        result = client.generate(prompt="  waves crashing, drone shot ", duration=10,
                                 aspect_ratio="9:16", seed=7)
    assert result.seed == 7 and result.inference_s == 12.5
    assert result.videos[0].url == "https://blob.example.com/video.mp4"
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", MODEL_PATH)
    assert sent.header("Authorization") == f"Bearer {KEY}"
    assert sent.header("Content-Type") == "application/json"
    assert sent.json() == {"prompt": "waves crashing, drone shot", "duration": "10",
                           "aspect_ratio": "9:16", "seed": 7}


def test_defaults_send_duration_as_a_string_and_no_seed(server):
    server.script(Reply.ok())
    with make_client(server) as client:
        client.generate(prompt="a cat")
    assert server.requests[0].json() == {"prompt": "a cat", "duration": "5",
                                         "aspect_ratio": "16:9"}


def test_a_ready_request_can_be_passed(server):
    server.script(Reply.ok(seed=3))
    with make_client(server) as client:
        client.generate(request=GenerationRequest.create("a dog", "5", "16:9", 3))
        with pytest.raises(TypeError):
            client.generate("a dog", request=GenerationRequest.create("a dog"))
    assert server.requests[0].json()["seed"] == 3


def test_a_hand_built_invalid_request_is_still_refused(server):
    with make_client(server) as client, pytest.raises(InvalidRequestError):
        client.generate(request=GenerationRequest(prompt="x", duration="7"))
    assert server.requests == []


def test_validation_reports_every_field_and_sends_nothing(server):
    with make_client(server) as client, pytest.raises(InvalidRequestError) as info:
        client.generate(prompt="  ", duration="7", aspect_ratio="4:3", seed=-1)
    assert set(info.value.field_errors) == {"prompt", "duration", "aspect_ratio", "seed"}
    assert server.requests == []


def test_connections_are_pooled(server):
    server.script(*(Reply.ok() for _ in range(3)))
    with make_client(server) as client:
        for _ in range(3):
            client.generate(prompt="a cat")
    assert len({r.client_port for r in server.requests}) == 1


def test_a_pooled_connection_the_server_hung_up_is_replaced_not_doubted(server):
    server.script(Reply.ok(), Reply.ok())
    client = make_client(server)
    client.generate(prompt="a cat")
    server.disconnect_all()
    client.generate(prompt="a cat")
    assert server.post_count == 2
    assert len({r.client_port for r in server.requests}) == 2


def test_last_rate_limit_reflects_the_latest_response(server):
    server.script(Reply(200, success_body(), headers=rate_headers(4, 1_900_000_000)),
                  Reply.error(402, "Insufficient credits", "Balance too low",
                              headers=rate_headers(3, 1_900_000_000)))
    with make_client(server) as client:
        assert client.last_rate_limit is None
        client.generate(prompt="a cat")
        assert client.last_rate_limit == RateLimit(10, 4, 1_900_000_000.0)
        with pytest.raises(InsufficientCreditsError):
            client.generate(prompt="a cat")
        assert client.last_rate_limit == RateLimit(10, 3, 1_900_000_000.0)


def test_concurrent_calls_share_one_client(server):
    server.default = lambda req: Reply(200, success_body(seed=req.json()["seed"]),
                                       headers=rate_headers())
    results: dict[int, int] = {}
    with make_client(server) as client:
        def call(seed: int) -> None:
            results[seed] = client.generate(prompt="a cat", seed=seed).seed

        threads = [threading.Thread(target=call, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == {s: s for s in range(8)}
        assert client.last_rate_limit is not None


# ---------------------------------------------------------------------------- statuses


ERROR_CASES = [
    (Reply(400, {"error": "Invalid input", "message": "Validation failed",
                 "errors": ["Missing required field: prompt", "duration must be 5 or 10"]}),
     InvalidRequestError, 400),
    (Reply.error(401, "Invalid API key", "Missing or invalid API key"), AuthenticationError, 401),
    (Reply.error(402, "Insufficient credits", "Your balance is too low",
                 details={"balance": 0.1, "required": 1.4}), InsufficientCreditsError, 402),
    (Reply.error(403, "Access denied", "Your API key does not have access to provider: kling"),
     AccessDeniedError, 403),
    (Reply.error(404, "Model not found", "No such model"), NotFoundError, 404),
    (Reply.error(500, "Generation failed", "Inference timeout"), GenerationFailedError, 500),
    (Reply(502, "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
           headers={"Content-Type": "text/html"}), ServerError, 502),
    (Reply(418, b"short and stout"), KlingError, 418),
]


@pytest.mark.parametrize("reply,cls,status", ERROR_CASES,
                         ids=[str(case[2]) for case in ERROR_CASES])
def test_each_status_becomes_its_error_after_one_post(server, reply, cls, status):
    server.script(reply)
    with make_client(server) as client, pytest.raises(KlingError) as info:
        client.generate(prompt="a cat")
    err = info.value
    assert type(err) is cls and err.status == status
    assert server.post_count == 1
    assert err.hint and str(err).endswith(err.hint)
    if isinstance(reply.body, dict):
        assert err.error == reply.body["error"]
        assert err.api_message == reply.body["message"]
        assert err.details == reply.body.get("details")


def test_400_carries_the_api_errors_list(server):
    server.script(ERROR_CASES[0][0])
    with make_client(server) as client, pytest.raises(InvalidRequestError) as info:
        client.generate(prompt="a cat")
    assert info.value.errors == ["Missing required field: prompt", "duration must be 5 or 10"]
    assert "Missing required field: prompt" in str(info.value)


def test_402_says_to_add_credits(server):
    server.script(Reply.error(402, "Insufficient credits", "Balance too low"))
    with make_client(server) as client, pytest.raises(InsufficientCreditsError) as info:
        client.generate(prompt="a cat")
    assert "credits" in str(info.value).lower()


def test_502_html_is_a_clear_server_error_that_does_not_quote_the_page(server):
    server.script(ERROR_CASES[6][0])
    with make_client(server) as client, pytest.raises(ServerError) as info:
        client.generate(prompt="a cat")
    assert "502" in str(info.value) and "<html>" not in str(info.value)


def test_redirects_are_not_followed(server):
    server.script(Reply(301, b"", headers={"Location": "https://elsewhere.example/"}))
    with make_client(server) as client, pytest.raises(KlingError) as info:
        client.generate(prompt="a cat")
    assert info.value.status == 301 and "FIREMOON_BASE_URL" in str(info.value)
    assert server.count() == 1


# ---------------------------------------------------------------------------- retries


def test_429_then_success_waits_as_retry_after_says(server):
    server.script(Reply.error(429, "Rate limit exceeded", "Try again in 1 seconds.",
                              headers={"Retry-After": "0.4"}),
                  Reply.ok())
    client = make_client(server, RetryPolicy())
    start = time.monotonic()
    client.generate(prompt="a cat")
    assert time.monotonic() - start >= 0.4
    assert server.post_count == 2


def test_reset_at_in_the_body_is_honoured(server):
    reset_at = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    server.script(Reply.error(429, "Rate limit exceeded", "Slow down.",
                              resetAt=reset_at.isoformat()),
                  Reply.ok())
    client = make_client(server, RetryPolicy())
    client.generate(prompt="a cat")
    assert datetime.now(timezone.utc) >= reset_at
    assert server.post_count == 2


def test_x_ratelimit_reset_is_honoured(server):
    reset = f"{time.time() + 0.5:.3f}"
    server.script(Reply.error(429, "Rate limit exceeded", "Slow down.",
                              headers={"X-RateLimit-Reset": reset}),
                  Reply.ok())
    client = make_client(server, RetryPolicy())
    client.generate(prompt="a cat")
    assert time.time() >= float(reset)
    assert server.post_count == 2


def test_503_then_success(server, sleeps):
    server.script(Reply(503, b"maintenance", headers={"Retry-After": "2"}), Reply.ok())
    make_client(server, RetryPolicy(sleep=sleeps)).generate(prompt="a cat")
    assert sleeps.waits == [2.0] and server.post_count == 2


def test_without_a_stated_wait_backoff_is_exponential_capped_and_jittered(server, sleeps):
    server.script(*(Reply(503) for _ in range(5)))
    policy = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_cap=3.0, sleep=sleeps)
    with pytest.raises(ServerError) as info:
        make_client(server, policy).generate(prompt="a cat")
    assert info.value.status == 503 and server.post_count == 5
    ceilings = [1.0, 2.0, 3.0, 3.0]
    assert len(sleeps.waits) == 4
    assert all(0.75 * c <= w <= c for w, c in zip(sleeps.waits, ceilings))


def test_rate_limit_retries_stop_at_max_attempts(server, sleeps):
    server.script(*(Reply.error(429, "Rate limit exceeded", "Try again in 1 seconds.",
                                headers={"Retry-After": "1"}) for _ in range(3)))
    with pytest.raises(RateLimitError) as info:
        make_client(server, RetryPolicy(max_attempts=3, sleep=sleeps)).generate(prompt="a cat")
    assert server.post_count == 3 and sleeps.waits == [1.0, 1.0]
    assert info.value.retry_after == 1.0
    assert "Try again in 1 seconds." in str(info.value)


def test_a_wait_beyond_the_budget_is_raised_at_once(server, sleeps):
    server.script(Reply.error(429, "Rate limit exceeded", "Try again in 45 seconds.",
                              headers={"Retry-After": "45"}))
    policy = RetryPolicy(max_total_wait=10, sleep=sleeps)
    with pytest.raises(RateLimitError) as info:
        make_client(server, policy).generate(prompt="a cat")
    assert info.value.retry_after == 45.0 and sleeps.waits == []
    assert server.post_count == 1
    assert "Try again in 45 seconds." in str(info.value)


def test_total_wait_is_bounded(server, sleeps):
    server.script(*(Reply(503, headers={"Retry-After": "4"}) for _ in range(10)))
    policy = RetryPolicy(max_attempts=10, max_total_wait=10, sleep=sleeps)
    with pytest.raises(ServerError):
        make_client(server, policy).generate(prompt="a cat")
    assert sleeps.waits == [4.0, 4.0] and server.post_count == 3


@pytest.mark.parametrize("options", [{"max_attempts": 1}, {"retry_rate_limits": False}],
                         ids=["one-attempt", "no-rate-limit-retries"])
def test_rate_limit_retries_can_be_disabled(server, sleeps, options):
    server.script(Reply.error(429, "Rate limit exceeded", "Try again in 2 seconds.",
                              headers={"Retry-After": "2"}))
    with pytest.raises(RateLimitError) as info:
        make_client(server, RetryPolicy(sleep=sleeps, **options)).generate(prompt="a cat")
    assert info.value.retry_after == 2.0 and server.post_count == 1 and sleeps.waits == []


def test_policy_none_sends_once_whatever_fails(server):
    server.script(Reply(503), Reply.ok())
    with pytest.raises(ServerError):
        make_client(server, RetryPolicy.none()).generate(prompt="a cat")
    assert server.post_count == 1


def test_without_rate_limit_retries_503_is_still_retried(server, sleeps):
    server.script(Reply(503), Reply.ok())
    make_client(server, RetryPolicy(retry_rate_limits=False, sleep=sleeps)).generate(
        prompt="a cat")
    assert server.post_count == 2 and len(sleeps.waits) == 1


def test_connection_refused_is_retried_then_reported(sleeps):
    client = make_client(refused_url(), RetryPolicy(max_attempts=3, sleep=sleeps))
    with pytest.raises(ConnectionFailedError) as info:
        client.generate(prompt="a cat")
    assert len(sleeps.waits) == 2
    assert "3 attempts" in str(info.value) and "refused" in str(info.value)


def test_connection_refused_waits_really_back_off():
    client = make_client(refused_url(), RetryPolicy(max_attempts=2, backoff_base=0.3))
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError):
        client.generate(prompt="a cat")
    assert time.monotonic() - start >= 0.75 * 0.3


# ----------------------------------------------------------- never send a POST twice


def test_read_timeout_is_outcome_unknown_after_one_post(server, sleeps):
    server.script(Reply(delay=3.0), Reply.ok())
    client = make_client(server, RetryPolicy(sleep=sleeps), read_timeout=0.3)
    with pytest.raises(OutcomeUnknownError) as info:
        client.generate(prompt="a cat")
    assert info.value.outcome_unknown and server.post_count == 1 and sleeps.waits == []


def test_500_is_not_resent(server, sleeps):
    server.script(Reply.error(500, "Generation failed", "Provider unavailable"), Reply.ok())
    with pytest.raises(GenerationFailedError):
        make_client(server, RetryPolicy(sleep=sleeps)).generate(prompt="a cat")
    assert server.post_count == 1 and sleeps.waits == []


def test_connection_dropped_after_sending_is_outcome_unknown(server, sleeps):
    server.script(Reply(drop=True), Reply.ok())
    with pytest.raises(OutcomeUnknownError):
        make_client(server, RetryPolicy(sleep=sleeps)).generate(prompt="a cat")
    assert server.post_count == 1 and sleeps.waits == []


def test_answer_cut_short_is_outcome_unknown(server):
    server.script(Reply(200, success_body(), content_length=10_000), Reply.ok())
    with pytest.raises(OutcomeUnknownError):
        make_client(server).generate(prompt="a cat")
    assert server.post_count == 1


def test_a_slow_but_steady_answer_is_read(server):
    # The read timeout bounds the silence between bytes, not the whole answer.
    server.script(Reply(200, success_body(), trickle=0.05, chunk_size=40))
    result = make_client(server, read_timeout=0.3).generate(prompt="a cat")
    assert result.seed == 42


def test_an_answer_that_stalls_midway_is_outcome_unknown(server):
    server.script(Reply(200, success_body(), trickle=0.6, chunk_size=100))
    with pytest.raises(OutcomeUnknownError):
        make_client(server, read_timeout=0.3).generate(prompt="a cat")
    assert server.post_count == 1


# ---------------------------------------------------------------------- malformed 200


MALFORMED = {
    "bad-json": Reply(200, b'{"videos": [', headers={"Content-Type": "application/json"}),
    "not-json": Reply(200, "<html>hello</html>", headers={"Content-Type": "text/html"}),
    "empty": Reply(200, b""),
    "no-videos": Reply(200, {"seed": 1, "timings": {"inference": 1.0}}),
    "empty-videos": Reply(200, {**success_body(), "videos": []}),
    "javascript-url": Reply.ok(url="javascript:alert(1)"),
    "width-as-text": Reply(200, {**success_body(), "videos": [
        {**success_body()["videos"][0], "width": "1920"}]}),
    "seed-as-text": Reply(200, {**success_body(), "seed": "42"}),
    "no-timings": Reply(200, {k: v for k, v in success_body().items() if k != "timings"}),
    "a-list": Reply(200, [success_body()]),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_200_not_in_the_documented_shape_is_malformed(server, name):
    server.script(MALFORMED[name])
    with pytest.raises(MalformedResponseError) as info:
        make_client(server).generate(prompt="a cat")
    assert info.value.status == 200 and server.post_count == 1


def test_malformed_message_says_what_was_wrong(server):
    server.script(MALFORMED["javascript-url"], MALFORMED["not-json"])
    client = make_client(server)
    with pytest.raises(MalformedResponseError, match="javascript:alert"):
        client.generate(prompt="a cat")
    with pytest.raises(MalformedResponseError, match="not JSON"):
        client.generate(prompt="a cat")


# ---------------------------------------------------------------------- credits


@pytest.mark.parametrize("body,expected", [
    ({"balance": 12.5}, 12.5), ({"credits": 3}, 3.0), ({"remaining": "7.25"}, 7.25),
    ({"something": 1}, None), ([1, 2], None), ("not json", None),
])
def test_credits_balance_shapes(server, body, expected):
    server.script(Reply(200, body))
    assert make_client(server).credits_balance() == expected
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("GET", CREDITS_PATH)
    assert sent.header("Authorization") == f"Bearer {KEY}"


def test_credits_balance_errors_map_like_generate(server):
    server.script(Reply.error(401, "Invalid API key", "Expired key"))
    with pytest.raises(AuthenticationError):
        make_client(server).credits_balance()


# ---------------------------------------------------------------------- mapping


def test_retry_after_http_date():
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    wait = retry_after_seconds({"Retry-After": format_datetime(later, usegmt=True)})
    assert 28 <= wait <= 31


def test_retry_after_sources_in_order():
    now = 1_800_000_000.0
    reset_at = datetime.fromtimestamp(now + 20, timezone.utc).isoformat()
    headers = {"Retry-After": "5", "X-RateLimit-Reset": str(int(now + 40))}
    assert retry_after_seconds(headers, {"resetAt": reset_at}, now=now) == 5
    del headers["Retry-After"]
    assert retry_after_seconds(headers, {"resetAt": reset_at}, now=now) == pytest.approx(20)
    assert retry_after_seconds(headers, {}, now=now) == pytest.approx(40)
    assert retry_after_seconds(headers, None, now=now) is None  # not a 429: header only
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now - 5))}, {}, now=now) is None


def test_server_date_corrects_a_wrong_local_clock():
    server_now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    headers = {"Date": format_datetime(server_now, usegmt=True),
               "X-RateLimit-Reset": str(int(server_now.timestamp()) + 30)}
    local_clock_an_hour_behind = server_now.timestamp() - 3600
    assert retry_after_seconds(headers, {}, now=local_clock_an_hour_behind) == 30


def test_429_message_without_api_message_names_the_wait():
    err = error_from_response(429, b"", {"Retry-After": "12"})
    assert isinstance(err, RateLimitError) and "Try again in 12 seconds." in str(err)


def test_non_json_error_bodies_never_crash():
    for status in (400, 401, 429, 500, 502, 503, 504):
        err = error_from_response(status, b"\xff\xfe<html>", {})
        assert isinstance(err, KlingError) and err.status == status and err.api_message is None


# ---------------------------------------------------------------------- secrecy and setup


def test_repr_never_shows_the_key():
    assert KEY not in repr(KlingClient(api_key=KEY, base_url="http://127.0.0.1:1"))
    assert "key=set" in repr(KlingClient(api_key=KEY, base_url="http://127.0.0.1:1"))
    assert "key=unset" in repr(KlingClient(api_key="", base_url="http://127.0.0.1:1"))


def test_settings_supply_key_and_base_url(monkeypatch, tmp_path, server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIREMOON_API_KEY", KEY)
    monkeypatch.setenv("FIREMOON_BASE_URL", server.url + "/")
    server.script(Reply.ok())
    client = KlingClient()
    _open_clients.append(client)
    assert client.base_url == server.url
    client.generate(prompt="a cat")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


def test_netrc_does_not_replace_the_bearer_key(monkeypatch, tmp_path, server):
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login someone password hunter2\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    server.script(Reply.ok())
    make_client(server).generate(prompt="a cat")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


def test_a_key_that_cannot_be_a_header_is_refused_without_quoting_it():
    with pytest.raises(ValueError) as info:
        KlingClient(api_key=KEY + "\nX-Injected: 1", base_url="http://127.0.0.1:1")
    assert KEY not in str(info.value) and "FIREMOON_API_KEY" in str(info.value)


def test_surrounding_whitespace_of_a_pasted_key_is_ignored(server):
    server.script(Reply.ok())
    client = KlingClient(api_key=f"  {KEY}\n", base_url=server.url)
    _open_clients.append(client)
    client.generate(prompt="a cat")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize("options", [{"max_attempts": 0}, {"max_total_wait": -1},
                                     {"backoff_base": -0.5}])
def test_a_nonsensical_retry_policy_is_refused(options):
    with pytest.raises(ValueError):
        RetryPolicy(**options)


def test_a_bad_base_url_is_refused():
    with pytest.raises(ValueError, match="FIREMOON_BASE_URL"):
        KlingClient(api_key=KEY, base_url="firemoon.studio")


def test_the_key_never_leaks(server, caplog):
    """Every failure, with the server echoing the key back: never in text, repr or logs."""
    echo = f"key {KEY} is not valid"
    scenarios = [
        [Reply(400, {"error": "Invalid input", "message": echo, "errors": [echo],
                     "details": {"key": KEY, "seen": [KEY]}})],
        *([Reply.error(status, f"error {KEY}", echo, details=echo)]
          for status in (401, 402, 403, 404, 500, 502, 418)),
        [Reply.error(429, "Rate limit exceeded", echo, headers={"Retry-After": "999"})],
        [Reply(503, echo)] * 4,
        [Reply.ok(url=f"javascript:{KEY}")],
        [Reply(200, f"<html>{KEY}</html>")],
        [Reply(drop=True)],
        [Reply(delay=2.0)],
    ]
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    client = make_client(server, read_timeout=0.3)
    texts.append(repr(client))
    for replies in scenarios:
        server.script(*replies)
        with pytest.raises(KlingError) as info:
            client.generate(prompt="a cat")
        err = info.value
        texts += [str(err), repr(err), repr(vars(err)), repr(err.args)]
    refused = make_client(refused_url(), RetryPolicy(max_attempts=2, sleep=Sleeps()))
    for call in (lambda: refused.generate(prompt="a cat"), refused.credits_balance,
                 lambda: client.generate(prompt="")):
        with pytest.raises(KlingError) as info:
            call()
        texts += [str(info.value), repr(info.value), repr(vars(info.value))]
    texts.append(caplog.text)
    assert caplog.records  # the client did log
    assert all(KEY not in text for text in texts)
    assert any("***" in text for text in texts)  # the echoes were scrubbed, not dropped


def test_raised_errors_do_not_carry_the_request_that_holds_the_key(sleeps):
    client = make_client(refused_url(), RetryPolicy(max_attempts=1, sleep=sleeps))
    with pytest.raises(ConnectionFailedError) as info:
        client.generate(prompt="a cat")
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert not isinstance(info.value, requests.RequestException)


def test_non_finite_rate_limit_headers_are_ignored():
    from kling.models import RateLimit

    limit = RateLimit.from_headers({"X-RateLimit-Limit": "inf", "X-RateLimit-Remaining": "nan",
                                    "X-RateLimit-Reset": "1700000000"})
    assert limit == RateLimit(limit=None, remaining=None, reset=1700000000.0)
