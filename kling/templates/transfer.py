"""Moving templates between studios: an export file, and an import read, checked, and
merged into the library with each name conflict resolved as the person chose.

Imports are untrusted: `plan_import` (behind `TemplateLibrary.preview_import`) reads at
most `MAX_IMPORT_BYTES` of UTF-8 JSON, nested at most `MAX_JSON_DEPTH` deep, with numbers
of at most `MAX_NUMBER_CHARS` characters (see `kling.templates.safe_json`), and ends
anything else (UTF-16, binary, `[[[[...`, a 5,000-digit number) in a `TemplateError` with a
plain message; `IMPORT_LIMITS_TEXT` states the limits for a page. An export holds the
current version of each template, with its author; a library file itself can be imported
too (its current versions). An imported template keeps the author its file names, so a
template shared between studios still says who wrote it; one without is the importer's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ..errors import TemplateError
from .fields import UNSAVABLE, coerce_author, content_of, draft, savable
from .file_format import FILE_FORMAT, WrongDocument, encode_document, entries_of
from .model import Template
from .records import Records, add_template, add_version, in_use, now, unique_name
from .safe_json import Unreadable, load_json
from .validation import validate_template
from ..wording import join_names

#: Megabytes as the studio's uploader counts them (1,048,576 bytes), so both agree.
MAX_IMPORT_MB = 1
MAX_IMPORT_BYTES = MAX_IMPORT_MB * 1024 * 1024
MAX_IMPORT_TEMPLATES = 500
#: The import limits, for a page to state before a file is picked.
IMPORT_LIMITS_TEXT = f"up to {MAX_IMPORT_MB} MB and {MAX_IMPORT_TEMPLATES} templates"
#: What `apply_import` may do with a template whose name is already taken.
RESOLUTIONS = ("skip", "replace", "rename")
#: Why a file is not an import file of this studio, as whole sentences.
_WRONG_FILE = {
    "format": ("This is not a Kling Studio template file: it should be a JSON object with "
               f"\"format\": \"{FILE_FORMAT}\"."),
    "format_version": "format_version should be a whole number such as 1.",
    "newer": ("The file was made by a newer Kling Studio (format {version}); this one reads "
              "format {current}."),
    "templates": "templates should be a list of templates.",
}
#: How many of an import file's problems its error message spells out.
_PROBLEMS_IN_MESSAGE = 5


@dataclass(frozen=True)
class ImportConflict:
    """A template in an import file whose name the library already uses."""

    name: str
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


def export_json(templates: Iterable[Template]) -> bytes:
    """An export file of `templates`, ready for `plan_import` here or in another studio."""
    return encode_document([template.to_dict() for template in templates],
                           exported_at=now())


def _import_entries(data: bytes | str) -> list[object]:
    """The template entries of an import file, or `TemplateError` saying why there are none."""
    if isinstance(data, str):
        if not savable(data):
            raise TemplateError(f"The file {UNSAVABLE}.")
        data = data.encode("utf-8")
    if len(data) > MAX_IMPORT_BYTES:
        raise TemplateError(f"The file is too big ({len(data):,} bytes); the limit is "
                            f"{MAX_IMPORT_MB} MB.")
    try:
        document = load_json(bytes(data))
    except Unreadable as exc:
        raise TemplateError(f"The file {exc.phrase}. {exc.advice}".strip()) from None
    try:
        entries = entries_of(document)
    except WrongDocument as exc:
        raise TemplateError(exc.describe(_WRONG_FILE)) from None
    if not entries:
        raise TemplateError("The file holds no templates.")
    if len(entries) > MAX_IMPORT_TEMPLATES:
        raise TemplateError(f"The file holds {len(entries)} templates; import at most "
                            f"{MAX_IMPORT_TEMPLATES} at a time.")
    return entries


def read_import(data: bytes | str) -> tuple[Template, ...]:
    """Parse and validate an import file completely, or raise `TemplateError` saying why
    (every problem in `err.problems`, each with its place)."""
    problems: list[str] = []
    templates: list[Template] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(_import_entries(data)):
        where = f"templates[{index}]"
        # A library file keeps every version; its current one is what gets imported.
        if isinstance(entry, dict) and isinstance(entry.get("versions"), list) \
                and entry["versions"]:
            where = f"{where}.versions[{len(entry['versions']) - 1}]"
            entry = entry["versions"][-1]
        if not isinstance(entry, dict):
            problems.append(f"{where} should be an object with a name and a body.")
            continue
        template, entry_problems = draft(content_of(entry), None)
        author, problem = coerce_author(entry.get("author"))
        if problem:
            entry_problems["author"] = problem
        template = replace(template, author=author)
        entry_problems = {**validate_template(template), **entry_problems}
        key = template.name.casefold()
        if "name" not in entry_problems and key in first_index:
            entry_problems["name"] = (f"'{template.name}' appears twice in the file (also "
                                      f"templates[{first_index[key]}]).")
        first_index.setdefault(key, index)
        problems.extend(f"{where}.{field}: {message}"
                        for field, message in entry_problems.items())
        templates.append(template)
    if problems:
        shown = " ".join(problems[:_PROBLEMS_IN_MESSAGE])
        left = len(problems) - _PROBLEMS_IN_MESSAGE
        more = f" ...and {left} more." if left > 0 else ""
        raise TemplateError(f"The file cannot be imported; nothing was changed. {shown}{more}",
                            problems=problems)
    return tuple(templates)


def plan_import(data: bytes | str, existing: Iterable[Template]) -> ImportPlan:
    """The templates of an import file (see `read_import`), and those whose names are
    among the `existing` templates'."""
    templates = read_import(data)
    current = {template.name.casefold(): template for template in existing}
    conflicts = tuple(ImportConflict(t.name, current[t.name.casefold()].builtin)
                      for t in templates if t.name.casefold() in current)
    return ImportPlan(templates=templates, conflicts=conflicts)


def choices_of(resolution: Mapping[str, str] | None) -> dict[str, str]:
    """{casefolded name: choice} of a person's resolution; `TemplateError` if a choice is
    not one of `RESOLUTIONS`."""
    choices = {name.casefold(): choice for name, choice in (resolution or {}).items()}
    wrong = sorted({choice for choice in choices.values() if choice not in RESOLUTIONS})
    if wrong:
        raise TemplateError(f"Unknown choice {join_names(wrong)}: use skip, replace or rename.")
    return choices


def merge_import(records: Records, plan: ImportPlan, choices: Mapping[str, str], *,
                 author: str) -> list[Template]:
    """Add the templates of `plan` to `records`, each conflict resolved by `choices` (see
    `choices_of`): "replace" adds the imported template as a new version of the existing
    one, "rename" adds it as "<name> (imported)". Each is authored as its file says, else
    by `author`.

    Conflicts are checked again against `records` as they are now. Raises `TemplateError`
    if one is unresolved or a built-in would be replaced, after which `records` must be
    dropped. Returns the templates added or replaced.
    """
    current = {template.name.casefold(): template for template in in_use(records)}
    unresolved = [t.name for t in plan.templates
                  if t.name.casefold() in current and t.name.casefold() not in choices]
    if unresolved:
        raise TemplateError(f"Choose skip, replace or rename for {join_names(unresolved)}: "
                            "a template with that name already exists.")
    # Renamed copies must not take the name of another template of the same file.
    taken = set(current) | {t.name.casefold() for t in plan.templates}
    saved: list[Template] = []
    for incoming in plan.templates:
        by = incoming.author or author
        key = incoming.name.casefold()
        existing = current.get(key)
        if existing is None:
            name = incoming.name
        elif choices[key] == "skip":
            continue
        elif choices[key] == "replace":
            saved.append(_replace_with(records, existing, incoming, author=by))
            continue
        else:
            name = unique_name(incoming.name, "imported", taken)
        saved.append(add_template(records, replace(incoming, name=name), author=by))
        taken.add(name.casefold())
    return saved


def _replace_with(records: Records, existing: Template, incoming: Template, *,
                  author: str) -> Template:
    if existing.builtin:
        raise TemplateError(f"'{existing.name}' is a built-in template and cannot be "
                            "replaced: choose skip or rename.")
    # The existing name is kept (it may differ in case) so links and searches still fit.
    incoming = replace(incoming, name=existing.name)
    if incoming.content() == existing.content():
        return existing
    return add_version(records, existing, incoming, author=author)
