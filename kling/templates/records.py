"""The team's templates as the library holds them: each id with its versions, oldest first,
and how a template joins them. Ids never change (`tpl-<hex>`), because generations record
a template's id and version."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from .builtin import BUILTIN_TEMPLATES
from .model import Template
from .validation import MAX_NAME_CHARS

#: id -> every version of that template, oldest first.
Records = dict[str, tuple[Template, ...]]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_versions(records: Mapping[str, Sequence[Template]]) -> list[Template]:
    """The current version of each of the team's templates, in creation order."""
    return [versions[-1] for versions in records.values()]


def in_use(records: Mapping[str, Sequence[Template]]) -> list[Template]:
    """Every template a new name may clash with: the built-ins and the team's."""
    return [*BUILTIN_TEMPLATES, *current_versions(records)]


def _new_id(records: Mapping[str, object]) -> str:
    while True:
        template_id = f"tpl-{secrets.token_hex(6)}"
        if template_id not in records:
            return template_id


def add_template(records: Records, template: Template, *, author: str) -> Template:
    """Add `template` as a new team template (a fresh id, version 1) saved by `author`, and
    return it."""
    added = replace(template, id=_new_id(records), version=1, updated_at=now(), author=author)
    records[added.id] = (added,)
    return added


def add_version(records: Records, current: Template, changed: Template, *,
                author: str) -> Template:
    """Add `changed` as the version after `current`, under its id, saved by `author`, and
    return it."""
    added = replace(changed, id=current.id, version=current.version + 1, updated_at=now(),
                    author=author)
    records[current.id] = (*records[current.id], added)
    return added


def unique_name(name: str, label: str, taken: set[str]) -> str:
    """`name (label)`, `name (label 2)`, ... : the first not in `taken` (casefolded names)."""
    number = 1
    while True:
        suffix = f" ({label})" if number == 1 else f" ({label} {number})"
        candidate = name[:MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in taken:
            return candidate
        number += 1
