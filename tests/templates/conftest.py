"""Fixtures of the template tests: each library test runs against both backends, the
data folder's `templates.json` and a team database's `templates` document."""

from __future__ import annotations

import pytest

from kling.templates.library import TemplateLibrary


@pytest.fixture
def file_library(tmp_path) -> TemplateLibrary:
    """A library in the data folder, for what only a file has (damage, backups)."""
    return TemplateLibrary(tmp_path / "data")


@pytest.fixture(params=["files", "postgres"])
def library(request, tmp_path) -> TemplateLibrary:
    if request.param == "files":
        return TemplateLibrary(tmp_path / "data")
    from kling import db
    from kling.db.templates import LibraryRow

    engine = db.connect(request.getfixturevalue("upgraded"))
    request.addfinalizer(engine.dispose)
    return TemplateLibrary(tmp_path / "data", records=LibraryRow(engine, tmp_path / "data"))
