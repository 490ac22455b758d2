"""The prompt-template library: built-in templates, the team's own, their versions, import/export.

A `Template` is a prompt body with `{variables}` (each with an optional default and a hint),
a recommended duration and aspect ratio, a category and tags. `Template.render` fills the
variables; `{{` and `}}` write literal braces.

`TemplateLibrary` keeps the team's templates in `<data dir>/templates.json` next to the
read-only built-ins of `BUILTIN_TEMPLATES`. Every edit of a user template adds a version and
keeps the earlier ones, so they can be compared and restored; generations record a
template's id and version, so ids never change (`builtin-<slug>`, `tpl-<hex>`).

Several studio processes may share one data directory: every change is a read-modify-write
under a `filelock.FileLock`, written to a temporary file that is fsynced and then renamed
over the library, so a reader never sees half a file and concurrent saves never lose each
other's templates. Reads reload the file whenever its stat signature changed.

Every save first writes the same content to `templates.json.bak` (atomically too), so the
last library the studio saved survives whatever later happens to `templates.json` (a sync
tool cutting it short, a hand edit). A file that cannot be read is *damaged*: reading goes
on with the built-ins alone (`damage()` says what is wrong), every change and a full export
refuse with `TemplateError` so the file is never written over, and the team recovers with
`restore_backup()` (the last good copy comes back) or `set_aside_damaged()` (a fresh,
empty library); both keep the damaged file, renamed `templates.damaged-<UTC time>.json`.

Imports are untrusted: `preview_import` reads at most `MAX_IMPORT_BYTES` of UTF-8 JSON,
nested at most `MAX_JSON_DEPTH` deep, with numbers of at most `MAX_NUMBER_CHARS`
characters, and ends anything else (UTF-16, binary, `[[[[...`, a 5,000-digit number) in a
`TemplateError` with a plain message; `IMPORT_LIMITS_TEXT` states the limits for a page.

The file (and an export, which holds only current versions) looks like:

    {"format": "kling-studio-templates", "format_version": 1,
     "templates": [{"id": "tpl-1a2b3c4d5e6f",
                    "versions": [{"version": 1, "updated_at": "...", "name": "...",
                                  "category": "...", "description": "...", "body": "...",
                                  "variables": [{"name": "...", "default": "...", "hint": "..."}],
                                  "duration": "5", "aspect_ratio": "16:9", "tags": ["..."]}]}]}
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .errors import KlingError
from .models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS

CATEGORIES = ("Marketing", "Social media", "Product demo", "Storytelling", "Custom")
DEFAULT_CATEGORY = "Custom"

FILE_NAME = "templates.json"
#: The last good copy, next to the library: `templates.json.bak`.
BACKUP_SUFFIX = ".bak"
#: A damaged library set aside becomes `templates.damaged-<UTC time>.json`.
DAMAGED_PREFIX = "templates.damaged-"
FILE_FORMAT = "kling-studio-templates"
FORMAT_VERSION = 1

#: Megabytes as the studio's uploader counts them (1,048,576 bytes), so both agree.
MAX_IMPORT_MB = 1
MAX_IMPORT_BYTES = MAX_IMPORT_MB * 1024 * 1024
MAX_IMPORT_TEMPLATES = 500
#: The import limits, for a page to state before a file is picked.
IMPORT_LIMITS_TEXT = f"up to {MAX_IMPORT_MB} MB and {MAX_IMPORT_TEMPLATES} templates"
#: A template file nests 7 deep (file, list, template, versions, version, variables,
#: variable); past this a file is not a template file, whatever else it is.
MAX_JSON_DEPTH = 32
#: Longest number (in characters) a template file may hold: its numbers are 1, 5 or 10.
MAX_NUMBER_CHARS = 30
#: Longest piece of a file's own text quoted back in a message.
_MAX_QUOTE = 40
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 500
MAX_VARIABLES = 20
MAX_VARIABLE_NAME_CHARS = 40
MAX_HINT_CHARS = 200
MAX_TAGS = 12
MAX_TAG_CHARS = 30

#: What `apply_import` may do with a template whose name is already taken.
RESOLUTIONS = ("skip", "replace", "rename")

#: The fields a person edits; everything else (id, version, ...) the library manages.
CONTENT_FIELDS = ("name", "category", "description", "body", "variables", "duration",
                  "aspect_ratio", "tags")
FIELD_LABELS = {
    "name": "Name", "category": "Category", "description": "Description", "body": "Body",
    "variables": "Variables", "duration": "Duration", "aspect_ratio": "Aspect ratio",
    "tags": "Tags",
}

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# One token of a body: an escaped brace, a placeholder candidate, a stray brace, or text.
_BODY_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]|[^{}]+")


class TemplateError(KlingError):
    """A template could not be rendered, saved, found or imported; the message says why.

    `field_errors` maps a field (`name`, `body`, ...) to its problem when a template is
    invalid; `missing` names the variables a render lacked values for; `problems` lists
    everything wrong with an import file, each prefixed with its place (`templates[3].body`).
    """

    kind = "template"
    default_message = "The template could not be used."
    default_hint = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        field_errors: Mapping[str, str] | None = None,
        missing: Sequence[str] = (),
        problems: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        self.missing = tuple(missing)
        self.problems = tuple(problems)
        if message is None and self.field_errors:
            message = " ".join(self.field_errors.values())
        super().__init__(message, **kwargs)


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
            if not _VARIABLE_NAME.match(name) or len(name) > MAX_VARIABLE_NAME_CHARS:
                raise TemplateError(
                    f"'{{{_quote(name)}}}' at character {position} is not a valid variable name: "
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
        has neither a value nor a default (`err.missing`), or saying what is malformed.
        """
        text, missing = self._fill(values or {})
        if missing:
            described = []
            for name in missing:
                variable = self.variable(name)
                hint = variable.hint.rstrip(".") if variable and variable.hint else ""
                described.append(f"'{name}' ({hint})" if hint else f"'{name}'")
            raise TemplateError(
                f"Fill in {_join(described)}: {'it has' if len(missing) == 1 else 'they have'}"
                " no default.",
                missing=missing,
            )
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
            "updated_at": self.updated_at,
        }


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _quote(text: str, limit: int = _MAX_QUOTE) -> str:
    """`text` as quoted back in a message: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _savable(text: str) -> bool:
    """False for text holding half of a UTF-16 pair (`"\\ud800"` in JSON): it can be
    neither saved as UTF-8 nor shown."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_UNSAVABLE = "holds characters that are not valid text"


def _normalise_tags(raw: Iterable[str]) -> tuple[str, ...]:
    # Tags are filters, so "TikTok" and "tiktok " must be the same tag.
    tags = (" ".join(tag.split()).casefold() for tag in raw)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


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
        if not all(_savable(text) for text in (name, default or "", hint or "")):
            return None, f"{where} {_UNSAVABLE}."
        variables.append(TemplateVariable(name.strip(), default and default.strip(),
                                          (hint or "").strip()))
    return tuple(variables), None


def _coerce(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Loosely typed field values (a form, a JSON file) as Template values, plus type problems.

    Text is trimmed; a duration may be a number; tags may be a comma-separated string.
    """
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, raw in fields.items():
        label = FIELD_LABELS[key]
        if key in ("name", "category", "description", "body", "aspect_ratio"):
            if raw is None:
                raw = ""
            if not isinstance(raw, str):
                problems[key] = f"{label} must be text."
            elif not _savable(raw):
                problems[key] = f"{label} {_UNSAVABLE}."
            else:
                values[key] = raw.strip()
        elif key == "duration":
            if isinstance(raw, (str, int)) and not isinstance(raw, bool):
                values[key] = str(raw).strip()
            else:
                problems[key] = "Duration must be 5 or 10 seconds."
        elif key == "tags":
            if isinstance(raw, str):
                raw = raw.split(",")
            if not isinstance(raw, (list, tuple)) or not all(isinstance(tag, str)
                                                             for tag in raw):
                problems[key] = "Tags must be a list of words."
            elif not all(_savable(tag) for tag in raw):
                problems[key] = f"Tags {_UNSAVABLE}."
            else:
                values[key] = _normalise_tags(raw)
        else:
            variables, problem = _coerce_variables(raw)
            if problem:
                problems[key] = problem
            else:
                values[key] = variables
    return values, problems


def _check_variables(template: Template, used: Sequence[str]) -> str | None:
    problems = []
    names = [variable.name for variable in template.variables]
    if len(names) > MAX_VARIABLES:
        # Each of hundreds of names would add its own sentence: this one says enough.
        return f"Use at most {MAX_VARIABLES} variables; this template declares {len(names)}."
    for name in dict.fromkeys(names):
        if not _VARIABLE_NAME.match(name) or len(name) > MAX_VARIABLE_NAME_CHARS:
            problems.append(f"'{_quote(name)}' is not a valid variable name: use letters, "
                            "digits and underscores, starting with a letter.")
        elif names.count(name) > 1:
            problems.append(f"Variable '{name}' is declared twice.")
    undeclared = [name for name in used if name not in names]
    if undeclared:
        problems.append("The body uses " + _join([f"{{{n}}}" for n in undeclared])
                        + " without declaring " + ("it." if len(undeclared) == 1 else "them."))
    unused = [name for name in dict.fromkeys(names) if name not in used]
    if unused:
        problems.append("Declared but not used in the body: "
                        + _join([_quote(name) for name in unused]) + ".")
    for variable in template.variables:
        if len(variable.hint) > MAX_HINT_CHARS:
            problems.append(f"The hint of '{_quote(variable.name)}' is longer than "
                            f"{MAX_HINT_CHARS} characters.")
        if variable.default and len(variable.default) > MAX_PROMPT_CHARS:
            problems.append(f"The default of '{_quote(variable.name)}' is longer than "
                            f"{MAX_PROMPT_CHARS:,} characters.")
    return " ".join(problems) or None


def validate_template(template: Template, taken_names: Iterable[str] = ()) -> dict[str, str]:
    """Every problem with a template, as {field: message}; empty when it can be saved.

    `taken_names` are the names of the other templates of the library: names are unique
    regardless of case.
    """
    problems: dict[str, str] = {}
    name = template.name.strip()
    if not name:
        problems["name"] = "Name is required."
    elif len(name) > MAX_NAME_CHARS:
        problems["name"] = f"Name is {len(name)} characters; keep it to {MAX_NAME_CHARS}."
    elif name.casefold() in {taken.strip().casefold() for taken in taken_names}:
        problems["name"] = f"A template named '{name}' already exists: choose another name."
    if template.category not in CATEGORIES:
        problems["category"] = f"Category must be one of: {', '.join(CATEGORIES)}."
    if len(template.description) > MAX_DESCRIPTION_CHARS:
        problems["description"] = (f"Description is {len(template.description)} characters; "
                                   f"keep it to {MAX_DESCRIPTION_CHARS}.")
    if not template.body.strip():
        problems["body"] = "Body is empty: write the prompt, with {variables} where values go."
    elif len(template.body) > MAX_PROMPT_CHARS:
        problems["body"] = (f"Body is {len(template.body):,} characters; a prompt can be at "
                            f"most {MAX_PROMPT_CHARS:,}.")
    else:
        try:
            used = template.placeholders()
        except TemplateError as exc:
            problems["body"] = exc.message
        else:
            variable_problem = _check_variables(template, used)
            if variable_problem:
                problems["variables"] = variable_problem
    if template.duration not in DURATIONS:
        problems["duration"] = "Duration must be 5 or 10 seconds."
    if template.aspect_ratio not in ASPECT_RATIOS:
        problems["aspect_ratio"] = "Aspect ratio must be 16:9 (landscape) or 9:16 (portrait)."
    if len(template.tags) > MAX_TAGS:
        problems["tags"] = f"Use at most {MAX_TAGS} tags."
    elif any(len(tag) > MAX_TAG_CHARS for tag in template.tags):
        problems["tags"] = f"Keep each tag to {MAX_TAG_CHARS} characters."
    return problems


_BLANK_CONTENT: dict[str, Any] = {
    "name": "", "category": DEFAULT_CATEGORY, "description": "", "body": "", "variables": (),
    "duration": "5", "aspect_ratio": "16:9", "tags": (),
}


def _draft(fields: Mapping[str, Any], base: Template | None
           ) -> tuple[Template, dict[str, str]]:
    """The template `fields` would make (from `base`, or from scratch), plus type problems.

    Without explicit variables, a new body brings its variables along (see `sync_variables`).
    """
    unknown = sorted(set(fields) - set(CONTENT_FIELDS))
    if unknown:
        raise TypeError(f"Unknown template field(s): {', '.join(unknown)}")
    values, problems = _coerce(fields)
    start = base.content() if base else dict(_BLANK_CONTENT)
    merged = {**start, **values}
    if "variables" not in values and (base is None or "body" in values):
        with contextlib.suppress(TemplateError):  # a malformed body is reported by validation
            merged["variables"] = sync_variables(merged["body"], merged["variables"])
    draft = Template(id=base.id if base else "", **merged)
    return draft, problems


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _unique_name(name: str, label: str, taken: set[str]) -> str:
    """`name (label)`, `name (label 2)`, ... : the first not in `taken` (casefolded names)."""
    number = 1
    while True:
        suffix = f" ({label})" if number == 1 else f" ({label} {number})"
        candidate = name[:MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in taken:
            return candidate
        number += 1


# ---------------------------------------------------------------------------------------
# Built-in templates. Each follows the provider's advice (motion or action, a camera
# movement, pacing) and stays under 200 characters with its defaults; a test holds them to it.

_BUILTIN_UPDATED_AT = "2025-06-01T00:00:00+00:00"


def _builtin(slug: str, name: str, category: str, description: str, body: str,
             variables: Sequence[tuple[str, str, str]], duration: str, aspect_ratio: str,
             tags: Sequence[str]) -> Template:
    return Template(
        id=f"builtin-{slug}", name=name, category=category, description=description,
        body=body, variables=tuple(TemplateVariable(*v) for v in variables),
        duration=duration, aspect_ratio=aspect_ratio, tags=tuple(tags), builtin=True,
        version=1, updated_at=_BUILTIN_UPDATED_AT,
    )


BUILTIN_TEMPLATES: tuple[Template, ...] = (
    _builtin(
        "product-launch", "Product launch hero shot", "Marketing",
        "A dramatic reveal for a new product: it rises into the light as the camera moves in.",
        "{product} rises slowly out of {surface} as a beam of light sweeps across it, "
        "smooth dolly-in, slow motion, {lighting} lighting",
        [("product", "A sleek black smartwatch",
          "What you are launching, with one defining detail"),
         ("surface", "dark rippling water", "What it rises from: water, sand, smoke, a plinth"),
         ("lighting", "dramatic studio", "Light and mood, e.g. 'warm golden' or 'neon'")],
        "5", "16:9", ["launch", "hero", "product", "cinematic"]),
    _builtin(
        "seasonal-sale", "Seasonal sale", "Marketing",
        "A festive product moment for a seasonal campaign or sale.",
        "{product} on a festive table as {seasonal_touch} drift down around it, camera "
        "orbits slowly, gentle pace, {palette} colors",
        [("product", "A gift-wrapped perfume bottle", "The product on offer"),
         ("seasonal_touch", "snowflakes",
          "What falls around it: snowflakes, autumn leaves, petals, confetti"),
         ("palette", "warm red and gold", "The campaign's colors")],
        "5", "16:9", ["sale", "seasonal", "holiday", "product"]),
    _builtin(
        "customer-testimonial", "Customer testimonial b-roll", "Marketing",
        "Natural footage of a happy customer to cut under a quote or voice-over.",
        "{customer} smiles while using {product} in {setting}, handheld tracking shot, "
        "natural light, relaxed pace",
        [("customer", "A young woman", "Who the customer is"),
         ("product", "the app on her phone", "What they are using"),
         ("setting", "a sunny cafe", "Where it happens")],
        "5", "16:9", ["testimonial", "b-roll", "people", "lifestyle"]),
    _builtin(
        "event-recap", "Event recap", "Marketing",
        "The energy of a launch party, conference or show, seen from above the crowd.",
        "A crowd cheers at {event} as confetti falls, sweeping drone shot over the {venue}, "
        "fast-paced, {mood} atmosphere",
        [("event", "a rooftop launch party", "The event"),
         ("venue", "stage", "What the camera flies over: stage, dance floor, hall"),
         ("mood", "festive evening", "The atmosphere")],
        "10", "16:9", ["event", "recap", "crowd", "drone"]),
    _builtin(
        "tiktok-hook", "TikTok hook", "Social media",
        "A punchy first second that stops the scroll on TikTok, Reels or Shorts.",
        "{subject} bursts into frame toward the camera holding {item}, quick whip pan, "
        "fast-paced, bold {color} background",
        [("subject", "A grinning skateboarder", "Who or what jumps in"),
         ("item", "an iced coffee", "The product they show"),
         ("color", "yellow", "Background color, ideally your brand color")],
        "5", "9:16", ["tiktok", "hook", "reels", "shorts"]),
    _builtin(
        "unboxing-reveal", "Unboxing reveal", "Social media",
        "Hands unbox the product from above: the classic satisfying reveal.",
        "Hands open {box} and lift out {product}, top-down camera slowly pushes in, gentle "
        "pace, soft daylight on {surface}",
        [("box", "a matte white box", "The packaging"),
         ("product", "new wireless earbuds", "What comes out of the box"),
         ("surface", "a linen tablecloth", "What the box stands on")],
        "5", "9:16", ["unboxing", "reveal", "product", "reels"]),
    _builtin(
        "before-after", "Before and after", "Social media",
        "A time-lapse transformation from before to after, from a fixed viewpoint.",
        "{space} transforms from {before} to {after} in a time-lapse, static camera, "
        "satisfying steady rhythm",
        [("space", "A cluttered home office", "What changes: a room, a face, a garden"),
         ("before", "messy and dim", "How it looks before"),
         ("after", "tidy and bright", "How it looks after")],
        "5", "9:16", ["before-after", "transformation", "time-lapse", "makeover"]),
    _builtin(
        "behind-the-scenes", "Behind the scenes", "Social media",
        "A candid look at the team at work, for stories and reels.",
        "{team} at work in {place}, laughing and sketching ideas, handheld camera follows "
        "them, quick lively pace, warm light",
        [("team", "A small design team", "Who is at work"),
         ("place", "a sunlit studio", "Where they work")],
        "5", "9:16", ["behind-the-scenes", "team", "culture", "stories"]),
    _builtin(
        "travel-teaser", "Travel teaser", "Social media",
        "A traveler and a big reveal of the destination, for a vertical teaser.",
        "A traveler walks along {place} at golden hour, drone shot rises to reveal "
        "{landmark}, slow cinematic pace",
        [("place", "a cliffside path", "Where the traveler walks"),
         ("landmark", "a turquoise bay", "The destination revealed at the end")],
        "5", "9:16", ["travel", "teaser", "destination", "drone"]),
    _builtin(
        "food-closeup", "Food close-up", "Social media",
        "Mouth-watering food in slow motion, for restaurant and recipe reels.",
        "{dish} sizzling in a cast-iron skillet as {topping} pours over it, slow push-in, "
        "slow motion, steam rising in warm light",
        [("dish", "A juicy burger", "The dish"),
         ("topping", "melted cheese", "What pours over it: sauce, syrup, cheese")],
        "5", "9:16", ["food", "restaurant", "close-up", "reels"]),
    _builtin(
        "feature-closeup", "Feature close-up", "Product demo",
        "A macro look at one feature of the product in action.",
        "Macro close-up of {product} as its {feature} {action}, camera glides slowly across "
        "the surface, slow motion, clean studio light",
        [("product", "wireless earbuds", "The product"),
         ("feature", "charging case lid", "The feature to show"),
         ("action", "snaps open", "What the feature does, e.g. 'snaps open', 'lights up'")],
        "5", "16:9", ["feature", "macro", "detail", "product"]),
    _builtin(
        "product-360", "360° product spin", "Product demo",
        "The product turning on a turntable, every side in view: ideal for shop pages.",
        "{product} spins slowly on a turntable, camera orbits at eye level, steady pace, "
        "{background} background, crisp studio light",
        [("product", "A white running shoe", "The product"),
         ("background", "soft gray", "Background color")],
        "5", "16:9", ["360", "turntable", "e-commerce", "product"]),
    _builtin(
        "how-it-works", "How it works", "Product demo",
        "Hands show how the product is used, step by step, seen from above.",
        "Hands {action} {product} on {surface}, overhead tracking shot, clear step-by-step "
        "motion, steady unhurried pace",
        [("action", "assemble", "What the hands do, e.g. 'assemble', 'pour water into'"),
         ("product", "a pour-over coffee maker", "The product"),
         ("surface", "a kitchen counter", "Where it happens")],
        "10", "16:9", ["tutorial", "how-to", "demo", "hands"]),
    _builtin(
        "app-demo", "App on a phone", "Product demo",
        "A thumb scrolls through an app on a phone, for app store and social previews.",
        "A thumb scrolls through {app} on a phone, camera slowly pushes in over the shoulder, "
        "steady pace, {setting}",
        [("app", "a colorful budgeting app", "The app and what is on screen"),
         ("setting", "cozy evening light", "Light and place around the phone")],
        "5", "9:16", ["app", "phone", "demo", "ui"]),
    _builtin(
        "brand-story-opener", "Brand story opener", "Storytelling",
        "The first shot of a brand film: the founder and the place where it all starts.",
        "{founder} walks into an empty {place} at dawn as the lights flicker on one by one, "
        "slow tracking shot, calm pacing",
        [("founder", "A founder in a denim apron", "Who opens the story"),
         ("place", "workshop", "Where the brand was born")],
        "10", "16:9", ["brand", "story", "opener", "founder"]),
    _builtin(
        "day-in-the-life", "Day in the life", "Storytelling",
        "A character's whole day compressed into one flowing shot.",
        "{character} rides a bike through {city} from sunrise to dusk, camera tracks "
        "alongside, time-lapse, warm tones",
        [("character", "A young courier", "Whose day it is"),
         ("city", "busy city streets", "Where the day happens")],
        "10", "16:9", ["story", "lifestyle", "day-in-the-life", "time-lapse"]),
    _builtin(
        "quiet-moment", "Quiet moment", "Storytelling",
        "An emotional, reflective beat for the middle of a story.",
        "{character} gazes out a window as raindrops slide down the glass, slow push-in on "
        "their face, gentle melancholic pacing",
        [("character", "An old fisherman", "Who the moment belongs to")],
        "10", "16:9", ["emotional", "story", "cinematic", "portrait"]),
)

_BUILTINS_BY_ID = {template.id: template for template in BUILTIN_TEMPLATES}


# ---------------------------------------------------------------------------------------
# Import plans and diffs


@dataclass(frozen=True)
class ImportConflict:
    """A template in an import file whose name the library already uses."""

    name: str
    existing_id: str
    existing_builtin: bool

    @property
    def options(self) -> tuple[str, ...]:
        """The resolutions allowed: a built-in cannot be replaced."""
        return ("skip", "rename") if self.existing_builtin else RESOLUTIONS


@dataclass(frozen=True)
class ImportPlan:
    """A validated import file: the templates it holds and the names that conflict."""

    templates: tuple[Template, ...]
    conflicts: tuple[ImportConflict, ...]

    def conflict(self, name: str) -> ImportConflict | None:
        """The conflict for this template name, if it has one."""
        return next((c for c in self.conflicts if c.name.casefold() == name.casefold()), None)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs between two versions of a template."""

    field: str
    label: str
    old: Any
    new: Any


# ---------------------------------------------------------------------------------------
# A damaged library and its recovery


@dataclass(frozen=True)
class LibraryBackup:
    """The last good copy of the library: what the studio saved last."""

    path: Path
    #: The team's templates it holds.
    templates: int
    #: When it was written (UTC).
    saved_at: datetime


@dataclass(frozen=True)
class LibraryDamage:
    """Why the library file cannot be read, and what it can be recovered from."""

    path: Path
    #: A phrase that follows "The file": "is not valid JSON: ... at line 1, column 52".
    reason: str
    #: A newer Kling Studio wrote it: update this studio rather than set it aside.
    newer: bool
    #: The last good copy, when there is a readable one.
    backup: LibraryBackup | None


@dataclass(frozen=True)
class Recovery:
    """What `restore_backup` or `set_aside_damaged` did."""

    #: Where the damaged file is kept now.
    kept_as: Path
    #: Team templates brought back from the last good copy (0 when set aside).
    restored: int = 0


class _Unreadable(Exception):
    """Why some bytes are not a template file, as a phrase that follows "The file" or "it"
    ("is not valid JSON: ..."); `newer` when a newer studio wrote it."""

    def __init__(self, phrase: str, *, advice: str = "", newer: bool = False) -> None:
        super().__init__(phrase)
        self.phrase, self.advice, self.newer = phrase, advice, newer


_SAVE_AS_UTF8 = "Save it as UTF-8 in your editor and try again."
#: Byte-order marks of encodings other than UTF-8, longest first (UTF-32 LE starts with
#: the UTF-16 LE mark).
_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
#: A JSON string, or one bracket: all `_nesting_exceeds` needs to see.
_JSON_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _NumberTooLong(Exception):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _number(parse: Any) -> Any:
    def parse_number(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(len(text))
        return parse(text)
    return parse_number


_PARSE_INT, _PARSE_FLOAT = _number(int), _number(float)


def _nesting_exceeds(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than `limit`; a linear scan, so that
    `[[[[...` is refused before any recursive parser (or walker) meets it."""
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _load_json(data: bytes) -> Any:
    """The JSON value of `data` (UTF-8, a BOM allowed), or `_Unreadable` saying why not.

    Raises nothing else, whatever the bytes: not text, another encoding, empty, not JSON,
    nested past `MAX_JSON_DEPTH`, or numbers longer than `MAX_NUMBER_CHARS`.
    """
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise _Unreadable(f"is not UTF-8 text: it is saved as {encoding}",
                              advice=_SAVE_AS_UTF8)
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"is not UTF-8 text (unreadable byte at position {exc.start:,})",
                          advice=_SAVE_AS_UTF8) from None
    if not text.strip():
        raise _Unreadable("is empty")
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise _Unreadable(f"is nested too deeply (more than {MAX_JSON_DEPTH} levels of "
                          "brackets) to be a template file")
    try:
        return json.loads(text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT)
    except _NumberTooLong as exc:
        raise _Unreadable(f"holds a number {exc.digits:,} characters long; a template file's "
                          f"numbers are short, such as 1 or 10") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno:,}, column {exc.colno:,}"
        # The text ended inside a value, or inside a string that never closes.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise _Unreadable(f"is not valid JSON: it ends too early, as if cut short "
                              f"({where})") from None
        what = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise _Unreadable(f"is not valid JSON: {what} at {where}") from None
    except (ValueError, RecursionError):  # past the checks above all the same
        raise _Unreadable("is not a JSON file Kling Studio can read") from None


def _versions_from_json(data: bytes) -> dict[str, tuple[Template, ...]]:
    """The user templates of a library file; `_Unreadable` if it is damaged."""
    document = _load_json(data)
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise _Unreadable(f"is not a Kling Studio template library (\"format\": "
                          f"\"{FILE_FORMAT}\" is missing)")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _Unreadable("has no valid format_version")
    if version > FORMAT_VERSION:
        raise _Unreadable(f"was saved by a newer Kling Studio (format {version}; this studio "
                          f"reads format {FORMAT_VERSION})", newer=True)
    entries = document.get("templates")
    if not isinstance(entries, list):
        raise _Unreadable("has no list of templates")
    records: dict[str, tuple[Template, ...]] = {}
    for index, entry in enumerate(entries):
        where = f"templates[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("versions"), list) or not entry["versions"]:
            raise _Unreadable(f"has no id or no versions at {where}")
        versions = []
        for number, item in enumerate(entry["versions"]):
            if not isinstance(item, dict) or isinstance(item.get("version"), bool) \
                    or not isinstance(item.get("version"), int):
                raise _Unreadable(f"has no version number at {where}.versions[{number}]")
            values, problems = _coerce({k: item[k] for k in CONTENT_FIELDS if k in item})
            if problems:
                field, problem = next(iter(problems.items()))
                raise _Unreadable(f"has a bad {where}.versions[{number}].{field}: {problem}")
            versions.append(Template(id=entry["id"], **{**_BLANK_CONTENT, **values},
                                     version=item["version"],
                                     updated_at=str(item.get("updated_at", ""))))
        records[entry["id"]] = tuple(versions)
    return records


def _versions_to_json(records: Mapping[str, Sequence[Template]]) -> bytes:
    entries = []
    for template_id, versions in records.items():
        stored = []
        for template in versions:
            item = template.to_dict()
            stored.append({"version": item["version"], "updated_at": item["updated_at"],
                           **{key: item[key] for key in CONTENT_FIELDS}})
        entries.append({"id": template_id, "versions": stored})
    document = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION, "templates": entries}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file private (0600); the library is shared with the team.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # The rename itself survives a power cut only once the directory is synced too.
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _signature(stat: os.stat_result) -> tuple[int, ...]:
    # Every save renames a new file into place, so the inode changes along with the times.
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


# ---------------------------------------------------------------------------------------
# The library


class TemplateLibrary:
    """The built-in templates plus the team's own, stored in `<data_dir>/templates.json`.

    Safe to share between threads and between processes using the same data directory.
    Methods that take an id raise `TemplateError` when no such template exists.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, lock_timeout: float = 10.0) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / FILE_NAME
        #: The last good copy, rewritten before every save of the library.
        self.backup_path = self.data_dir / f"{FILE_NAME}{BACKUP_SUFFIX}"
        self._file_lock = FileLock(self.data_dir / f"{FILE_NAME}.lock", timeout=lock_timeout)
        self._mutex = threading.RLock()
        self._signature: tuple[int, ...] | None = None
        self._records: dict[str, tuple[Template, ...]] = {}
        self._problem: _Unreadable | None = None
        self._backup_cache: tuple[tuple[int, ...], LibraryBackup | None] | None = None
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self, older_than_s: float = 3600) -> None:
        """Delete temporary files of saves whose process was killed before the rename."""
        cutoff = time.time() - older_than_s
        for temporary in self.data_dir.glob(f".{FILE_NAME}.*.tmp"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except OSError:  # another studio removed it first, or it is not ours to remove
                continue

    # -- reading ----------------------------------------------------------------------

    def _read(self) -> tuple[dict[str, tuple[Template, ...]], _Unreadable | None]:
        """id -> versions (oldest first) of the user templates, reloaded if the file
        changed; with why the file cannot be read, when it cannot (the records are then
        empty).

        The returned dict is shared with the cache: callers copy it before changing it.
        """
        with self._mutex:
            problem: _Unreadable | None = None
            records: dict[str, tuple[Template, ...]] = {}
            try:
                with open(self.path, "rb") as stream:
                    signature: tuple[int, ...] | None = _signature(os.fstat(stream.fileno()))
                    if signature == self._signature:
                        return self._records, self._problem
                    data = stream.read()
            except FileNotFoundError:
                signature = ()
            except OSError as exc:  # not cached: a permission fixed is seen at once
                signature = None
                problem = _Unreadable(f"cannot be opened ({exc.strerror or exc})")
            else:
                try:
                    records = _versions_from_json(data)
                except _Unreadable as exc:
                    problem = exc
            self._signature, self._records, self._problem = signature, records, problem
            return records, problem

    def _user_records(self) -> dict[str, tuple[Template, ...]]:
        """The user templates; none while the file is damaged (see `damage`)."""
        return self._read()[0]

    def _refusal(self, problem: _Unreadable, action: str | None) -> TemplateError:
        """The error of what cannot be done while the file is damaged: `action` ("saved",
        ...) names what did not happen; None for a read."""
        head = f"The template library {self.path} cannot be read: it {problem.phrase}."
        if problem.newer:
            way_out = "Update this studio to use it."
        elif action is None:
            way_out = ("The team's templates are unavailable until it is restored from its "
                       "last good copy or set aside (Templates page).")
        else:
            way_out = "Restore its last good copy or set it aside first (Templates page)."
        done = "" if action is None else f" Nothing was {action}."
        return TemplateError(f"{head}{done} {way_out}")

    def damage(self) -> LibraryDamage | None:
        """What is wrong with the library file, or None when it reads (or does not exist).

        While it is damaged the studio reads the built-ins alone and changes nothing.
        """
        problem = self._read()[1]
        if problem is None:
            return None
        return LibraryDamage(path=self.path, reason=problem.phrase, newer=problem.newer,
                             backup=self._backup())

    def _backup(self) -> LibraryBackup | None:
        """The last good copy, if there is one and it reads; cached by its stat signature."""
        with self._mutex:
            try:
                with open(self.backup_path, "rb") as stream:
                    stat = os.fstat(stream.fileno())
                    signature = _signature(stat)
                    if self._backup_cache and self._backup_cache[0] == signature:
                        return self._backup_cache[1]
                    data = stream.read()
            except OSError:
                return None
            try:
                backup: LibraryBackup | None = LibraryBackup(
                    self.backup_path, len(_versions_from_json(data)),
                    datetime.fromtimestamp(stat.st_mtime, UTC))
            except _Unreadable:
                backup = None
            self._backup_cache = (signature, backup)
            return backup

    def all(self) -> list[Template]:
        """Every template, current versions: built-ins first, then the team's in creation order."""
        return self.builtins() + self.user_templates()

    def builtins(self) -> list[Template]:
        """The read-only built-in templates."""
        return list(BUILTIN_TEMPLATES)

    def user_templates(self) -> list[Template]:
        """The team's templates (current versions), in creation order; none while the file
        is damaged (`damage()` says why)."""
        return [versions[-1] for versions in self._user_records().values()]

    def get(self, template_id: str) -> Template:
        """The current version of a template."""
        return self.versions(template_id)[-1]

    def versions(self, template_id: str) -> list[Template]:
        """Every version of a template, oldest first (a built-in has one)."""
        if template_id in _BUILTINS_BY_ID:
            return [_BUILTINS_BY_ID[template_id]]
        records, problem = self._read()
        if problem is not None:
            raise self._refusal(problem, None)
        versions = records.get(template_id)
        if versions is None:
            raise TemplateError(f"There is no template with id '{template_id}'; it may have "
                                "been deleted.")
        return list(versions)

    def get_version(self, template_id: str, version: int) -> Template:
        """One version of a template."""
        versions = self.versions(template_id)
        for template in versions:
            if template.version == version:
                return template
        raise TemplateError(f"Template '{versions[-1].name}' has no version {version}.")

    def diff(self, template_id: str, version_a: int, version_b: int) -> list[FieldChange]:
        """The fields that differ from `version_a` (old) to `version_b` (new), in form order."""
        old = self.get_version(template_id, version_a)
        new = self.get_version(template_id, version_b)
        return [FieldChange(name, FIELD_LABELS[name], getattr(old, name), getattr(new, name))
                for name in CONTENT_FIELDS if getattr(old, name) != getattr(new, name)]

    def search(self, text: str = "", category: str | None = None,
               tags: Iterable[str] = ()) -> list[Template]:
        """Templates matching every word of `text` (in name, description, body, tags or
        category), of `category` if given, and carrying every one of `tags`."""
        words = text.casefold().split()
        wanted_tags = set(_normalise_tags(tags))
        found = []
        for template in self.all():
            haystack = " ".join((template.name, template.description, template.body,
                                 template.category, *template.tags)).casefold()
            if (all(word in haystack for word in words)
                    and (not category or template.category == category)
                    and wanted_tags <= set(template.tags)):
                found.append(template)
        return found

    def categories(self) -> list[str]:
        """The categories in use, in the order of `CATEGORIES`."""
        used = {template.category for template in self.all()}
        return [category for category in CATEGORIES if category in used]

    def tags(self) -> list[str]:
        """Every tag in use, sorted."""
        return sorted({tag for template in self.all() for tag in template.tags})

    def validate(self, fields: Mapping[str, Any], template_id: str | None = None
                 ) -> dict[str, str]:
        """The problems `create(**fields)`, or `update(template_id, **fields)`, would raise,
        as {field: message}; for checking a form as it is filled in."""
        base = self.get(template_id) if template_id else None
        draft, problems = _draft(fields, base)
        taken = self._taken_names(self._user_records(), exclude=template_id)
        return {**validate_template(draft, taken), **problems}

    @staticmethod
    def _taken_names(records: Mapping[str, Sequence[Template]],
                     exclude: str | None = None) -> set[str]:
        templates = [*BUILTIN_TEMPLATES, *(versions[-1] for versions in records.values())]
        return {t.name.casefold() for t in templates if t.id != exclude}

    # -- changing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, tuple[Template, ...]]]:
        """A private copy of the latest user records; saved when the block ends normally
        and changed something.

        Holding the file lock from read to write is what keeps two processes that save at
        once from overwriting each other; an exception in the block saves nothing.
        """
        with self._locked():
            before, problem = self._read()
            if problem is not None:
                raise self._refusal(problem, "saved")
            existed = bool(self._signature)
            records = dict(before)
            yield records
            if records == before:
                return
            data = _versions_to_json(records)
            try:
                # The copy first: whatever later happens to the library file, the
                # last save survives in it.
                _write_atomically(self.backup_path, data)
                try:
                    _write_atomically(self.path, data)
                except OSError:
                    if existed:  # the copy must not hold a change that was not saved
                        with contextlib.suppress(OSError):
                            _write_atomically(self.backup_path, _versions_to_json(before))
                    raise
                signature = _signature(os.stat(self.path))
            except OSError as exc:
                raise TemplateError(f"Could not save the template library to {self.path}: "
                                    f"{exc.strerror or exc}. Nothing was changed.") from exc
            # The lock is still held, so the file on disk is exactly what was written.
            self._signature, self._records, self._problem = signature, records, None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold this instance's mutex and the data directory's file lock."""
        with self._mutex:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._file_lock.acquire()
            except Timeout:
                raise TemplateError("Someone else is saving templates right now; try again "
                                    "in a moment.") from None
            except OSError as exc:
                raise TemplateError(f"Cannot write to {self.data_dir}: {exc.strerror}.") from None
            try:
                yield
            finally:
                self._file_lock.release()

    # -- recovering a damaged library -------------------------------------------------

    def _damaged_under_lock(self, action: str) -> tuple[_Unreadable, bytes]:
        """The damage and the damaged bytes, checked again under the lock: another studio
        may have recovered the file meanwhile."""
        self._signature = None  # read the file itself, not the cache
        problem = self._read()[1]
        if problem is None:
            raise TemplateError(f"The template library can be read (another studio may have "
                                f"recovered it meanwhile); nothing was {action}.")
        if problem.newer:
            raise TemplateError(f"The template library {problem.phrase}: update this studio "
                                f"to use it. Nothing was {action}.")
        try:
            return problem, self.path.read_bytes()
        except OSError as exc:
            raise TemplateError(f"Cannot read {self.path}: {exc.strerror or exc}. Nothing "
                                f"was {action}.") from None

    def _aside_path(self) -> Path:
        """A new `templates.damaged-<UTC time>[-n].json` (called under the lock)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        candidate = self.data_dir / f"{DAMAGED_PREFIX}{stamp}.json"
        number = 2
        while candidate.exists():
            candidate = self.data_dir / f"{DAMAGED_PREFIX}{stamp}-{number}.json"
            number += 1
        return candidate

    def set_aside_damaged(self) -> Recovery:
        """Rename the damaged library file to `templates.damaged-<UTC time>.json` (kept, in
        the data directory) so the team starts afresh with an empty library.

        The last good copy is left as it is until the next save replaces it. Raises
        `TemplateError` if the file reads (nothing to set aside), was written by a newer
        studio, or cannot be renamed; nothing changes then.
        """
        with self._locked():
            self._damaged_under_lock("moved")
            kept_as = self._aside_path()
            try:
                os.rename(self.path, kept_as)
            except OSError as exc:
                raise TemplateError(f"Could not rename {self.path}: {exc.strerror or exc}. "
                                    "Nothing was moved.") from None
            self._signature = None
        return Recovery(kept_as=kept_as)

    def restore_backup(self) -> Recovery:
        """Put the last good copy (`templates.json.bak`) back in place of the damaged
        library, keeping the damaged file as `templates.damaged-<UTC time>.json`.

        Raises `TemplateError` if the library reads, was written by a newer studio, or has
        no readable last good copy; nothing changes then.
        """
        with self._locked():
            _, damaged = self._damaged_under_lock("restored")
            try:
                data = self.backup_path.read_bytes()
            except FileNotFoundError:
                raise TemplateError("There is no last good copy to restore: set the damaged "
                                    "file aside to start afresh.") from None
            except OSError as exc:
                raise TemplateError(f"The last good copy cannot be read ({exc.strerror or exc});"
                                    " nothing was restored.") from None
            try:
                restored = len(_versions_from_json(data))
            except _Unreadable as exc:
                raise TemplateError(f"The last good copy cannot be read either: it "
                                    f"{exc.phrase}. Nothing was restored; set the damaged "
                                    "file aside to start afresh.") from None
            kept_as = self._aside_path()
            try:
                # A copy first, then the restore: at no moment is either file lost.
                _write_atomically(kept_as, damaged)
                _write_atomically(self.path, data)
            except OSError as exc:
                raise TemplateError(f"Could not restore the template library: "
                                    f"{exc.strerror or exc}.") from None
            self._signature = None
        return Recovery(kept_as=kept_as, restored=restored)

    @staticmethod
    def _editable(records: Mapping[str, Sequence[Template]], template_id: str,
                  action: str) -> Template:
        if template_id in _BUILTINS_BY_ID:
            name = _BUILTINS_BY_ID[template_id].name
            raise TemplateError(f"'{name}' is a built-in template and cannot be {action}: "
                                "duplicate it to make your own copy.")
        if template_id not in records:
            raise TemplateError(f"There is no template with id '{template_id}'; it may have "
                                "been deleted.")
        return records[template_id][-1]

    @staticmethod
    def _checked(draft: Template, problems: dict[str, str], taken: set[str]) -> Template:
        problems = {**validate_template(draft, taken), **problems}
        if problems:
            raise TemplateError(field_errors=problems)
        return draft

    @staticmethod
    def _new_id(records: Mapping[str, Any]) -> str:
        while True:
            template_id = f"tpl-{secrets.token_hex(6)}"
            if template_id not in records:
                return template_id

    def create(self, **fields: Any) -> Template:
        """Save a new user template (version 1) and return it.

        Fields: name and body are required; category (default "Custom"), description,
        variables (default: one per placeholder, without default), duration, aspect_ratio,
        tags. Raises `TemplateError` with `field_errors` if anything is invalid.
        """
        with self._editing() as records:
            draft, problems = _draft(fields, None)
            template = self._checked(draft, problems, self._taken_names(records))
            template = replace(template, id=self._new_id(records), version=1,
                               updated_at=_now())
            records[template.id] = (template,)
        return template

    def update(self, template_id: str, **fields: Any) -> Template:
        """Save changed fields of a user template as its next version, and return it.

        Earlier versions are kept. Saving without any change returns the current version
        and adds none. A changed body without explicit variables brings its variables
        along. Built-ins cannot be edited.
        """
        with self._editing() as records:
            current = self._editable(records, template_id, "edited")
            draft, problems = _draft(fields, current)
            draft = self._checked(draft, problems,
                                  self._taken_names(records, exclude=template_id))
            if draft.content() == current.content():
                return current
            template = replace(draft, version=current.version + 1, updated_at=_now())
            records[template_id] = (*records[template_id], template)
        return template

    def duplicate(self, template_id: str, new_name: str | None = None) -> Template:
        """Copy a template (built-ins too) into a new user template.

        Without `new_name` the copy is called "<name> (copy)", "<name> (copy 2)", ...
        """
        source = self.get(template_id)
        with self._editing() as records:
            taken = self._taken_names(records)
            name = new_name if new_name and new_name.strip() else _unique_name(
                source.name, "copy", taken)
            draft, problems = _draft({**source.content(), "name": name}, None)
            template = self._checked(draft, problems, taken)
            template = replace(template, id=self._new_id(records), version=1,
                               updated_at=_now())
            records[template.id] = (template,)
        return template

    def delete(self, template_id: str) -> None:
        """Delete a user template with all its versions. Built-ins cannot be deleted."""
        with self._editing() as records:
            self._editable(records, template_id, "deleted")
            del records[template_id]

    def restore(self, template_id: str, version: int) -> Template:
        """Make an earlier version current again, as a new version equal to it.

        Restoring the current version changes nothing and returns it.
        """
        old = self.get_version(template_id, version)
        return self.update(template_id, **old.content())

    # -- import and export ------------------------------------------------------------

    def export_json(self, ids: Iterable[str] | None = None) -> bytes:
        """A JSON file of the current versions of the team's templates, or of `ids`
        (built-ins included), ready for `preview_import` here or in another studio."""
        if ids is None:
            records, problem = self._read()
            if problem is not None:  # an export of nothing would look like a backup
                raise self._refusal(problem, "exported")
            templates = [versions[-1] for versions in records.values()]
        else:
            templates = [self.get(i) for i in ids]
        document = {
            "format": FILE_FORMAT, "format_version": FORMAT_VERSION, "exported_at": _now(),
            "templates": [template.to_dict() for template in templates],
        }
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def preview_import(self, data: bytes | str) -> ImportPlan:
        """Validate an import file completely and list the names it shares with the library.

        Changes nothing. Raises `TemplateError` saying what is wrong and where (every
        problem in `err.problems`). Accepts an export or a library file (current versions).
        """
        templates = _templates_from_import(data)
        current = {t.name.casefold(): t for t in self.all()}
        conflicts = tuple(
            ImportConflict(t.name, current[t.name.casefold()].id,
                           current[t.name.casefold()].builtin)
            for t in templates if t.name.casefold() in current)
        return ImportPlan(templates=templates, conflicts=conflicts)

    def apply_import(self, plan: ImportPlan,
                     resolution: Mapping[str, str] | None = None) -> list[Template]:
        """Add the templates of `plan`, resolving each name conflict as `resolution` says:
        {name: "skip" | "replace" | "rename"}. "replace" saves the imported template as a
        new version of the existing one; "rename" adds it as "<name> (imported)".

        Conflicts are checked again against the library as it is now. All or nothing: if
        any conflict is unresolved or a choice is not allowed, `TemplateError` is raised and
        the library is unchanged. Returns the templates added or replaced.
        """
        choices = {name.casefold(): choice for name, choice in (resolution or {}).items()}
        wrong = sorted({choice for choice in choices.values() if choice not in RESOLUTIONS})
        if wrong:
            raise TemplateError(f"Unknown choice {_join(wrong)}: use skip, replace or rename.")
        saved: list[Template] = []
        with self._editing() as records:
            current = {t.name.casefold(): t for t in
                       [*BUILTIN_TEMPLATES, *(v[-1] for v in records.values())]}
            unresolved = [t.name for t in plan.templates
                          if t.name.casefold() in current and t.name.casefold() not in choices]
            if unresolved:
                raise TemplateError(f"Choose skip, replace or rename for {_join(unresolved)}: "
                                    "a template with that name already exists.")
            # Renamed copies must not take the name of another template of the same file.
            taken = set(current) | {t.name.casefold() for t in plan.templates}
            for incoming in plan.templates:
                key = incoming.name.casefold()
                existing = current.get(key)
                if existing is None:
                    name = incoming.name
                elif choices[key] == "skip":
                    continue
                elif choices[key] == "replace":
                    saved.append(self._replace_from_import(records, existing, incoming))
                    continue
                else:
                    name = _unique_name(incoming.name, "imported", taken)
                template = replace(incoming, id=self._new_id(records), name=name, version=1,
                                   updated_at=_now())
                records[template.id] = (template,)
                taken.add(name.casefold())
                saved.append(template)
        return saved

    @staticmethod
    def _replace_from_import(records: dict[str, tuple[Template, ...]],
                             existing: Template, incoming: Template) -> Template:
        if existing.builtin:
            raise TemplateError(f"'{existing.name}' is a built-in template and cannot be "
                                "replaced: choose skip or rename.")
        # The existing name is kept (it may differ in case) so links and searches still fit.
        incoming = replace(incoming, name=existing.name)
        if incoming.content() == existing.content():
            return existing
        template = replace(incoming, id=existing.id, version=existing.version + 1,
                           updated_at=_now())
        records[existing.id] = (*records[existing.id], template)
        return template


def _templates_from_import(data: bytes | str) -> tuple[Template, ...]:
    """Parse and validate an import file completely, or raise `TemplateError` saying why."""
    if isinstance(data, str):
        if not _savable(data):
            raise TemplateError(f"The file {_UNSAVABLE}.")
        data = data.encode("utf-8")
    if len(data) > MAX_IMPORT_BYTES:
        raise TemplateError(f"The file is too big ({len(data):,} bytes); the limit is "
                            f"{MAX_IMPORT_MB} MB.")
    try:
        document = _load_json(bytes(data))
    except _Unreadable as exc:
        raise TemplateError(f"The file {exc.phrase}. {exc.advice}".strip()) from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise TemplateError("This is not a Kling Studio template file: it should be a JSON "
                            f"object with \"format\": \"{FILE_FORMAT}\".")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TemplateError("format_version should be a whole number such as 1.")
    if version > FORMAT_VERSION:
        raise TemplateError(f"The file was made by a newer Kling Studio (format {version}); "
                            f"this one reads format {FORMAT_VERSION}.")
    entries = document.get("templates")
    if not isinstance(entries, list):
        raise TemplateError("templates should be a list of templates.")
    if not entries:
        raise TemplateError("The file holds no templates.")
    if len(entries) > MAX_IMPORT_TEMPLATES:
        raise TemplateError(f"The file holds {len(entries)} templates; import at most "
                            f"{MAX_IMPORT_TEMPLATES} at a time.")

    problems: list[str] = []
    templates: list[Template] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"templates[{index}]"
        # A library file keeps every version; its current one is what gets imported.
        if isinstance(entry, dict) and isinstance(entry.get("versions"), list) \
                and entry["versions"]:
            where = f"{where}.versions[{len(entry['versions']) - 1}]"
            entry = entry["versions"][-1]
        if not isinstance(entry, dict):
            problems.append(f"{where} should be an object with a name and a body.")
            continue
        draft, entry_problems = _draft({k: entry[k] for k in CONTENT_FIELDS if k in entry},
                                       None)
        entry_problems = {**validate_template(draft), **entry_problems}
        key = draft.name.casefold()
        if "name" not in entry_problems and key in first_index:
            entry_problems["name"] = (f"'{draft.name}' appears twice in the file (also "
                                      f"templates[{first_index[key]}]).")
        first_index.setdefault(key, index)
        problems.extend(f"{where}.{field}: {message}"
                        for field, message in entry_problems.items())
        templates.append(draft)
    if problems:
        shown = " ".join(problems[:5])
        more = f" ...and {len(problems) - 5} more." if len(problems) > 5 else ""
        raise TemplateError(f"The file cannot be imported; nothing was changed. {shown}{more}",
                            problems=problems)
    return tuple(templates)
