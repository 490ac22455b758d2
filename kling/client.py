"""The HTTP client of the Firemoon Kling 2.1 Master endpoint.

`KlingClient` is the one place the studio talks to Firemoon. It validates a request before
sending it, sends it over one pooled `requests.Session`, retries only what the server
surely did not process (`kling.retry.RetryPolicy`), and turns every failure into one exception of the
`kling.errors` family with a sentence a marketing person can act on.

The API key lives only in the `Authorization` header of outgoing requests. It is never
part of an exception, a `repr` or a log line; text the server sends back is scrubbed of it
before the studio shows it.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
from http import HTTPStatus
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
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
from .models import GenerationRequest, GenerationResult, RateLimit
from .retry import RetryPolicy, Unsent, retry_after_seconds
from .settings import CREDITS_PATH, MODEL_PATH, Settings, SettingsError, check_base_url

__all__ = ["KlingClient", "RetryPolicy", "error_from_response", "retry_after_seconds"]

log = logging.getLogger("kling.client")

#: Connections are opened lazily, so a pool larger than any sensible
#: KLING_MAX_CONCURRENCY costs nothing and spares "pool is full" churn.
_POOL_SIZE = 32
#: Longest piece of server text quoted in a message (an HTML error page is not a message).
_MAX_QUOTE = 300
#: Read timeout of requests that make nothing (the credit balance).
_LOOKUP_READ_TIMEOUT_S = 15.0
#: The documented answers nest 3 deep; anything past this is not an answer.
_MAX_JSON_DEPTH = 32


# ---------------------------------------------------------------------------------------
# Reading an answer


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


def _text(value: Any) -> str | None:
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
    api_error = _text(data.get("error"))
    api_message = _text(data.get("message"))
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
        errors = [t for t in map(_text, raw_errors) if t] if isinstance(raw_errors, list) else []
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
        location = _text(headers.get("Location")) or "another address"
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
# Failures before an answer


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


def _transport_failure(
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
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, list):
        return [_redact(v, secret) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, secret) for v in value)
    if isinstance(value, dict):
        return {_redact(k, secret): _redact(v, secret) for k, v in value.items()}
    return value


class _BearerAuth(AuthBase):
    """Adds `Authorization: Bearer <key>`.

    Passing auth explicitly also stops requests from replacing the header with a
    `~/.netrc` entry for the same host.
    """

    def __init__(self, api_key: str | None) -> None:
        self._header = f"Bearer {api_key}" if api_key else None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._header is not None:
            request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return f"_BearerAuth(key={'set' if self._header else 'unset'})"


# ---------------------------------------------------------------------------------------
# The client


def _balance_from(data: Any) -> float | None:
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


class KlingClient:
    """Client of the Firemoon Kling 2.1 Master API (thread-safe; share one per process).

    `api_key`, `base_url` and `read_timeout` default from `Settings.load()` (or
    `settings`). The connect timeout is short, since nothing is sent before it; the read
    timeout is `KLING_GENERATION_TIMEOUT` (15 minutes by default), because hosts of this
    model report up to 14 minutes for a 10 s video and giving up early leaves a video
    that may be billed without a result. Retries follow `retry` (`RetryPolicy()`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        settings: Settings | None = None,
    ) -> None:
        if api_key is None or base_url is None or read_timeout is None:
            settings = settings or Settings.load()
            api_key = settings.api_key if api_key is None else api_key
            base_url = settings.base_url if base_url is None else base_url
            read_timeout = settings.generation_timeout if read_timeout is None else read_timeout
        base_url = check_base_url(base_url)
        parts = urlsplit(base_url)
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        api_key = (api_key or "").strip()
        if any(not "!" <= char <= "~" for char in api_key):
            # Never quote the key: http.client would, in a ValueError, at send time.
            raise SettingsError(
                "FIREMOON_API_KEY contains spaces, line breaks or other characters an API "
                "key cannot have; copy it again from your Firemoon account.")
        self._secret = api_key or None
        self._auth = _BearerAuth(self._secret)
        self._base_url = base_url
        self._where = parts.netloc
        self._generate_url = base_url + MODEL_PATH
        self._credits_url = base_url + CREDITS_PATH
        self._timeout = (connect_timeout, read_timeout)
        # Only making a video takes minutes; a balance that does not come in this long
        # will not come, and the sidebar must not wait for it.
        self._lookup_timeout = (connect_timeout, min(read_timeout, _LOOKUP_READ_TIMEOUT_S))
        self._retry = retry or RetryPolicy()
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            pool = max(_POOL_SIZE, settings.max_concurrency if settings else 0)
            # Default max_retries (0, no read retries): urllib3 must never resend on its
            # own; the retry policy above is the only one.
            adapter = HTTPAdapter(pool_maxsize=pool)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._rate_lock = threading.Lock()
        self._last_rate_limit: RateLimit | None = None

    @property
    def base_url(self) -> str:
        """The API root requests go to (no trailing slash)."""
        return self._base_url

    @property
    def last_rate_limit(self) -> RateLimit | None:
        """`X-RateLimit-*` of the latest response that carried them, None before any."""
        with self._rate_lock:
            return self._last_rate_limit

    def generate(
        self,
        prompt: str | None = None,
        duration: str | int = "5",
        aspect_ratio: str = "16:9",
        seed: int | None = None,
        *,
        request: GenerationRequest | None = None,
    ) -> GenerationResult:
        """Generate one video and return the parsed answer (synchronous; seconds to minutes).

        Pass the fields, or a ready `request`. Invalid fields raise `InvalidRequestError`
        naming every problem, and nothing is sent. Other failures raise the matching
        `KlingError`; `OutcomeUnknownError` means the video may exist and be billed.
        """
        try:
            if request is not None:
                if prompt is not None:
                    raise TypeError("pass either the request fields or request=, not both")
                # Re-checked because a GenerationRequest can be built without create().
                request = GenerationRequest.create(
                    request.prompt, request.duration, request.aspect_ratio, request.seed)
            else:
                request = GenerationRequest.create(prompt, duration, aspect_ratio, seed)
            response = self._send("POST", self._generate_url, request.to_payload())
            # Scrubbed before anything reads it: the answer travels into the history,
            # the pages and `--json`.
            data = self._redacted(_parse_json(response.content))
            try:
                if data is _NOT_JSON:
                    start = self._redacted(response.content.decode("utf-8", "replace"))
                    raise MalformedResponseError(
                        "Firemoon's answer could not be read: the body is not JSON (it "
                        f"starts with {_text(start[:80]) or 'nothing'!r})")
                return GenerationResult.parse(data)
            except MalformedResponseError as err:
                # A 2xx means the work was accepted: the video may exist and be billed.
                what = err.message.partition(": ")[2].rstrip(".") or err.message
                raise UnreadableResultError(
                    f"{UnreadableResultError.default_message[:-1]} ({what}).",
                    status=response.status_code) from None
        except KlingError as err:
            self._scrub(err)
            raise

    def credits_balance(self) -> float | None:
        """The account balance, or None when the answer has no recognisable number.

        The shape is not documented: `{"balance": n}`, `{"credits": n}` and
        `{"remaining": n}` are understood. Error statuses raise like `generate`.
        """
        try:
            response = self._send("GET", self._credits_url)
        except KlingError as err:
            self._scrub(err)
            raise
        return _balance_from(_parse_json(response.content))

    def close(self) -> None:
        """Release pooled connections (a session passed in is left to its owner)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> "KlingClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        key = "set" if self._secret else "unset"
        return f"KlingClient(base_url={self._base_url!r}, key={key})"

    def _redacted(self, value: Any) -> Any:
        return _redact(value, self._secret) if self._secret and value is not _NOT_JSON \
            else value

    def _scrub(self, err: KlingError) -> None:
        """Replace the key in everything the error says (the server may echo it)."""
        if not self._secret:
            return
        for name, value in vars(err).items():
            setattr(err, name, _redact(value, self._secret))
        err.args = _redact(err.args, self._secret)

    def _remember_rate_limit(self, headers: Mapping[str, str]) -> None:
        limit = RateLimit.from_headers(headers)
        if limit is not None:
            with self._rate_lock:
                self._last_rate_limit = limit

    def _send(self, method: str, url: str, payload: dict[str, Any] | None = None
              ) -> requests.Response:
        """Send with the retry policy; return a 2xx response or raise its `KlingError`."""
        policy = self._retry
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            failure: KlingError | None = None
            retryable = False
            asked: float | None = None
            try:
                # Redirects are not followed: requests would turn a redirected POST into
                # a GET without its body.
                timeout = self._timeout if method == "POST" else self._lookup_timeout
                response = self._session.request(
                    method, url, json=payload, auth=self._auth, timeout=timeout,
                    allow_redirects=False)
            except requests.RequestException as exc:
                failure, unsent = _transport_failure(
                    exc, method, self._where, attempt, timeout[1])
                retryable = unsent is not None and policy.retries_unsent(unsent)
                log.debug("%s %s failed on attempt %d: %s",
                          method, url, attempt, type(exc).__name__)
            if failure is None:
                status = response.status_code
                log.debug("%s %s -> %d (attempt %d)", method, url, status, attempt)
                self._remember_rate_limit(response.headers)
                if status < 300:
                    return response
                failure = error_from_response(status, response.content, response.headers,
                                              secret=self._secret)
                retryable = policy.retries_status(status)
                if retryable:
                    asked = (failure.retry_after if isinstance(failure, RateLimitError)
                             else retry_after_seconds(response.headers))
            wait = policy.next_wait(attempt, waited, asked) if retryable else None
            if wait is None:
                raise failure
            log.info("%s %s: %s; retrying in %.2f s (attempt %d of %d)",
                     method, url, type(failure).__name__, wait, attempt + 1,
                     policy.max_attempts)
            policy.sleep(wait)
            waited += wait
