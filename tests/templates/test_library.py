"""The library as the studio uses it: built-ins read-only, the team's templates created,
edited, searched, versioned, compared and restored."""

from __future__ import annotations

import pytest

from kling.templates.builtin import BUILTIN_TEMPLATES
from kling.errors import TemplateError
from kling.templates.model import CATEGORIES

from .support import BODY, library_bytes

def test_builtins_are_read_only(library):
    library.create(name="Mine", body="Waves crashing, drone shot, slow motion")
    before = library_bytes(library)
    with pytest.raises(TemplateError, match="built-in"):
        library.update("builtin-product-launch", name="Changed")
    with pytest.raises(TemplateError, match="built-in"):
        library.delete("builtin-product-launch")
    with pytest.raises(TemplateError, match="built-in"):
        library.restore("builtin-product-launch", 1)
    assert library_bytes(library) == before
    assert library.get("builtin-product-launch") == BUILTIN_TEMPLATES[0]


def test_builtins_can_be_duplicated_into_editable_copies(library):
    copy = library.duplicate("builtin-product-launch")
    assert copy.name == "Product launch hero shot (copy)"
    assert not copy.builtin and copy.id.startswith("tpl-") and copy.version == 1
    assert copy.body == BUILTIN_TEMPLATES[0].body
    assert copy.variables == BUILTIN_TEMPLATES[0].variables
    assert library.duplicate("builtin-product-launch").name.endswith("(copy 2)")
    edited = library.update(copy.id, description="Ours now")
    assert edited.version == 2
    named = library.duplicate("builtin-tiktok-hook", new_name="Our hook")
    assert named.name == "Our hook" and named.aspect_ratio == "9:16"


# -- create, edit, delete, search ---------------------------------------------------------


def test_create_fills_in_defaults_and_declares_variables(library):
    template = library.create(name="  Mine ", body=BODY, tags="Fun, fun , TikTok",
                              duration=10)
    assert template.name == "Mine"
    assert template.id.startswith("tpl-") and template.version == 1 and not template.builtin
    assert template.category == "Custom" and template.duration == "10"
    assert template.tags == ("fun", "tiktok")
    assert [v.name for v in template.variables] == ["product", "surface"]
    assert template.updated_at
    assert library.get(template.id) == template


def test_create_invalid_raises_with_field_errors_and_saves_nothing(library):
    library.create(name="Mine", body="Waves crashing, drone shot, slow motion")
    before = library_bytes(library)
    with pytest.raises(TemplateError) as caught:
        library.create(name="MINE", body="", duration="7")
    assert set(caught.value.field_errors) == {"name", "body", "duration"}
    assert "already exists" in str(caught.value)
    with pytest.raises(TemplateError) as caught:
        library.create(name="Product Launch Hero Shot", body="x waves")
    assert "name" in caught.value.field_errors
    with pytest.raises(TemplateError) as caught:
        library.create(name=42, body=["no"])
    assert set(caught.value.field_errors) >= {"name", "body"}
    assert library_bytes(library) == before


def test_unknown_fields_are_a_programming_error(library):
    with pytest.raises(TypeError, match="colour"):
        library.create(name="x", body="y", colour="red")


def test_validate_checks_a_form_without_saving(library):
    mine = library.create(name="Mine", body="Waves crashing, drone shot, slow motion")
    before = library_bytes(library)
    assert library.validate({"name": "mine", "body": "x"}) == {
        "name": "A template named 'mine' already exists: choose another name."}
    assert library.validate({"name": "mine"}, template_id=mine.id) == {}
    assert "body" in library.validate({"name": "New", "body": "{oops"})
    assert library.get(mine.id) == mine and library_bytes(library) == before


def test_update_creates_a_version_and_keeps_the_old_ones(library):
    first = library.create(name="Mine", body=BODY)
    second = library.update(first.id, description="Better", tags=["new"])
    third = library.update(first.id, body="A {product} floating, drone shot, slow motion")
    assert (second.version, third.version) == (2, 3)
    assert [v.version for v in library.versions(first.id)] == [1, 2, 3]
    assert library.versions(first.id)[0] == first
    assert library.get(first.id) == third
    assert [v.name for v in third.variables] == ["product"]
    assert third.tags == ("new",) and third.description == "Better"


def test_update_without_changes_adds_no_version(library):
    first = library.create(name="Mine", body=BODY)
    before = library_bytes(library)
    assert library.update(first.id, name="Mine", body=BODY) == first
    assert library_bytes(library) == before


def test_update_invalid_keeps_the_template(library):
    first = library.create(name="Mine", body=BODY)
    library.create(name="Other", body=BODY)
    with pytest.raises(TemplateError) as caught:
        library.update(first.id, name="other", body="{broken")
    assert set(caught.value.field_errors) == {"name", "body"}
    assert library.versions(first.id) == [first]


def test_delete_removes_the_template_and_its_versions(library):
    first = library.create(name="Mine", body=BODY)
    library.update(first.id, description="v2")
    library.delete(first.id)
    assert library.user_templates() == []
    with pytest.raises(TemplateError, match="no template"):
        library.get(first.id)
    with pytest.raises(TemplateError, match="no template"):
        library.delete(first.id)
    assert library.create(name="Mine", body=BODY).name == "Mine"


def test_all_search_categories_and_tags(library):
    mine = library.create(name="Bakery reel", body="Bread rising in an oven, {x}, time-lapse",
                          category="Social media", tags=["food", "Bakery"], aspect_ratio="9:16")
    assert library.all()[:len(BUILTIN_TEMPLATES)] == list(BUILTIN_TEMPLATES)
    assert library.all()[-1] == mine and library.user_templates() == [mine]
    assert library.search("BREAD oven") == [mine]
    assert library.search("bakery", category="Marketing") == []
    assert mine in library.search(category="Social media")
    assert library.search(tags=["bakery", "food"]) == [mine]
    assert library.search(tags=["FOOD"]) and library.search(tags=["food", "nope"]) == []
    assert {t.id for t in library.search("drone")} >= {"builtin-travel-teaser"}
    assert library.search() == library.all()
    assert library.categories() == [c for c in CATEGORIES if c != "Custom"]
    assert "bakery" in library.tags() and library.tags() == sorted(library.tags())


def test_unknown_ids_and_versions_are_clear_errors(library):
    first = library.create(name="Mine", body=BODY)
    with pytest.raises(TemplateError, match="no template with id 'tpl-nope'"):
        library.versions("tpl-nope")
    with pytest.raises(TemplateError, match="no version 9"):
        library.get_version(first.id, 9)


# -- versions, diff, restore --------------------------------------------------------------


def test_diff_lists_changed_fields_with_old_and_new_values(library):
    first = library.create(name="Mine", body=BODY)
    library.update(first.id, name="Mine v2", duration="10", tags=["x"])
    changes = library.diff(first.id, 1, 2)
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("name", "Mine", "Mine v2"), ("duration", "5", "10"), ("tags", (), ("x",))]
    assert [c.label for c in changes] == ["Name", "Duration", "Tags"]
    assert library.diff(first.id, 2, 2) == []


def test_restore_creates_a_new_version_equal_to_the_old_one(library):
    first = library.create(name="Mine", body=BODY, description="one")
    library.update(first.id, description="two", body="Waves crashing, drone shot, slow motion")
    restored = library.restore(first.id, 1)
    assert restored.version == 3
    assert restored.content() == first.content()
    assert [v.version for v in library.versions(first.id)] == [1, 2, 3]
    assert library.diff(first.id, 1, 3) == []
    assert library.restore(first.id, 3) == restored  # already current: nothing added


def test_restore_refuses_a_name_taken_meanwhile(library):
    first = library.create(name="Mine", body=BODY)
    library.update(first.id, name="Renamed")
    library.create(name="mine", body=BODY)
    with pytest.raises(TemplateError, match="already exists"):
        library.restore(first.id, 1)
    assert len(library.versions(first.id)) == 2
