"""RetryPolicy through a real client: what is sent again and after how long, what never
is, and the wait a server asks for (`retry_after_seconds`)."""

from __future__ import annotations

import ssl
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import MaxRetryError, SSLError

from kling.errors import (
    ConnectionFailedError,
    GenerationFailedError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
)
from kling.retry import RetryPolicy, Unsent, retry_after_seconds
from scripted_server import Reply, success_body

from .support import make_client, refused_url


# ---------------------------------------------------------------------------- retried


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


# ------------------------------------------------------------ never send a POST twice


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


# ----------------------------------------------------------------- the wait asked for


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


# ------------------------------------------------------------------------- the policy


@pytest.mark.parametrize("options", [{"max_attempts": 0}, {"max_total_wait": -1},
                                     {"backoff_base": -0.5}])
def test_a_nonsensical_retry_policy_is_refused(options):
    with pytest.raises(ValueError):
        RetryPolicy(**options)


def test_of_the_failures_to_connect_only_a_bad_certificate_is_not_retried():
    policy = RetryPolicy()
    assert [reason for reason in Unsent if not policy.retries_unsent(reason)] == [
        Unsent.BAD_CERTIFICATE]


class _UnverifiedCertificate(requests.Session):
    """A session whose every request fails as requests fails a TLS handshake whose
    certificate cannot be verified."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        reason = SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
        raise requests.exceptions.SSLError(MaxRetryError(None, "/", reason))


def test_a_certificate_that_cannot_be_verified_is_reported_at_once(sleeps):
    session = _UnverifiedCertificate()
    client = make_client("https://127.0.0.1:1", RetryPolicy(max_attempts=3, sleep=sleeps),
                         session=session)
    with pytest.raises(ConnectionFailedError, match="certificate could not be verified"):
        client.generate(prompt="a cat")
    assert session.calls == 1 and sleeps.waits == []
