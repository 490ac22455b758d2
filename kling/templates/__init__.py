"""The prompt-template library: built-in templates, the team's own, their versions,
import and export.

One concept a module:

    model.py         Template and TemplateVariable: placeholders, rendering, tags, diffs
    validation.py    the rules a template meets before it is saved
    fields.py        templates drafted from loosely typed fields (a form, a JSON file)
    builtin.toml     the built-in templates, as data; builtin.py loads them
    records.py       the team's templates with their versions, and how one joins them
    library.py       TemplateLibrary, what the studio and the CLI use
    library_file.py  templates.json: shared, locked, backed up, recovered when damaged
    file_format.py   the JSON document of the library file and of an export
    transfer.py      export, and imports read, checked and merged
    safe_json.py     JSON bytes that may be anything, read without surprises
    files.py         atomic replacement and change signatures of shared files
    wording.py       how messages quote and list
    errors.py        TemplateError

The names below are the package's public face; code inside it imports from the modules.
"""

from .builtin import BUILTIN_TEMPLATES
from ..errors import TemplateError
from .library import TemplateLibrary
from .library_file import DAMAGED_PREFIX, LibraryBackup, LibraryDamage, Recovery
from .model import (
    CATEGORIES,
    DEFAULT_CATEGORY,
    FieldChange,
    Template,
    TemplateVariable,
    normalise_tags,
    sync_variables,
)
from .transfer import (
    IMPORT_LIMITS_TEXT,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_MB,
    MAX_IMPORT_TEMPLATES,
    ImportConflict,
    ImportPlan,
)
from .validation import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, validate_template

__all__ = [
    "BUILTIN_TEMPLATES", "CATEGORIES", "DAMAGED_PREFIX", "DEFAULT_CATEGORY",
    "IMPORT_LIMITS_TEXT", "MAX_DESCRIPTION_CHARS", "MAX_IMPORT_BYTES", "MAX_IMPORT_MB",
    "MAX_IMPORT_TEMPLATES", "MAX_NAME_CHARS", "FieldChange", "ImportConflict", "ImportPlan",
    "LibraryBackup", "LibraryDamage", "Recovery", "Template", "TemplateError",
    "TemplateLibrary", "TemplateVariable", "normalise_tags", "sync_variables",
    "validate_template",
]
