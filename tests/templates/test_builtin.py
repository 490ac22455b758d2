"""The built-in templates: the same as they have always been, valid, and following the
provider's advice."""

from __future__ import annotations

import json
from pathlib import Path

from kling.templates import BUILTIN_TEMPLATES

#: Every built-in as `Template.to_dict()` gave it before the templates became data:
#: generations record a built-in's id and version, so none may change under them.
SNAPSHOT = Path(__file__).with_name("builtin_snapshot.json")


def test_builtins_are_exactly_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert [template.to_dict() for template in BUILTIN_TEMPLATES] == expected
