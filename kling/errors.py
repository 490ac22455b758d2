"""The one exception family of Kling Studio, rooted at `KlingError`.

Every failure the studio can meet becomes one of these classes, so callers catch by kind,
and every instance carries a sentence a marketing person can act on (`str(err)`) and a
short `hint`; API errors also carry the HTTP status and the API's own `error` and
`message`. `kind` is a stable short name used in the history log and the command line.
No message here is ever built from request headers, so the API key cannot leak into one.
Two branches keep apart what a person does about them: an `ApiError` is about Firemoon
(the key, credits, the service), a `StorageError` about the studio's own files or
database (a full disk, a damaged file).

    KlingError
    ├── ApiError                      talking to Firemoon
    │   ├── InvalidRequestError       400, or refused before sending (nothing sent)
    │   ├── AuthenticationError       401
    │   ├── InsufficientCreditsError  402
    │   ├── AccessDeniedError         403
    │   ├── NotFoundError             404
    │   ├── RateLimitError            429 (a pause, not a failure)
    │   ├── ServerError               other 5xx
    │   │   └── GenerationFailedError 500 "Generation failed"
    │   ├── OutcomeUnknownError       sent, no answer: possibly billed, never resent
    │   │   └── UnreadableResultError 2xx that could not be read (also a MalformedResponseError)
    │   ├── MalformedResponseError    an answer not in the documented shape
    │   └── ConnectionFailedError     could not connect; nothing was sent
    ├── PossiblyBilledError           a resend of a possibly billed generation, unconfirmed
    ├── RefusedError                  the studio's own rules said no; nothing was sent
    │   ├── NotAllowedError           this person's role may not do it
    │   └── OverBudgetError           it does not fit in a monthly budget
    ├── AssemblyError                 a spot, a format or a recipe could not be made from these files
    └── StorageError                  the studio's own state
        ├── HistoryError              the generation log could not be written
        ├── TemplateError             a template could not be rendered, saved, found or imported
        ├── StoryboardError           a storyboard could not be read or saved
        ├── ArchiveError              a video could not be kept in the archive
        └── DatabaseError             the team database is unreachable or not at this schema
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class ApiError(KlingError):
    """Firemoon refused, failed or could not be reached; `status` is the HTTP status."""


class InvalidRequestError(ApiError):
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


class AuthenticationError(ApiError):
    """401: the key is missing, wrong, expired or sent without `Bearer `."""

    kind = "authentication"
    default_message = "Firemoon did not accept the API key."
    default_hint = (
        "Check FIREMOON_API_KEY (environment or .streamlit/secrets.toml); "
        "create a new key in your Firemoon account if it expired."
    )


class InsufficientCreditsError(ApiError):
    """402: the balance cannot pay for this generation."""

    kind = "insufficient_credits"
    default_message = "Your Firemoon balance is too low for this video."
    default_hint = "Add credits in your Firemoon account, or choose 5 s instead of 10 s."


class AccessDeniedError(ApiError):
    """403: the key exists but may not use the Kling provider."""

    kind = "access_denied"
    default_message = "This API key does not have access to the Kling model."
    default_hint = "Ask your Firemoon admin to enable the Kling provider for this key."


class NotFoundError(ApiError):
    """404: wrong provider or model path (usually a wrong FIREMOON_BASE_URL)."""

    kind = "not_found"
    default_message = "Firemoon could not find the Kling 2.1 Master model at this address."
    default_hint = "Check FIREMOON_BASE_URL; it should be the API root, e.g. https://firemoon.studio."


class RateLimitError(ApiError):
    """429: too many requests in the current window. `retry_after` is in seconds."""

    kind = "rate_limited"
    default_message = "Too many videos were requested in the last minute."
    default_hint = "Wait a moment; the studio will try again when the limit resets."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ApiError):
    """5xx other than the documented 500 (proxies, maintenance, overload)."""

    kind = "server_error"
    default_message = "Firemoon's service had a problem."
    default_hint = "Try again in a few minutes."


class GenerationFailedError(ServerError):
    """500 `Generation failed`: the model could not make this video."""

    kind = "generation_failed"
    default_message = "Firemoon could not generate this video."
    default_hint = "Try again, perhaps with a simpler prompt or another seed."


class OutcomeUnknownError(ApiError):
    """The request was sent but no answer came (read timeout, connection dropped).

    The video may still be made and billed, so the client never resends it on its own.
    """

    kind = "outcome_unknown"
    outcome_unknown = True
    default_message = "Firemoon did not answer in time, so it is unknown whether the video was made."
    default_hint = (
        "Check your Firemoon generations before retrying, so you are not billed twice."
    )


class MalformedResponseError(ApiError):
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


class ConnectionFailedError(ApiError):
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


class RefusedError(KlingError):
    """The studio refused to do something a person asked for, by its own rules (roles,
    budgets), before anything was sent or changed."""

    kind = "refused"
    default_message = "The studio did not do this."
    default_hint = "Ask an admin of the studio."


class NotAllowedError(RefusedError):
    """This person's role does not include the action (`kling.people.roles`)."""

    kind = "not_allowed"
    default_message = "Your role does not allow this."
    default_hint = "Ask an admin of the studio for a role that does."


class OverBudgetError(RefusedError):
    """The request would take a person or the team past a monthly budget
    (`kling.people.budgets`); the message names what is left and what it needs."""

    kind = "over_budget"
    default_message = "This does not fit in this month's budget."
    default_hint = "Ask an admin to raise the budget, or make fewer or shorter videos."


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


class AssemblyError(KlingError):
    """A spot, a deliverable or a recipe could not be made or read from these inputs.

    Its message names the file at fault in words a marketing person understands
    ("Clip 3 cannot be read: it is not a video file."); nothing else is needed to act on it.
    """

    kind = "assembly"
    default_message = "The video could not be put together."
    # The message always says which file is at fault and why; a generic hint adds nothing.
    default_hint = ""


class StorageError(KlingError):
    """The studio's own state (files in the data folder, later a database or a bucket)
    could not be read or written; the request to Firemoon, if any, is not the problem."""

    kind = "storage"
    default_message = "The studio could not save its data."
    default_hint = "Check that the data directory exists, is writable and has free space."


class HistoryError(StorageError):
    """The history log could not be written (disk full, read-only, lock held too long)."""

    kind = "history"
    default_message = "The generation history could not be written."


class TemplateError(StorageError):
    """A template could not be rendered, saved, found or imported; the message says why.

    `field_errors` maps a field (`name`, `body`, ...) to its problem when a template is
    invalid; `problems` lists everything wrong with an import file, each prefixed with its
    place (`templates[3].body`).
    """

    kind = "template"
    default_message = "The template could not be used."
    default_hint = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        field_errors: Mapping[str, str] | None = None,
        problems: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        self.problems = tuple(problems)
        if message is None and self.field_errors:
            message = " ".join(self.field_errors.values())
        super().__init__(message, **kwargs)


class StoryboardError(StorageError):
    """A storyboard could not be found, read or saved; the message says why."""

    kind = "storyboard"
    default_message = "The storyboard could not be used."
    default_hint = ""


class ArchiveError(StorageError):
    """The video could not be saved locally; the generation itself is fine."""

    kind = "archive"
    default_message = "The video could not be saved to the local archive."
    default_hint = "It can still be played from Firemoon's link for now; the studio will retry."


class DatabaseError(StorageError):
    """The team database (`KLING_DATABASE_URL`) could not be reached, or its schema is
    not the one this code needs; nothing was changed in it."""

    kind = "database"
    default_message = "The studio could not use its team database."
    default_hint = "Check KLING_DATABASE_URL and that the database server is running."
