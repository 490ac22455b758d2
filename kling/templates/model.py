"""What a template is: a prompt body with `{variables}`, and how it renders.

A `Template` is a prompt body with `{variables}` (each with an optional default and a hint),
a recommended duration and aspect ratio, a category and tags. `Template.render` fills the
variables; `{{` and `}}` write literal braces. Instances are immutable: the library keeps
each edit as a new version (see `kling.templates.library`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import TemplateError
from ..wording import join_names, quote

CATEGORIES = ("Marketing", "Social media", "Product demo", "Storytelling", "Custom")
DEFAULT_CATEGORY = "Custom"

#: The fields a person edits; everything else (id, version, ...) the library manages.
CONTENT_FIELDS = ("name", "category", "description", "body", "variables", "duration",
                  "aspect_ratio", "tags")
FIELD_LABELS = {
    "name": "Name", "category": "Category", "description": "Description", "body": "Body",
    "variables": "Variables", "duration": "Duration", "aspect_ratio": "Aspect ratio",
    "tags": "Tags",
}
MAX_VARIABLE_NAME_CHARS = 40

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# One token of a body: an escaped brace, a placeholder candidate, a stray brace, or text.
_BODY_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]|[^{}]+")


def is_variable_name(name: str) -> bool:
    """Letters, digits and underscores, not starting with a digit, short enough to show."""
    return bool(_VARIABLE_NAME.match(name)) and len(name) <= MAX_VARIABLE_NAME_CHARS


def normalise_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Tags as they are saved and compared: casefolded, spaces collapsed, blanks and
    repeats dropped.

    Tags are filters, so "TikTok" and "tiktok " must be the same tag.
    """
    tags = (" ".join(tag.split()).casefold() for tag in raw)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


@dataclass(frozen=True)
class TemplateVariable:
    """A `{name}` of a template body. A blank default means the variable must be filled."""

    name: str
    default: str | None = None
    hint: str = ""

    def __post_init__(self) -> None:
        # Forms hand over "" for an empty default; it means "no default", not "empty text".
        if self.default is not None and not self.default.strip():
            object.__setattr__(self, "default", None)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "hint": self.hint}


def _parse_body(body: str) -> list[tuple[bool, str]]:
    """Split a body into (is_placeholder, text) parts; raise `TemplateError` if malformed."""
    parts: list[tuple[bool, str]] = []
    for match in _BODY_TOKEN.finditer(body):
        token, position = match.group(0), match.start() + 1
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif match.group(1) is not None:
            name = match.group(1)
            if not name:
                raise TemplateError(
                    f"The body has an empty placeholder '{{}}' at character {position}: "
                    "put a variable name inside, e.g. {product}, or write '{{}}' for "
                    "literal braces.")
            if not is_variable_name(name):
                raise TemplateError(
                    f"'{{{quote(name)}}}' at character {position} is not a valid variable name: "
                    "use letters, digits and underscores, starting with a letter, "
                    "e.g. {product_name}.")
            parts.append((True, name))
        elif token == "{":
            raise TemplateError(
                f"The '{{' at character {position} is never closed: finish the variable "
                "as {name}, or write '{{' for a literal brace.")
        elif token == "}":
            raise TemplateError(
                f"The '}}' at character {position} has no opening '{{': write '}}}}' for a "
                "literal brace.")
        else:
            parts.append((False, token))
    return parts


def placeholders_of(body: str) -> tuple[str, ...]:
    """The variable names a body uses, each once, in order of first use."""
    return tuple(dict.fromkeys(text for is_name, text in _parse_body(body) if is_name))


def sync_variables(body: str, variables: Iterable[TemplateVariable] = ()
                   ) -> tuple[TemplateVariable, ...]:
    """Variables matching the body's placeholders: keeps the definitions of those still used,
    adds a bare one for each new placeholder, drops the rest. For an editor that declares
    variables as the person types; raises `TemplateError` if the body is malformed."""
    known = {variable.name: variable for variable in variables}
    return tuple(known.get(name, TemplateVariable(name)) for name in placeholders_of(body))


@dataclass(frozen=True)
class Template:
    """One version of a prompt template. Instances are immutable; the library versions them."""

    id: str
    name: str
    category: str
    description: str
    body: str
    variables: tuple[TemplateVariable, ...] = ()
    duration: str = "5"
    aspect_ratio: str = "16:9"
    tags: tuple[str, ...] = ()
    builtin: bool = False
    version: int = 1
    updated_at: str = ""
    #: Who saved this version; "" for the built-ins and for versions saved before authors
    #: were recorded. Left out of `content()`: the same fields saved by someone else are no
    #: change, so they make no new version.
    author: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "tags", tuple(self.tags))

    def placeholders(self) -> tuple[str, ...]:
        """The variable names the body uses, in order; raises `TemplateError` if malformed."""
        return placeholders_of(self.body)

    def variable(self, name: str) -> TemplateVariable | None:
        """The declared variable of this name, if any."""
        return next((v for v in self.variables if v.name == name), None)

    def render(self, values: Mapping[str, Any] | None = None) -> str:
        """The prompt with every variable filled: from `values`, else from its default.

        Blank values count as missing. Raises `TemplateError` naming every variable that
        has neither a value nor a default, with its hint, or saying what is malformed.
        """
        text, missing = self._fill(values or {})
        if missing:
            described = []
            for name in missing:
                variable = self.variable(name)
                hint = variable.hint.rstrip(".") if variable and variable.hint else ""
                described.append(f"'{name}' ({hint})" if hint else f"'{name}'")
            raise TemplateError(
                f"Fill in {join_names(described)}: "
                f"{'it has' if len(missing) == 1 else 'they have'} no default.")
        return text

    def preview(self, values: Mapping[str, Any] | None = None) -> str:
        """Like `render`, but a variable without value or default stays as `{name}`."""
        return self._fill(values or {})[0]

    def _fill(self, values: Mapping[str, Any]) -> tuple[str, list[str]]:
        defaults = {variable.name: variable.default for variable in self.variables}
        pieces: list[str] = []
        missing: list[str] = []
        for is_name, text in _parse_body(self.body):
            if not is_name:
                pieces.append(text)
                continue
            value = values.get(text)
            value = "" if value is None else str(value).strip()
            if not value:
                value = defaults.get(text) or ""
            if not value:
                if text not in missing:
                    missing.append(text)
                value = "{" + text + "}"
            pieces.append(value)
        return "".join(pieces), missing

    def content(self) -> dict[str, Any]:
        """The editable fields, as `create` and `update` accept them."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "id": self.id, "name": self.name, "category": self.category,
            "description": self.description, "body": self.body,
            "variables": [variable.to_dict() for variable in self.variables],
            "duration": self.duration, "aspect_ratio": self.aspect_ratio,
            "tags": list(self.tags), "builtin": self.builtin, "version": self.version,
            "updated_at": self.updated_at, "author": self.author,
        }


@dataclass(frozen=True)
class FieldChange:
    """One field that differs between two versions of a template."""

    field: str
    label: str
    old: Any
    new: Any


def changes_between(old: Template, new: Template) -> list[FieldChange]:
    """The editable fields that differ from `old` to `new`, in form order."""
    return [FieldChange(name, FIELD_LABELS[name], getattr(old, name), getattr(new, name))
            for name in CONTENT_FIELDS if getattr(old, name) != getattr(new, name)]
