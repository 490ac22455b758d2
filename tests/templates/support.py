"""What the template tests share: a body with two variables, templates made from it, and
looks at what a library keeps (its file, or its document in a team database)."""

from __future__ import annotations

from kling.db.templates import LibraryRow
from kling.templates.library import TemplateLibrary
from kling.templates.model import Template, sync_variables

BODY = "A {product} spinning slowly on {surface}, camera orbits, smooth slow motion"
#: A library file cut short in the middle of its list of templates.
TRUNCATED = b'{"format": "kling-studio-templates", "templates": ['


def make(body: str = BODY, variables=None, **fields) -> Template:
    if variables is None:
        variables = sync_variables(body)
    defaults = dict(id="", name="Spin", category="Custom", description="", body=body,
                    variables=tuple(variables))
    return Template(**{**defaults, **fields})


def library_bytes(library: TemplateLibrary) -> bytes | None:
    """What the library keeps: its file, or its document in the team database."""
    if isinstance(library.storage, LibraryRow):
        text = library.storage.document.read()
        return None if text is None else text.encode()
    return library.path.read_bytes() if library.path.exists() else None


def leftovers(library: TemplateLibrary) -> list[str]:
    if not library.data_dir.exists():
        return []
    return [p.name for p in library.data_dir.iterdir() if p.name.endswith(".tmp")]


def again(library: TemplateLibrary) -> TemplateLibrary:
    """A second library over the same store, as another process opens it."""
    if isinstance(library.storage, LibraryRow):
        return TemplateLibrary(library.data_dir,
                               records=LibraryRow(library.storage.document.engine,
                                                  library.data_dir))
    return TemplateLibrary(library.data_dir)


def damage_library(library: TemplateLibrary, data: bytes = TRUNCATED) -> bytes:
    library.data_dir.mkdir(parents=True, exist_ok=True)
    library.path.write_bytes(data)
    return data
