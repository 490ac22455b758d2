"""The one exception of the template library: `TemplateError`, with a message a person reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import KlingError


class TemplateError(KlingError):
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
