"""KlingClient against a real loopback server: the request it sends, one pooled session
shared by threads, timeouts, settings, and the key kept secret in every failure."""

from __future__ import annotations

import logging
import threading

import pytest
import requests

from kling import KlingClient
from kling.errors import (
    ConnectionFailedError,
    InsufficientCreditsError,
    InvalidRequestError,
    KlingError,
    OutcomeUnknownError,
)
from kling.models import GenerationRequest, RateLimit
from kling.retry import RetryPolicy
from kling.settings import MODEL_PATH
from scripted_server import Reply, success_body

from .support import KEY, Sleeps, kept, make_client, rate_headers, refused_url


# ------------------------------------------------------------------------ the request


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


# ------------------------------------------------------------------------ one session


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


def test_non_finite_rate_limit_headers_are_ignored():
    limit = RateLimit.from_headers({"X-RateLimit-Limit": "inf", "X-RateLimit-Remaining": "nan",
                                    "X-RateLimit-Reset": "1700000000"})
    assert limit == RateLimit(limit=None, remaining=None, reset=1700000000.0)


# --------------------------------------------------------------------------- timeouts


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


# ------------------------------------------------------------------ secrecy and setup


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
    kept(client)
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
    kept(client)
    client.generate(prompt="a cat")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


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
