"""The built-in templates: read-only, the same for everyone, kept as data in `builtin.toml`
next to this module and loaded once, at import.

Their ids are `builtin-<slug>`; each has version 1. What makes a good one (the provider's
advice on motion, camera and pacing, under 200 characters) is written at the top of the
data file.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

from .model import Template, TemplateVariable, normalise_tags

DATA_FILE = "builtin.toml"
ID_PREFIX = "builtin-"


def _template(entry: dict[str, Any], updated_at: str) -> Template:
    fields = dict(entry)
    slug = fields.pop("slug")
    variables = tuple(TemplateVariable(**variable) for variable in fields.pop("variables", ()))
    tags = normalise_tags(fields.pop("tags", ()))
    return Template(id=ID_PREFIX + slug, variables=variables, tags=tags, builtin=True,
                    version=1, updated_at=updated_at, **fields)


def load_builtins(text: str) -> tuple[Template, ...]:
    """The templates of a `builtin.toml` text, in file order.

    A key the file should not have, or one it lacks, raises an error naming it: the file
    ships with the code, so a mistake in it must stop the studio rather than show less.
    """
    document = tomllib.loads(text)
    return tuple(_template(entry, document["updated_at"]) for entry in document["templates"])


BUILTIN_TEMPLATES: tuple[Template, ...] = load_builtins(
    files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8"))
BUILTINS_BY_ID = {template.id: template for template in BUILTIN_TEMPLATES}
