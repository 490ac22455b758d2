"""The rules a template meets before it is saved."""

from __future__ import annotations

import pytest

from kling.templates.model import TemplateVariable
from kling.templates.validation import validate_template

from .support import make

def test_a_good_template_is_valid():
    assert validate_template(make()) == {}


@pytest.mark.parametrize("changes, field, fragment", [
    ({"name": "  "}, "name", "required"),
    ({"name": "x" * 81}, "name", "80"),
    ({"body": "   "}, "body", "empty"),
    ({"body": "a {x"}, "body", "never closed"),
    ({"body": "{1x}"}, "body", "not a valid"),
    ({"body": "{a b}"}, "body", "not a valid"),
    ({"body": "x" * 2501}, "body", "2,500"),
    ({"duration": "7"}, "duration", "5 or 10"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio", "16:9"),
    ({"category": "Recipes"}, "category", "Marketing"),
    ({"description": "d" * 501}, "description", "500"),
    ({"tags": tuple(f"t{i}" for i in range(13))}, "tags", "12"),
    ({"tags": ("x" * 31,)}, "tags", "30"),
])
def test_validation_problems_are_named_by_field(changes, field, fragment):
    problems = validate_template(make(variables=() if "body" in changes else None, **changes))
    assert field in problems
    assert fragment in problems[field]


def test_declared_variables_must_match_the_placeholders():
    undeclared = validate_template(make("{a} {b}", [TemplateVariable("a")]))
    assert "{b}" in undeclared["variables"]
    unused = validate_template(make("{a}", [TemplateVariable("a"), TemplateVariable("zz")]))
    assert "zz" in unused["variables"]
    twice = validate_template(make("{a}", [TemplateVariable("a"), TemplateVariable("a")]))
    assert "twice" in twice["variables"]
    bad_name = validate_template(make("{a}", [TemplateVariable("a"), TemplateVariable("a b")]))
    assert "'a b'" in bad_name["variables"]


def test_name_must_be_unique_regardless_of_case():
    problems = validate_template(make(name="Spin"), taken_names=["other", " SPIN "])
    assert "already exists" in problems["name"]
