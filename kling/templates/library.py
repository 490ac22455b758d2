"""`TemplateLibrary`: the templates a person browses, uses and edits; the built-ins and the
team's own, with every version of the team's.

`TemplateLibrary` keeps the team's templates in `<data dir>/templates.json` (see
`kling.templates.library_file`) next to the read-only built-ins of `BUILTIN_TEMPLATES`.
Every edit of a user template adds a version and keeps the earlier ones, so they can be
compared and restored; generations record a template's id and version, so ids never change
(`builtin-<slug>`, `tpl-<hex>`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .builtin import BUILTIN_TEMPLATES, BUILTINS_BY_ID
from ..errors import TemplateError
from .fields import coerce_author, draft
from .library_file import LibraryDamage, LibraryFile, Recovery
from .model import CATEGORIES, FieldChange, Template, changes_between, normalise_tags
from .records import (
    Records,
    add_template,
    add_version,
    current_versions,
    in_use,
    unique_name,
)
from .transfer import ImportPlan, choices_of, export_json, merge_import, plan_import
from .validation import validate_template


class TemplateLibrary:
    """The built-in templates plus the team's own, stored in `<data_dir>/templates.json`.

    Safe to share between threads and between processes using the same data directory.
    Methods that take an id raise `TemplateError` when no such template exists. While the
    file is damaged (`damage()` says why) the team's templates read as none and every
    change refuses, so the file is never written over.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, lock_timeout: float = 10.0,
                 records: Any = None) -> None:
        #: Where the team's records live: `templates.json`, or what `records` names
        #: (`kling.db.templates.LibraryRow`, in a team database) with the same methods.
        self._file = records or LibraryFile(Path(data_dir), lock_timeout=lock_timeout)

    @property
    def data_dir(self) -> Path:
        return self._file.data_dir

    @property
    def storage(self) -> Any:
        """Where the team's records live: the `LibraryFile`, or what `records` named."""
        return self._file

    @property
    def path(self) -> Path:
        """The library file, `templates.json`."""
        return self._file.path

    @property
    def backup_path(self) -> Path:
        """The last good copy, rewritten before every save of the library."""
        return self._file.backup_path

    # -- reading ----------------------------------------------------------------------

    def all(self) -> list[Template]:
        """Every template, current versions: built-ins first, then the team's in creation order."""
        return self.builtins() + self.user_templates()

    def builtins(self) -> list[Template]:
        """The read-only built-in templates."""
        return list(BUILTIN_TEMPLATES)

    def user_templates(self) -> list[Template]:
        """The team's templates (current versions), in creation order; none while the file
        is damaged (`damage()` says why)."""
        return current_versions(self._file.read()[0])

    def get(self, template_id: str) -> Template:
        """The current version of a template."""
        return self.versions(template_id)[-1]

    def versions(self, template_id: str) -> list[Template]:
        """Every version of a template, oldest first (a built-in has one), each with its
        `author` ("" for a built-in, or a version saved before authors were recorded)."""
        if template_id in BUILTINS_BY_ID:
            return [BUILTINS_BY_ID[template_id]]
        versions = self._file.readable().get(template_id)
        if versions is None:
            raise _no_such(template_id)
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
        return changes_between(self.get_version(template_id, version_a),
                               self.get_version(template_id, version_b))

    def search(self, text: str = "", category: str | None = None,
               tags: Iterable[str] = ()) -> list[Template]:
        """Templates matching every word of `text` (in name, description, body, tags or
        category), of `category` if given, and carrying every one of `tags`."""
        words = text.casefold().split()
        wanted_tags = set(normalise_tags(tags))
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
        template, problems = draft(fields, base)
        taken = _taken_names(self._file.read()[0], exclude=template_id)
        return {**validate_template(template, taken), **problems}

    def damage(self) -> LibraryDamage | None:
        """What is wrong with the library file, or None when it reads (or does not exist).

        While it is damaged the studio reads the built-ins alone and changes nothing.
        """
        return self._file.damage()

    # -- changing ---------------------------------------------------------------------

    def create(self, *, author: str = "", **fields: Any) -> Template:
        """Save a new user template (version 1), authored by `author`, and return it.

        Fields: name and body are required; category (default "Custom"), description,
        variables (default: one per placeholder, without default), duration, aspect_ratio,
        tags. Raises `TemplateError` with `field_errors` if anything is invalid.
        """
        author = _checked_author(author)
        with self._file.editing() as records:
            template = _checked(*draft(fields, None), _taken_names(records))
            return add_template(records, template, author=author)

    def update(self, template_id: str, *, author: str = "", **fields: Any) -> Template:
        """Save changed fields of a user template as its next version, authored by
        `author`, and return it.

        Earlier versions are kept. Saving without any change returns the current version
        (with its own author) and adds none. A changed body without explicit variables
        brings its variables along. Built-ins cannot be edited.
        """
        author = _checked_author(author)
        with self._file.editing() as records:
            current = _editable(records, template_id, "edited")
            changed = _checked(*draft(fields, current),
                               _taken_names(records, exclude=template_id))
            if changed.content() == current.content():
                return current
            return add_version(records, current, changed, author=author)

    def duplicate(self, template_id: str, new_name: str | None = None, *,
                  author: str = "") -> Template:
        """Copy a template (built-ins too) into a new user template authored by `author`,
        the person who copied it.

        Without `new_name` the copy is called "<name> (copy)", "<name> (copy 2)", ...
        """
        author = _checked_author(author)
        source = self.get(template_id)
        with self._file.editing() as records:
            taken = _taken_names(records)
            name = new_name if new_name and new_name.strip() else unique_name(
                source.name, "copy", taken)
            template = _checked(*draft({**source.content(), "name": name}, None), taken)
            return add_template(records, template, author=author)

    def delete(self, template_id: str) -> None:
        """Delete a user template with all its versions. Built-ins cannot be deleted."""
        with self._file.editing() as records:
            _editable(records, template_id, "deleted")
            del records[template_id]

    def restore(self, template_id: str, version: int, *, author: str = "") -> Template:
        """Make an earlier version current again, as a new version equal to it, authored by
        `author`: the one who chose to bring it back (the old version keeps its own author).

        Restoring the current version changes nothing and returns it.
        """
        old = self.get_version(template_id, version)
        return self.update(template_id, author=author, **old.content())

    # -- recovering a damaged library (see `kling.templates.library_file`) ------------

    def set_aside_damaged(self) -> Recovery:
        """Rename the damaged library file to `templates.damaged-<UTC time>.json` (kept, in
        the data directory) so the team starts afresh with an empty library."""
        return self._file.set_aside_damaged()

    def restore_backup(self) -> Recovery:
        """Put the last good copy back in place of the damaged library, keeping the
        damaged file as `templates.damaged-<UTC time>.json`."""
        return self._file.restore_backup()

    # -- import and export (see `kling.templates.transfer`) ---------------------------

    def export_json(self, ids: Iterable[str] | None = None) -> bytes:
        """A JSON file of the current versions of the team's templates, or of `ids`
        (built-ins included), each with its author, ready for `preview_import` here or in
        another studio."""
        if ids is None:
            # Refused while damaged: an export of nothing would look like a backup.
            templates = current_versions(self._file.readable("exported"))
        else:
            templates = [self.get(template_id) for template_id in ids]
        return export_json(templates)

    def preview_import(self, data: bytes | str) -> ImportPlan:
        """Validate an import file completely and list the names it shares with the library.

        Changes nothing. Raises `TemplateError` saying what is wrong and where (every
        problem in `err.problems`). Accepts an export or a library file (current versions).
        """
        return plan_import(data, self.all())

    def apply_import(self, plan: ImportPlan, resolution: Mapping[str, str] | None = None,
                     *, author: str = "") -> list[Template]:
        """Add the templates of `plan`, resolving each name conflict as `resolution` says:
        {name: "skip" | "replace" | "rename"}. "replace" saves the imported template as a
        new version of the existing one; "rename" adds it as "<name> (imported)". Each is
        authored as the file says, or by `author` (the importer) when the file names none.

        Conflicts are checked again against the library as it is now. All or nothing: if
        any conflict is unresolved or a choice is not allowed, `TemplateError` is raised and
        the library is unchanged. Returns the templates added or replaced.
        """
        choices = choices_of(resolution)
        author = _checked_author(author)
        with self._file.editing() as records:
            return merge_import(records, plan, choices, author=author)


def _taken_names(records: Records, exclude: str | None = None) -> set[str]:
    return {t.name.casefold() for t in in_use(records) if t.id != exclude}


def _no_such(template_id: str) -> TemplateError:
    return TemplateError(f"There is no template with id '{template_id}'; it may have been "
                         "deleted.")


def _editable(records: Mapping[str, Sequence[Template]], template_id: str,
              action: str) -> Template:
    if template_id in BUILTINS_BY_ID:
        name = BUILTINS_BY_ID[template_id].name
        raise TemplateError(f"'{name}' is a built-in template and cannot be {action}: "
                            "duplicate it to make your own copy.")
    if template_id not in records:
        raise _no_such(template_id)
    return records[template_id][-1]


def _checked_author(author: str) -> str:
    author, problem = coerce_author(author)
    if problem:
        raise TemplateError(field_errors={"author": problem})
    return author


def _checked(template: Template, problems: dict[str, str], taken: set[str]) -> Template:
    problems = {**validate_template(template, taken), **problems}
    if problems:
        raise TemplateError(field_errors=problems)
    return template
