"""Fixtures of the template tests."""

from __future__ import annotations

import pytest

from kling.templates.library import TemplateLibrary


@pytest.fixture
def library(tmp_path) -> TemplateLibrary:
    return TemplateLibrary(tmp_path / "data")
