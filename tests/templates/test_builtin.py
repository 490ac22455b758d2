"""The built-in templates: the same as they have always been, valid, documented, and
following the provider's advice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kling.coach import review_prompt
from kling.templates.builtin import BUILTIN_TEMPLATES, load_builtins
from kling.templates.validation import validate_template

#: Every built-in as `Template.to_dict()` gave it before the templates became data:
#: generations record a built-in's id and version, so none may change under them.
SNAPSHOT = Path(__file__).with_name("builtin_snapshot.json")


def test_builtins_are_exactly_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    # `author` came later than the snapshot; a built-in has none (pages call it built-in).
    found = [template.to_dict() for template in BUILTIN_TEMPLATES]
    assert [entry.pop("author") for entry in found] == [""] * len(found)
    assert found == expected


def test_a_mistake_in_the_data_file_stops_the_loading():
    text = ('updated_at = "2025-06-01T00:00:00+00:00"\n[[templates]]\nslug = "x"\n'
            'name = "X"\ncategory = "Custom"\ndescription = "d"\nbody = "b"\n')
    assert load_builtins(text)[0].id == "builtin-x"
    with pytest.raises(TypeError, match="colour"):
        load_builtins(text + 'colour = "red"\n')
    with pytest.raises(TypeError, match="body"):
        load_builtins(text.replace('body = "b"\n', ""))


def test_at_least_twelve_builtins_across_the_four_categories():
    assert len(BUILTIN_TEMPLATES) >= 12
    counts = Counter(t.category for t in BUILTIN_TEMPLATES)
    for category in ("Marketing", "Social media", "Product demo", "Storytelling"):
        assert counts[category] >= 3, category
    social = [t for t in BUILTIN_TEMPLATES if t.category == "Social media"]
    assert all(t.aspect_ratio == "9:16" for t in social)


@pytest.mark.parametrize("template", BUILTIN_TEMPLATES, ids=lambda t: t.id)
def test_builtin_follows_the_providers_advice(template):
    prompt = template.render({})
    report = review_prompt(prompt)
    assert len(prompt) < 200
    assert report.all_passed, (prompt, report.summary)


@pytest.mark.parametrize("template", BUILTIN_TEMPLATES, ids=lambda t: t.id)
def test_builtin_is_valid_and_documented(template):
    others = [t.name for t in BUILTIN_TEMPLATES if t.id != template.id]
    assert validate_template(template, others) == {}
    assert template.builtin and template.version == 1
    assert template.id.startswith("builtin-") and template.description and template.tags
    assert template.variables and all(v.default and v.hint for v in template.variables)


def test_builtin_ids_are_unique_stable_slugs():
    ids = [t.id for t in BUILTIN_TEMPLATES]
    assert len(set(ids)) == len(ids)
    assert "builtin-product-launch" in ids
    assert all(i == i.lower() and " " not in i for i in ids)
