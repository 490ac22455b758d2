"""The JSON document of a template library, as `templates.json`, its backup and an export
hold it.

The file (and an export, which holds only current versions) looks like:

    {"format": "kling-studio-templates", "format_version": 1,
     "templates": [{"id": "tpl-1a2b3c4d5e6f",
                    "versions": [{"version": 1, "updated_at": "...", "author": "...",
                                  "name": "...", "category": "...", "description": "...",
                                  "body": "...",
                                  "variables": [{"name": "...", "default": "...", "hint": "..."}],
                                  "duration": "5", "aspect_ratio": "16:9", "tags": ["..."]}]}]}

`author` is who saved the version; files written before authors were recorded lack it,
which reads as "" (unknown), so they stay readable in format 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .fields import BLANK_CONTENT, coerce_author, coerce_fields, content_of
from .model import Template
from .records import Records
from .safe_json import Unreadable, load_json

FILE_FORMAT = "kling-studio-templates"
FORMAT_VERSION = 1


def encode_document(templates: Sequence[Mapping[str, Any]], **header: Any) -> bytes:
    """A document of this format holding `templates`, after any `header` fields."""
    document = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION, **header,
                "templates": list(templates)}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


class WrongDocument(Exception):
    """What makes a JSON value no document of this format: `part` is "format",
    "format_version", "newer" (a later format, `version`, that this studio cannot read)
    or "templates" (no list of them)."""

    def __init__(self, part: str, version: int = FORMAT_VERSION) -> None:
        super().__init__(part)
        self.part, self.version = part, version

    def describe(self, messages: Mapping[str, str]) -> str:
        """The message of `messages` for this part, with `{version}` and `{current}` filled."""
        return messages[self.part].format(version=self.version, current=FORMAT_VERSION)


def entries_of(document: Any) -> list[Any]:
    """The template entries of a document of this format, or `WrongDocument`."""
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise WrongDocument("format")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise WrongDocument("format_version")
    if version > FORMAT_VERSION:
        raise WrongDocument("newer", version)
    entries = document.get("templates")
    if not isinstance(entries, list):
        raise WrongDocument("templates")
    return entries


#: Why a library file is damaged, as phrases that follow "The file".
_DAMAGED = {
    "format": (f"is not a Kling Studio template library (\"format\": \"{FILE_FORMAT}\" "
               "is missing)"),
    "format_version": "has no valid format_version",
    "newer": ("was saved by a newer Kling Studio (format {version}; this studio reads "
              "format {current})"),
    "templates": "has no list of templates",
}


def versions_from_json(data: bytes) -> Records:
    """The team's templates of a library file; `Unreadable` if it is damaged."""
    try:
        entries = entries_of(load_json(data))
    except WrongDocument as exc:
        raise Unreadable(exc.describe(_DAMAGED), newer=exc.part == "newer") from None
    records: Records = {}
    for index, entry in enumerate(entries):
        where = f"templates[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("versions"), list) or not entry["versions"]:
            raise Unreadable(f"has no id or no versions at {where}")
        versions = []
        for number, item in enumerate(entry["versions"]):
            if not isinstance(item, dict) or isinstance(item.get("version"), bool) \
                    or not isinstance(item.get("version"), int):
                raise Unreadable(f"has no version number at {where}.versions[{number}]")
            values, problems = coerce_fields(content_of(item))
            author, problem = coerce_author(item.get("author"))
            if problem:
                problems["author"] = problem
            if problems:
                field, problem = next(iter(problems.items()))
                raise Unreadable(f"has a bad {where}.versions[{number}].{field}: {problem}")
            versions.append(Template(id=entry["id"], **{**BLANK_CONTENT, **values},
                                     version=item["version"],
                                     updated_at=str(item.get("updated_at", "")),
                                     author=author))
        records[entry["id"]] = tuple(versions)
    return records


def versions_to_json(records: Mapping[str, Sequence[Template]]) -> bytes:
    entries = []
    for template_id, versions in records.items():
        stored = []
        for template in versions:
            item = template.to_dict()
            stored.append({"version": item["version"], "updated_at": item["updated_at"],
                           "author": item["author"], **content_of(item)})
        entries.append({"id": template_id, "versions": stored})
    return encode_document(entries)
