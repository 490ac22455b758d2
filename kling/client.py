"""The HTTP client of the Firemoon Kling 2.1 Master endpoint.

`KlingClient` is the one place the studio talks to Firemoon. It validates a request before
sending it, sends it over one pooled `requests.Session` with the bearer key and the
timeouts, and retries only what `RetryPolicy` (`kling.retry`) says the server surely did
not process. What an answer, or its absence, means is read by `kling.responses`: every
failure becomes one exception of the `kling.errors` family with a sentence a marketing
person can act on.

The API key lives only in the `Authorization` header of outgoing requests. It is never
part of an exception, a `repr` or a log line; text the server sends back is scrubbed of it
before the studio shows it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .errors import KlingError, RateLimitError
from .models import GenerationRequest, GenerationResult, RateLimit
from .responses import (
    balance_from_response,
    error_from_response,
    result_from_response,
    scrub,
    transport_failure,
)
from .retry import RetryPolicy, retry_after_seconds
from .settings import CREDITS_PATH, MODEL_PATH, Settings, SettingsError, check_base_url

# RetryPolicy is part of the client's signature, and callers import it from here; the two
# readers stay importable from here as they were before they got their own modules.
__all__ = ["KlingClient", "RetryPolicy", "error_from_response", "retry_after_seconds"]

log = logging.getLogger("kling.client")

#: Connections are opened lazily, so a pool larger than any sensible
#: KLING_MAX_CONCURRENCY costs nothing and spares "pool is full" churn.
_POOL_SIZE = 32
#: Read timeout of requests that make nothing (the credit balance).
_LOOKUP_READ_TIMEOUT_S = 15.0


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
            return result_from_response(response.status_code, response.content,
                                        secret=self._secret)
        except KlingError as err:
            scrub(err, self._secret)
            raise

    def credits_balance(self) -> float | None:
        """The account balance, or None when the answer has no recognisable number
        (`balance_from_response` lists the shapes understood). Error statuses raise like
        `generate`."""
        try:
            response = self._send("GET", self._credits_url)
        except KlingError as err:
            scrub(err, self._secret)
            raise
        return balance_from_response(response.content)

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
                failure, unsent = transport_failure(
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
