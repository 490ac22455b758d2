"""What an answer means (`kling.responses`), through a real client: each status becomes its
error, a 200 not in the documented shape is unreadable, and the balance shapes."""

from __future__ import annotations

import pytest

from kling.errors import (
    AccessDeniedError, AuthenticationError, GenerationFailedError, InsufficientCreditsError,
    InvalidRequestError, KlingError, MalformedResponseError, NotFoundError, RateLimitError,
    ServerError,
)
from kling.responses import error_from_response
from kling.settings import CREDITS_PATH
from scripted_server import Reply, success_body

from .support import KEY, make_client


# ---------------------------------------------------------------------- error answers


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


def test_429_message_without_api_message_names_the_wait():
    err = error_from_response(429, b"", {"Retry-After": "12"})
    assert isinstance(err, RateLimitError) and "Try again in 12 seconds." in str(err)


def test_non_json_error_bodies_never_crash():
    for status in (400, 401, 429, 500, 502, 503, 504):
        err = error_from_response(status, b"\xff\xfe<html>", {})
        assert isinstance(err, KlingError) and err.status == status and err.api_message is None


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


# ---------------------------------------------------------------------------- credits


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
