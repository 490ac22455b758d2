"""Templates drafted from loosely typed fields: a form's values, or a template of a JSON
file. Problems of type come back per field, for validation to add its own to."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..errors import TemplateError
from .model import (
    CONTENT_FIELDS,
    DEFAULT_CATEGORY,
    FIELD_LABELS,
    Template,
    TemplateVariable,
    normalise_tags,
    sync_variables,
)
from .validation import DURATION_PROBLEM

#: What a field left out of a new template (or of a file's template) is.
BLANK_CONTENT: dict[str, Any] = {
    "name": "", "category": DEFAULT_CATEGORY, "description": "", "body": "", "variables": (),
    "duration": "5", "aspect_ratio": "16:9", "tags": (),
}
UNSAVABLE = "holds characters that are not valid text"
_TEXT_FIELDS = ("name", "category", "description", "body", "aspect_ratio")


def savable(text: str) -> bool:
    """False for text holding half of a UTF-16 pair (`"\\ud800"` in JSON): it can be
    neither saved as UTF-8 nor shown."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _coerce_variables(raw: Any) -> tuple[tuple[TemplateVariable, ...] | None, str | None]:
    if not isinstance(raw, (list, tuple)):
        return None, "Variables must be a list."
    variables = []
    for index, item in enumerate(raw):
        if isinstance(item, TemplateVariable):
            variables.append(item)
            continue
        where = f"variables[{index}]"
        if not isinstance(item, Mapping):
            return None, f"{where} must be an object with a name, a default and a hint."
        name, default, hint = item.get("name"), item.get("default"), item.get("hint")
        if not isinstance(name, str):
            return None, f"{where}.name must be text."
        if default is not None and not isinstance(default, str):
            return None, f"{where}.default must be text or null."
        if hint is not None and not isinstance(hint, str):
            return None, f"{where}.hint must be text."
        if not all(savable(text) for text in (name, default or "", hint or "")):
            return None, f"{where} {UNSAVABLE}."
        variables.append(TemplateVariable(name.strip(), default and default.strip(),
                                          (hint or "").strip()))
    return tuple(variables), None


def coerce_fields(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Loosely typed field values (a form, a JSON file) as Template values, plus type problems.

    Text is trimmed; a duration may be a number; tags may be a comma-separated string.
    """
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, raw in fields.items():
        label = FIELD_LABELS[key]
        if key in _TEXT_FIELDS:
            if raw is None:
                raw = ""
            if not isinstance(raw, str):
                problems[key] = f"{label} must be text."
            elif not savable(raw):
                problems[key] = f"{label} {UNSAVABLE}."
            else:
                values[key] = raw.strip()
        elif key == "duration":
            if isinstance(raw, (str, int)) and not isinstance(raw, bool):
                values[key] = str(raw).strip()
            else:
                problems[key] = DURATION_PROBLEM
        elif key == "tags":
            if isinstance(raw, str):
                raw = raw.split(",")
            if not isinstance(raw, (list, tuple)) or not all(isinstance(tag, str)
                                                             for tag in raw):
                problems[key] = "Tags must be a list of words."
            elif not all(savable(tag) for tag in raw):
                problems[key] = f"Tags {UNSAVABLE}."
            else:
                values[key] = normalise_tags(raw)
        else:
            variables, problem = _coerce_variables(raw)
            if problem:
                problems[key] = problem
            else:
                values[key] = variables
    return values, problems


def coerce_author(raw: Any) -> tuple[str, str | None]:
    """Who saved a version, as a file or a caller gives it: trimmed text, "" when absent;
    plus the problem when it is no savable text."""
    if raw is None:
        return "", None
    if not isinstance(raw, str):
        return "", "Author must be text."
    if not savable(raw):
        return "", f"Author {UNSAVABLE}."
    return " ".join(raw.split()), None


def content_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields a mapping (a version in a file, a form) holds, and no others."""
    return {key: item[key] for key in CONTENT_FIELDS if key in item}


def draft(fields: Mapping[str, Any], base: Template | None
          ) -> tuple[Template, dict[str, str]]:
    """The template `fields` would make (from `base`, or from scratch), plus type problems.

    Without explicit variables, a new body brings its variables along (see `sync_variables`).
    """
    unknown = sorted(set(fields) - set(CONTENT_FIELDS))
    if unknown:
        raise TypeError(f"Unknown template field(s): {', '.join(unknown)}")
    values, problems = coerce_fields(fields)
    start = base.content() if base else dict(BLANK_CONTENT)
    merged = {**start, **values}
    if "variables" not in values and (base is None or "body" in values):
        with contextlib.suppress(TemplateError):  # a malformed body is reported by validation
            merged["variables"] = sync_variables(merged["body"], merged["variables"])
    return Template(id=base.id if base else "", **merged), problems
