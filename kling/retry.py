"""When the client sends a request to Firemoon again, and how long it waits first.

`RetryPolicy` is the one place that decides what is retried and says why; `Unsent` names
the ways a request can fail before it reached the server, the only transport failures
that may be retried. `retry_after_seconds` reads the wait the server asked for, with the
clock and date handling it needs.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, Callable, Mapping

__all__ = ["RetryPolicy", "Unsent", "retry_after_seconds"]

#: Beyond this many seconds of disagreement the server's `Date` is trusted over our clock
#: for reset times; below it, `Date`'s one-second resolution would only add error.
_CLOCK_SKEW_TOLERANCE_S = 5.0


class Unsent(Enum):
    """Why a request surely never reached the server; each value is the phrase a
    message quotes."""

    #: Certificates are checked in the TLS handshake, before any byte of the request.
    BAD_CERTIFICATE = "its security certificate could not be verified"
    ADDRESS_NOT_FOUND = "the address could not be found"
    REFUSED = "connection refused"
    NOT_OPENED = "the connection could not be opened"
    NO_ANSWER = "no answer to the connection attempt"


@dataclass(frozen=True)
class RetryPolicy:
    """When the client sends a request again, and how long it waits first.

    Retried, because the server surely did not process the request (nothing can be
    billed twice):

    - a failure to connect (refused, address not found, connect timeout): the request
      never left this machine (`retries_unsent`); but not a certificate that could not
      be verified, which will not heal by itself, so a retry would only delay the news;
    - 429 `Rate limit exceeded` (unless `retry_rate_limits` is False): refused before any
      work was done;
    - 503 Service Unavailable: the server declined to take the work (`retries_status`).

    Never retried, because the request may have been processed and billed: a read
    timeout, a connection dropped after sending, an answer cut short (all raise
    `OutcomeUnknownError`), 500 `Generation failed` (`GenerationFailedError`), and every
    other status, which a resend would not change.

    Each wait is what the server asked for: `Retry-After` (seconds or an HTTP date) and,
    for 429, the body's `resetAt` (ISO 8601) or `X-RateLimit-Reset` (Unix seconds), in
    that order (`retry_after_seconds`). Without a usable answer it is capped exponential
    backoff with jitter: `min(backoff_cap, backoff_base * 2**n)` scaled by a random
    0.75-1.0, so that workers that failed together do not return together.

    Bounds: at most `max_attempts` sends and at most `max_total_wait` seconds of waiting
    between them. A wait that does not fit the remaining budget is not started: the
    error is raised at once (a `RateLimitError` carries `retry_after`), so a caller with
    its own pacing, like the job queue, can wait visibly instead.
    `RetryPolicy.none()` sends once and never waits. `sleep` is injectable for tests.
    """

    max_attempts: int = 4
    max_total_wait: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_rate_limits: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_total_wait, self.backoff_base, self.backoff_cap) < 0:
            raise ValueError("waits must not be negative")

    @classmethod
    def none(cls) -> "RetryPolicy":
        """Send once; every failure is raised at once."""
        return cls(max_attempts=1, max_total_wait=0.0)

    def retries_status(self, status: int) -> bool:
        """True for the statuses that mean "not processed, ask again later"."""
        return status == 503 or (status == 429 and self.retry_rate_limits)

    def retries_unsent(self, reason: Unsent) -> bool:
        """True for a request that never reached the server, unless a resend cannot help."""
        return reason is not Unsent.BAD_CERTIFICATE

    def backoff(self, retry_number: int) -> float:
        """Seconds before retry `retry_number` (1, 2, ...) when the server named no time."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return ceiling * (1 - 0.25 * random.random())

    def next_wait(self, attempt: int, waited: float, asked: float | None) -> float | None:
        """Seconds to wait before sending again after `attempt` sends, or None to give up.

        `waited` is what earlier retries of this call already slept; `asked` is the wait
        the server named, if any.
        """
        if attempt >= self.max_attempts:
            return None
        wait = asked if asked is not None else self.backoff(attempt)
        if waited + wait > self.max_total_wait:
            return None
        return wait


def _seconds_until(moment: datetime, now: float) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() - now


def _reference_now(headers: Mapping[str, str], now: float | None) -> float:
    """Our clock, unless the server's `Date` shows ours is clearly off."""
    local = time.time() if now is None else now
    date = headers.get("Date")
    if not date:
        return local
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return local
    return server if abs(server - local) > _CLOCK_SKEW_TOLERANCE_S else local


def _positive(value: float | None) -> float | None:
    # A reset already past (or a "wait 0") names no usable wait: fall back to backoff
    # rather than hammer the server in a tight loop.
    return value if value is not None and math.isfinite(value) and value > 0 else None


def retry_after_seconds(
    headers: Mapping[str, str], body: Any = None, *, now: float | None = None
) -> float | None:
    """How long the server asked us to wait, in seconds, or None if it did not say.

    Reads `Retry-After` (delta seconds or an HTTP date); when `body` is given (a 429's
    parsed JSON), also its `resetAt` (ISO 8601) and then `X-RateLimit-Reset` (Unix
    seconds). Times in the past count as not said.
    """
    reference = _reference_now(headers, now)
    retry_after = (headers.get("Retry-After") or "").strip()
    if retry_after:
        try:
            return _positive(float(retry_after))
        except ValueError:
            pass
        try:
            return _positive(_seconds_until(parsedate_to_datetime(retry_after), reference))
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if body is None:
        return None
    reset_at = body.get("resetAt") if isinstance(body, Mapping) else None
    if isinstance(reset_at, str):
        try:
            return _positive(_seconds_until(datetime.fromisoformat(reset_at), reference))
        except ValueError:
            pass
    try:
        reset = float(headers.get("X-RateLimit-Reset") or "")
    except ValueError:
        return None
    # Documented as Unix seconds; a small number can only be a delta in seconds.
    return _positive(reset - reference if reset > 1e9 else reset)
