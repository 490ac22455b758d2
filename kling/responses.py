"""Reading Firemoon's answers: what a response, or the lack of one, means.

`error_from_response` turns an error answer into its `KlingError` and `transport_failure`
a request that got no complete answer; `result_from_response` and `balance_from_response`
read the successful ones. JSON is parsed with a depth limit and server text is quoted
short. Given the API key (`secret`), every piece of what the server said is scrubbed of
it before anything reads or cuts it, because a server may echo it.
"""

from __future__ import annotations

import json
import math
import ssl
from http import HTTPStatus
from typing import Any, Mapping

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from .errors import (
    STATUS_ERRORS,
    ConnectionFailedError,
    InvalidRequestError,
    KlingError,
    MalformedResponseError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    UnreadableResultError,
)
from .models import GenerationResult
from .retry import Unsent, retry_after_seconds

__all__ = [
    "balance_from_response", "error_from_response", "result_from_response", "scrub",
    "transport_failure",
]

#: Longest piece of server text quoted in a message (an HTML error page is not a message).
_MAX_QUOTE = 300
#: The documented answers nest 3 deep; anything past this is not an answer.
_MAX_JSON_DEPTH = 32


# ---------------------------------------------------------------------------------------
# Parsing and quoting


#: What `_parse_json` returns for a body that is not JSON.
_NOT_JSON: Any = object()


def _parse_json(body: bytes | str | None) -> Any:
    """The JSON value of `body`, or `_NOT_JSON`.

    Never raises: a `JSONDecodeError` keeps the whole body, which must not ride along as
    the context of an error the studio shows.
    """
    try:
        value = json.loads(body or b"")
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError both
        return _NOT_JSON
    return value if _depth_within(value, _MAX_JSON_DEPTH) else _NOT_JSON


def _depth_within(value: Any, limit: int) -> bool:
    """True when `value` nests at most `limit` containers deep (checked without recursion,
    so that a hostile answer cannot exhaust the stack of whatever walks it later)."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return True
    return False


def _quote(value: Any) -> str | None:
    """`value` as one line of text short enough to quote in a message."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1] + "…"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _status_phrase(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


# ---------------------------------------------------------------------------------------
# Successful answers


def result_from_response(status: int, body: bytes, *, secret: str | None = None
                         ) -> GenerationResult:
    """The result a 2xx answer to a generation holds.

    A 2xx means the work was accepted, so an answer that cannot be read raises
    `UnreadableResultError`: the video may exist and be billed. With `secret`, the answer
    is scrubbed before anything reads it: it travels into the history, the pages and
    `--json`.
    """
    data = _parse_json(body)
    if secret and data is not _NOT_JSON:
        data = _redact(data, secret)
    try:
        if data is _NOT_JSON:
            start = body.decode("utf-8", "replace")
            start = _redact(start, secret) if secret else start
            raise MalformedResponseError(
                "Firemoon's answer could not be read: the body is not JSON (it "
                f"starts with {_quote(start[:80]) or 'nothing'!r})")
        return GenerationResult.parse(data)
    except MalformedResponseError as err:
        what = err.message.partition(": ")[2].rstrip(".") or err.message
        raise UnreadableResultError(
            f"{UnreadableResultError.default_message[:-1]} ({what}).", status=status) from None


def balance_from_response(body: bytes) -> float | None:
    """The balance an answer of the credits endpoint names, or None when it has no
    recognisable number.

    The shape is not documented: `{"balance": n}`, `{"credits": n}` and
    `{"remaining": n}` are understood.
    """
    data = _parse_json(body)
    if not isinstance(data, dict):
        return None
    for key in ("balance", "credits", "remaining"):
        value = data.get(key)
        if isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


# ---------------------------------------------------------------------------------------
# Error answers


def error_from_response(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    secret: str | None = None,
) -> KlingError:
    """The `KlingError` for an error answer (any status of 300 or more).

    `body` is the raw body or its parsed JSON. Documented statuses get their own class
    (`STATUS_ERRORS`); other 5xx become `ServerError`, anything else a plain `KlingError`.
    Every error carries the status, the API's `error`, `message` and `details` when the
    body is the documented JSON, and a plain-language message; an HTML page from a proxy
    is never quoted. With `secret` (the API key), every value is scrubbed of it before
    anything is cut to length, so no part of the key can survive a cut.
    """
    data = body if isinstance(body, Mapping) else _parse_json(body)
    if not isinstance(data, Mapping):
        data = {}
    if secret:
        data = _redact(data, secret)
        headers = {name: _redact(value, secret) for name, value in headers.items()}
    api_error = _quote(data.get("error"))
    api_message = _quote(data.get("message"))
    fields: dict[str, Any] = {
        "status": status, "error": api_error, "api_message": api_message,
        "details": data.get("details"),
    }
    cls = STATUS_ERRORS.get(status)
    if cls is None and status >= 500:
        cls = ServerError
    said = f" Firemoon says: {_sentence(api_message)}" if api_message else ""

    if cls is InvalidRequestError:
        raw_errors = data.get("errors")
        errors = [t for t in map(_quote, raw_errors) if t] if isinstance(raw_errors, list) else []
        message = None if errors else (
            f"{InvalidRequestError.default_message}{said}" if said else None)
        return InvalidRequestError(message, errors=errors, **fields)
    if cls is RateLimitError:
        retry_after = retry_after_seconds(headers, data, now=now)
        if api_message:
            message = f"{RateLimitError.default_message} {_sentence(api_message)}"
        elif retry_after is not None:
            message = (f"{RateLimitError.default_message} "
                       f"Try again in {math.ceil(retry_after)} seconds.")
        else:
            message = None
        return RateLimitError(message, retry_after=retry_after, **fields)
    if cls is ServerError:
        return ServerError(
            f"Firemoon's service had a problem ({_status_phrase(status)}).{said}", **fields)
    if cls is not None:
        return cls(f"{cls.default_message}{said}" if said else None, **fields)
    if 300 <= status < 400:
        location = _quote(headers.get("Location")) or "another address"
        return KlingError(
            f"Firemoon redirected the request ({_status_phrase(status)}) to {location}.",
            hint="Set FIREMOON_BASE_URL to the address the API answers at (usually https://).",
            **fields,
        )
    return KlingError(
        f"Firemoon answered with an unexpected status ({_status_phrase(status)}).{said}",
        **fields,
    )


# ---------------------------------------------------------------------------------------
# No complete answer


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps, through requests' and urllib3's wrapper conventions."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if isinstance(item, BaseException) and not any(item is s for s in seen):
            seen.append(item)
            todo.extend(item.args)
            todo.extend(getattr(item, name, None)
                        for name in ("reason", "original_error", "__cause__"))
    return seen


def _never_sent(exc: requests.RequestException, causes: list[BaseException]) -> Unsent | None:
    """Why the request surely never reached the server, or None if it may have."""
    def has(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(c, kind) for c in causes)

    if has(ssl.SSLCertVerificationError):
        return Unsent.BAD_CERTIFICATE
    if not (isinstance(exc, requests.ConnectTimeout) or has(ConnectTimeoutError)):
        return None
    if has(NameResolutionError):
        return Unsent.ADDRESS_NOT_FOUND
    if has(ConnectionRefusedError):
        return Unsent.REFUSED
    if has(NewConnectionError):
        return Unsent.NOT_OPENED
    return Unsent.NO_ANSWER


def transport_failure(
    exc: requests.RequestException, method: str, where: str, attempts: int, read_timeout: float
) -> tuple[KlingError, Unsent | None]:
    """(error, reason) for a request that got no complete answer: `reason` says why it
    surely never reached the server when connecting failed, and is None otherwise."""
    causes = _causes(exc)
    reason = _never_sent(exc, causes)
    if reason is not None:
        after = f" after {attempts} attempts" if attempts > 1 else ""
        return (ConnectionFailedError(
            f"Could not connect to Firemoon at {where}{after} ({reason.value})."), reason)
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return MalformedResponseError(
            "Firemoon's answer could not be decoded (its compression was broken)."), None
    if not isinstance(exc, (requests.ConnectionError, requests.Timeout,
                            requests.exceptions.ChunkedEncodingError)):
        # Raised while preparing the request (an invalid URL or header): nothing was sent.
        return ConnectionFailedError(
            f"The request to Firemoon at {where} could not be sent "
            f"({type(exc).__name__})."), None
    timed_out = isinstance(exc, requests.Timeout) or any(
        isinstance(c, (ReadTimeoutError, TimeoutError)) for c in causes)
    if method != "POST":
        # Nothing is generated or billed by a GET, so the outcome is not in doubt.
        what = "did not answer in time" if timed_out else "closed the connection"
        return ConnectionFailedError(f"Firemoon {what} at {where}."), None
    if timed_out:
        return OutcomeUnknownError(
            f"Firemoon did not answer within {read_timeout:g} seconds, so it is unknown "
            "whether the video was made."), None
    return OutcomeUnknownError(
        "The connection to Firemoon broke after the request was sent, so it is unknown "
        "whether the video was made."), None


# ---------------------------------------------------------------------------------------
# Keeping the key secret


def _redact(value: Any, secret: str) -> Any:
    """`value` with every occurrence of `secret` replaced, through lists, tuples and dicts."""
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, list):
        return [_redact(v, secret) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, secret) for v in value)
    if isinstance(value, dict):
        return {_redact(k, secret): _redact(v, secret) for k, v in value.items()}
    return value


def scrub(err: KlingError, secret: str | None) -> None:
    """Replace `secret` in everything `err` says (the server may echo it); no secret, no
    change."""
    if not secret:
        return
    for name, value in vars(err).items():
        setattr(err, name, _redact(value, secret))
    err.args = _redact(err.args, secret)
