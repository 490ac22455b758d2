"""The one exception family of Kling Studio, rooted at `KlingError`.

Every failure the studio can meet while talking to Firemoon becomes one of these classes,
so callers catch by kind, and every instance carries a sentence a marketing person can act
on (`str(err)`), the HTTP status, the API's own `error` and `message`, and a short `hint`.
`kind` is a stable short name used in the history log and the command line.
No message here is ever built from request headers, so the API key cannot leak into one.

    KlingError
    ├── InvalidRequestError       400, or refused before sending (nothing sent)
    ├── AuthenticationError       401
    ├── InsufficientCreditsError  402
    ├── AccessDeniedError         403
    ├── NotFoundError             404
    ├── RateLimitError            429 (a pause, not a failure)
    ├── ServerError               other 5xx
    │   └── GenerationFailedError 500 "Generation failed"
    ├── OutcomeUnknownError       sent, no answer: possibly billed, never resent
    │   └── UnreadableResultError 2xx that could not be read (also a MalformedResponseError)
    ├── MalformedResponseError    an answer not in the documented shape
    ├── PossiblyBilledError       a resend of a possibly billed generation, unconfirmed
    └── ConnectionFailedError     could not connect; nothing was sent
"""

from __future__ import annotations

from typing import Any


class KlingError(Exception):
    """Base of every Kling Studio error."""

    kind = "error"
    default_message = "Something went wrong while talking to Firemoon."
    default_hint = "Try again; if it keeps happening, check the settings."
    #: True when the request may have been processed (and billed): never resend blindly.
    outcome_unknown = False

    def __init__(
        self,
        message: str | None = None,
        *,
        hint: str | None = None,
        status: int | None = None,
        error: str | None = None,
        api_message: str | None = None,
        details: Any = None,
    ) -> None:
        self.message = message or self.default_message
        self.hint = hint or self.default_hint
        self.status = status
        self.error = error
        self.api_message = api_message
        self.details = details
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class InvalidRequestError(KlingError):
    """400, or a request the studio refused to send. `field_errors` maps field -> problem."""

    kind = "invalid_request"
    default_message = "The request was not accepted."
    default_hint = "Fix the fields named above and try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[str] | None = None,
        field_errors: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        self.errors = list(errors or self.field_errors.values())
        if message is None and self.errors:
            message = "The request was not accepted: " + "; ".join(
                e.rstrip(".") for e in self.errors) + "."
        super().__init__(message, **kwargs)


class AuthenticationError(KlingError):
    """401: the key is missing, wrong, expired or sent without `Bearer `."""

    kind = "authentication"
    default_message = "Firemoon did not accept the API key."
    default_hint = (
        "Check FIREMOON_API_KEY (environment or .streamlit/secrets.toml); "
        "create a new key in your Firemoon account if it expired."
    )


class InsufficientCreditsError(KlingError):
    """402: the balance cannot pay for this generation."""

    kind = "insufficient_credits"
    default_message = "Your Firemoon balance is too low for this video."
    default_hint = "Add credits in your Firemoon account, or choose 5 s instead of 10 s."


class AccessDeniedError(KlingError):
    """403: the key exists but may not use the Kling provider."""

    kind = "access_denied"
    default_message = "This API key does not have access to the Kling model."
    default_hint = "Ask your Firemoon admin to enable the Kling provider for this key."


class NotFoundError(KlingError):
    """404: wrong provider or model path (usually a wrong FIREMOON_BASE_URL)."""

    kind = "not_found"
    default_message = "Firemoon could not find the Kling 2.1 Master model at this address."
    default_hint = "Check FIREMOON_BASE_URL; it should be the API root, e.g. https://firemoon.studio."


class RateLimitError(KlingError):
    """429: too many requests in the current window. `retry_after` is in seconds."""

    kind = "rate_limited"
    default_message = "Too many videos were requested in the last minute."
    default_hint = "Wait a moment; the studio will try again when the limit resets."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(KlingError):
    """5xx other than the documented 500 (proxies, maintenance, overload)."""

    kind = "server_error"
    default_message = "Firemoon's service had a problem."
    default_hint = "Try again in a few minutes."


class GenerationFailedError(ServerError):
    """500 `Generation failed`: the model could not make this video."""

    kind = "generation_failed"
    default_message = "Firemoon could not generate this video."
    default_hint = "Try again, perhaps with a simpler prompt or another seed."


class OutcomeUnknownError(KlingError):
    """The request was sent but no answer came (read timeout, connection dropped).

    The video may still be made and billed, so the client never resends it on its own.
    """

    kind = "outcome_unknown"
    outcome_unknown = True
    default_message = "Firemoon did not answer in time, so it is unknown whether the video was made."
    default_hint = (
        "Check your Firemoon generations before retrying, so you are not billed twice."
    )


class MalformedResponseError(KlingError):
    """The server answered, but not in the documented shape."""

    kind = "malformed_response"
    default_message = "Firemoon answered with something the studio could not read."
    default_hint = "Try again; if it keeps happening, the API may have changed."


class UnreadableResultError(OutcomeUnknownError, MalformedResponseError):
    """A 2xx whose body could not be read: the work was accepted, so the video may exist
    and be billed, but the studio cannot say where it is."""

    kind = OutcomeUnknownError.kind
    default_message = ("Firemoon accepted the request but its answer could not be read, so "
                       "it is unknown whether the video was made.")
    default_hint = OutcomeUnknownError.default_hint


class ConnectionFailedError(KlingError):
    """Could not reach the server at all; nothing was sent."""

    kind = "connection"
    default_message = "Could not connect to Firemoon."
    default_hint = "Check the network connection and FIREMOON_BASE_URL, then try again."


class PossiblyBilledError(KlingError):
    """A resend of a generation that may already have been billed, without a person's
    confirmation: refused before anything is sent."""

    kind = "possibly_billed"
    default_message = "This generation may already have been billed."
    default_hint = "Confirm the cost to send it again."


#: Documented statuses and the class each one becomes.
STATUS_ERRORS: dict[int, type[KlingError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: AccessDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    500: GenerationFailedError,
}
