"""The layers hold in the imports: pages > kling.ui > the core, and the core in its order.

Every module's imports are read from its source (nothing is imported), relative imports
resolved. Imports under `if TYPE_CHECKING:` are left out: they name types for readers
and checkers and are never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The core's parts from the bottom up. A part may import its own layer and the ones
#: below it, never one above: a newcomer reads the core bottom up.
CORE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "settings", "timing", "render", "yuv", "wording"}),
    frozenset({"models", "storage", "assembly"}),
    frozenset({"billing", "coach", "batch"}),
    frozenset({"history", "templates"}),
    frozenset({"archive", "client", "responses", "retry", "simulator"}),
    frozenset({"stores", "jobs", "storyboards", "people", "db", "bucket"}),
    frozenset({"services"}),
    frozenset({"cli", "__main__", "trial"}),
)
#: `kling/__init__.py` (the package's public names) sits just above what it re-exports.
PACKAGE_INIT_LAYER = 4


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _run_time_nodes(tree: ast.AST):
    """Every node of `tree` but those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """The absolute names of the modules `path` (the module `module`, by default the one
    its place in the repository names) imports when it runs."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from kling import history` imports the module kling.history.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _core_part(name: str) -> str | None:
    """`history` for kling.history.log; None for kling itself, kling.ui or outside kling."""
    parts = name.split(".")
    if parts[0] != "kling" or len(parts) == 1 or parts[1] == "ui":
        return None
    return parts[1]


def _layer(part: str) -> int:
    for index, members in enumerate(CORE_LAYERS):
        if part in members:
            return index
    raise AssertionError(f"kling/{part} is in no layer of CORE_LAYERS: add it where it belongs")


def _core_files() -> list[Path]:
    return [p for p in _sources("kling") if "ui" not in p.relative_to(ROOT / "kling").parts[:1]]


@pytest.mark.parametrize("path", _sources("pages") + [ROOT / "app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_import_only_streamlit_kling_ui_and_the_core(path):
    wrong = sorted(name for name in imports_of(path)
                   if name.split(".")[0] not in ("streamlit", "kling", "__future__"))
    assert not wrong, f"{path.name} lays out widgets; it imports {wrong}"


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit_or_the_ui(path):
    wrong = sorted(name for name in imports_of(path)
                   if name.split(".")[0] == "streamlit" or name.startswith("kling.ui"))
    assert not wrong, f"{path.relative_to(ROOT)} is core and imports {wrong}"


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_parts_import_only_their_layer_and_below(path):
    own = _core_part(_module_name(path))
    ceiling = PACKAGE_INIT_LAYER if own is None else _layer(own)
    above = sorted(name for name in imports_of(path)
                   if (part := _core_part(name)) is not None and _layer(part) > ceiling)
    assert not above, (f"{path.relative_to(ROOT)} (layer {ceiling}) imports {above}, "
                       "which sit above it")


@pytest.mark.parametrize("path", _sources("kling/ui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_never_imports_pages(path):
    wrong = sorted(name for name in imports_of(path) if name.split(".")[0] in ("pages", "app"))
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


def test_the_reader_sees_a_violation(tmp_path):
    """The checks above can fail: a planted upward import is found, one under
    TYPE_CHECKING is not."""
    planted = tmp_path / "planted.py"
    planted.write_text("from typing import TYPE_CHECKING\n"
                       "from ..services import open_studio\nimport streamlit\n"
                       "if TYPE_CHECKING:\n    from kling.jobs import Job\n", encoding="utf-8")
    names = imports_of(planted, module="kling.models.planted")
    assert {"kling.services", "streamlit"} <= names and "kling.jobs" not in names
    assert _layer(_core_part("kling.services")) > _layer("models")
