"""The template library: rendering, validation, built-ins, versions, storage, import/export."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kling.templates as templates_module
from kling.coach import review_prompt
from kling.errors import KlingError
from kling.templates import (
    BUILTIN_TEMPLATES,
    CATEGORIES,
    MAX_IMPORT_BYTES,
    Template,
    TemplateError,
    TemplateLibrary,
    TemplateVariable,
    sync_variables,
    validate_template,
)

ROOT = Path(__file__).resolve().parents[1]
BODY = "A {product} spinning slowly on {surface}, camera orbits, smooth slow motion"


def make(body: str = BODY, variables=None, **fields) -> Template:
    if variables is None:
        variables = sync_variables(body)
    defaults = dict(id="", name="Spin", category="Custom", description="", body=body,
                    variables=tuple(variables))
    return Template(**{**defaults, **fields})


@pytest.fixture
def library(tmp_path) -> TemplateLibrary:
    return TemplateLibrary(tmp_path / "data")


def library_bytes(library: TemplateLibrary) -> bytes | None:
    return library.path.read_bytes() if library.path.exists() else None


def leftovers(library: TemplateLibrary) -> list[str]:
    return [p.name for p in library.data_dir.iterdir() if p.name.endswith(".tmp")]


# -- rendering ----------------------------------------------------------------------------


def test_render_uses_defaults_when_values_are_missing_or_blank():
    template = make(variables=[TemplateVariable("product", "red mug", "the product"),
                               TemplateVariable("surface", "a table", "")])
    expected = "A red mug spinning slowly on a table, camera orbits, smooth slow motion"
    assert template.render({}) == expected
    assert template.render() == expected
    assert template.render({"product": "  ", "surface": ""}) == expected


def test_render_uses_given_values_trimmed():
    template = make(variables=[TemplateVariable("product", "red mug"),
                               TemplateVariable("surface", "a table")])
    assert template.render({"product": " blue vase ", "surface": "marble", "extra": "x"}) == (
        "A blue vase spinning slowly on marble, camera orbits, smooth slow motion")


def test_render_missing_variable_without_default_names_it_and_its_hint():
    template = make(variables=[TemplateVariable("product", None, "What you sell"),
                               TemplateVariable("surface", "a table")])
    with pytest.raises(TemplateError) as caught:
        template.render({})
    assert caught.value.missing == ("product",)
    assert "'product'" in str(caught.value) and "What you sell" in str(caught.value)
    assert isinstance(caught.value, KlingError) and caught.value.kind == "template"


def test_render_names_every_missing_variable():
    with pytest.raises(TemplateError) as caught:
        make().render({})
    assert caught.value.missing == ("product", "surface")
    assert "'product'" in str(caught.value) and "'surface'" in str(caught.value)


def test_blank_default_means_no_default():
    assert TemplateVariable("x", "   ").default is None
    with pytest.raises(TemplateError):
        make("{x} waves", [TemplateVariable("x", "")]).render({})


def test_literal_braces_and_repeated_placeholders():
    template = make("{{brand}} {x} and {x} }}{{ {{{x}}}", [TemplateVariable("x", "go")])
    assert template.render({}) == "{brand} go and go }{ {go}"
    assert template.placeholders() == ("x",)


def test_values_with_braces_are_inserted_literally():
    template = make("say {x}", [TemplateVariable("x")])
    assert template.render({"x": "{y} }}"}) == "say {y} }}"


def test_preview_keeps_unfilled_placeholders_visible():
    template = make(variables=[TemplateVariable("product", "red mug"),
                               TemplateVariable("surface")])
    assert template.preview() == (
        "A red mug spinning slowly on {surface}, camera orbits, smooth slow motion")


def test_placeholders_in_order_of_first_use():
    assert make("{b} {a} {b} {c_1}").placeholders() == ("b", "a", "c_1")


@pytest.mark.parametrize("body, fragment", [
    ("a {x", "never closed"),
    ("a x}", "no opening"),
    ("{1x} waves", "'{1x}'"),
    ("{a b} waves", "'{a b}'"),
    ("{} waves", "empty placeholder"),
    ("{a{b}} waves", "never closed"),
    ("{a-b}", "not a valid variable name"),
])
def test_malformed_body_is_a_clear_error(body, fragment):
    with pytest.raises(TemplateError, match="(?i)" + fragment.replace("{", r"\{")
                       .replace("}", r"\}")):
        make(body, variables=()).render({})


def escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12),
                          st.sampled_from(["a", "b", "subject_1", "Place"]),
                          st.text(max_size=12).filter(str.strip)),
                max_size=6),
       st.text(max_size=12))
def test_render_property_literal_text_and_values_come_out_verbatim(parts, tail):
    """Any literal text (braces escaped) and any values render exactly as written."""
    body = "".join(escape(text) + "{" + name + "}" for text, name, _ in parts) + escape(tail)
    values: dict[str, str] = {}
    for _, name, value in parts:
        values.setdefault(name, value.strip())
    expected = "".join(text + values[name] for text, name, _ in parts) + tail
    assert make(body).render(values) == expected


# -- validation ---------------------------------------------------------------------------


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


def test_sync_variables_keeps_known_definitions_and_adds_new_ones():
    known = (TemplateVariable("a", "A", "hint a"), TemplateVariable("gone", "G"))
    assert sync_variables("{b} {a}", known) == (TemplateVariable("b"), known[0])


# -- built-ins ----------------------------------------------------------------------------


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


# -- storage ------------------------------------------------------------------------------


def test_library_file_has_a_format_version_and_every_version(library):
    first = library.create(name="Mine", body=BODY)
    library.update(first.id, description="two")
    document = json.loads(library.path.read_text(encoding="utf-8"))
    assert document["format"] == "kling-studio-templates" and document["format_version"] == 1
    [entry] = document["templates"]
    assert entry["id"] == first.id
    assert [v["version"] for v in entry["versions"]] == [1, 2]
    assert leftovers(library) == []


def test_persists_across_instances_and_reloads_when_the_file_changes(tmp_path):
    first = TemplateLibrary(tmp_path)
    second = TemplateLibrary(tmp_path)
    assert second.user_templates() == []
    made = first.create(name="Mine", body=BODY)
    assert second.get(made.id) == made
    edited = second.update(made.id, description="edited elsewhere")
    assert first.get(made.id) == edited
    second.delete(made.id)
    assert first.user_templates() == []
    assert TemplateLibrary(tmp_path).user_templates() == []


def test_reading_without_a_file_creates_nothing(tmp_path):
    library = TemplateLibrary(tmp_path / "data")
    assert library.all() == list(BUILTIN_TEMPLATES)
    assert not (tmp_path / "data").exists()


def test_failed_save_leaves_the_old_file_intact(library, monkeypatch):
    first = library.create(name="Mine", body=BODY)
    before = library_bytes(library)

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(templates_module.os, "replace", crash)
    with pytest.raises(TemplateError, match="No space left"):
        library.create(name="Second", body=BODY)
    with pytest.raises(TemplateError):
        library.update(first.id, description="lost")
    monkeypatch.undo()
    assert library_bytes(library) == before
    assert leftovers(library) == []
    assert library.user_templates() == [first]
    assert TemplateLibrary(library.data_dir).user_templates() == [first]


TRUNCATED = b'{"format": "kling-studio-templates", "templates": ['


def damage_library(library: TemplateLibrary, data: bytes = TRUNCATED) -> bytes:
    library.data_dir.mkdir(parents=True, exist_ok=True)
    library.path.write_bytes(data)
    return data


def test_damaged_file_reads_as_the_builtins_and_is_never_overwritten(library):
    damage_library(library)
    # Reading goes on with the built-ins: a damaged file must not hide them.
    assert library.all() == list(BUILTIN_TEMPLATES)
    assert library.user_templates() == []
    assert library.search("tiktok") and library.categories() and library.tags()
    assert library.get("builtin-tiktok-hook").builtin
    damage = library.damage()
    assert damage is not None and damage.path == library.path
    assert "not valid JSON" in damage.reason and not damage.newer
    assert damage.backup is None  # never saved by a studio: no last good copy
    # Every change, and a full export, refuses: the file is the team's only copy.
    with pytest.raises(TemplateError, match="cannot be read"):
        library.create(name="Mine", body=BODY)
    with pytest.raises(TemplateError, match="cannot be read"):
        library.duplicate("builtin-tiktok-hook")
    with pytest.raises(TemplateError, match="cannot be read"):
        library.export_json()
    with pytest.raises(TemplateError, match="cannot be read"):
        library.get("tpl-000000000000")
    assert library.path.read_bytes() == TRUNCATED


def test_a_readable_library_has_no_damage(library):
    assert library.damage() is None
    library.create(name="Mine", body=BODY)
    assert library.damage() is None


def test_every_save_first_keeps_a_last_good_copy(library, monkeypatch):
    replaced: list[str] = []
    real_replace = templates_module.os.replace

    def recording_replace(source, target):
        replaced.append(Path(target).name)
        return real_replace(source, target)

    monkeypatch.setattr(templates_module.os, "replace", recording_replace)
    first = library.create(name="Mine", body=BODY)
    assert replaced == ["templates.json.bak", "templates.json"]  # backup, then the library
    assert library.backup_path == library.data_dir / "templates.json.bak"
    assert library.backup_path.read_bytes() == library.path.read_bytes()
    library.update(first.id, description="two")
    assert library.backup_path.read_bytes() == library.path.read_bytes()
    assert json.loads(library.backup_path.read_bytes())["templates"][0]["versions"][1][
        "description"] == "two"
    assert leftovers(library) == []


def test_a_failed_backup_saves_nothing(library, monkeypatch):
    first = library.create(name="Mine", body=BODY)
    before = library_bytes(library)
    real_replace = templates_module.os.replace

    def full_disk(source, target):
        if str(target).endswith(".bak"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(templates_module.os, "replace", full_disk)
    with pytest.raises(TemplateError, match="No space left"):
        library.update(first.id, description="lost")
    monkeypatch.undo()
    assert library_bytes(library) == before
    assert leftovers(library) == []


def test_set_aside_keeps_the_damaged_file_and_starts_afresh(library):
    library.create(name="Mine", body=BODY)
    damaged = damage_library(library)
    recovery = library.set_aside_damaged()
    assert recovery.restored == 0
    assert recovery.kept_as.parent == library.data_dir
    assert re.fullmatch(r"templates\.damaged-\d{8}T\d{6}Z(-\d+)?\.json", recovery.kept_as.name)
    assert recovery.kept_as.read_bytes() == damaged
    assert not library.path.exists()
    assert library.damage() is None
    assert library.user_templates() == []
    made = library.create(name="Fresh start", body=BODY)
    assert library.user_templates() == [made]

    # Damaged again within the same second: the first copy is not overwritten.
    damage_library(library, b"{")
    again = library.set_aside_damaged()
    assert again.kept_as != recovery.kept_as
    assert recovery.kept_as.read_bytes() == damaged and again.kept_as.read_bytes() == b"{"


def test_restore_brings_back_the_last_good_copy_and_keeps_the_damaged_file(library):
    one = library.create(name="One", body=BODY)
    one = library.update(one.id, description="second version")
    two = library.create(name="Two", body=BODY)
    damaged = damage_library(library)
    damage = library.damage()
    assert damage.backup is not None and damage.backup.templates == 2
    assert damage.backup.path == library.backup_path
    assert damage.backup.saved_at.tzinfo is not None

    recovery = library.restore_backup()
    assert recovery.restored == 2
    assert recovery.kept_as.read_bytes() == damaged
    assert library.damage() is None
    assert library.user_templates() == [one, two]
    assert [v.version for v in library.versions(one.id)] == [1, 2]
    # Another studio sharing the folder reads the restored library too.
    assert TemplateLibrary(library.data_dir).user_templates() == [one, two]
    assert leftovers(library) == []


def test_recovery_refuses_when_there_is_nothing_to_recover(library):
    with pytest.raises(TemplateError, match="can be read"):
        library.set_aside_damaged()
    library.create(name="Mine", body=BODY)
    with pytest.raises(TemplateError, match="can be read"):
        library.restore_backup()
    library.backup_path.unlink()
    damaged = damage_library(library)
    with pytest.raises(TemplateError, match="no last good copy"):
        library.restore_backup()
    library.backup_path.write_bytes(b"[[[")
    assert library.damage().backup is None
    with pytest.raises(TemplateError, match="last good copy cannot be read"):
        library.restore_backup()
    assert library.path.read_bytes() == damaged
    assert sorted(p.name for p in library.data_dir.glob("templates.damaged-*")) == []


def test_a_library_from_a_newer_studio_is_not_set_aside(library):
    data = damage_library(library, json.dumps(
        {"format": "kling-studio-templates", "format_version": 2, "templates": []}).encode())
    damage = library.damage()
    assert damage.newer and "newer" in damage.reason
    assert library.all() == list(BUILTIN_TEMPLATES)
    with pytest.raises(TemplateError, match="newer"):
        library.set_aside_damaged()
    with pytest.raises(TemplateError, match="newer"):
        library.restore_backup()
    assert library.path.read_bytes() == data


@pytest.mark.parametrize("data", [
    b"[" * 100_000,
    b'{"format": "kling-studio-templates", "format_version": ' + b"9" * 5000 + b"}",
    b"\xff\xfe" + "{}".encode("utf-16-le"),
    b"\x00\x01\x02 not text \xc3\x28",
    b"",
], ids=["deep", "huge-number", "utf-16", "binary", "empty"])
def test_any_damage_to_the_library_file_is_reported_not_raised(library, data):
    damage_library(library, data)
    assert library.all() == list(BUILTIN_TEMPLATES)
    damage = library.damage()
    assert damage is not None
    assert len(damage.reason) < 200 and "9999999999" not in damage.reason
    assert library.set_aside_damaged().kept_as.read_bytes() == data


def test_file_from_a_newer_studio_is_left_alone(library):
    library.data_dir.mkdir(parents=True)
    data = json.dumps({"format": "kling-studio-templates", "format_version": 2,
                       "templates": []}).encode()
    library.path.write_bytes(data)
    with pytest.raises(TemplateError, match="newer"):
        library.create(name="Mine", body=BODY)
    assert library.path.read_bytes() == data


WORKER = """
import sys, time
from pathlib import Path
from kling.templates import TemplateLibrary
data_dir, worker, count, go, mode = sys.argv[1:6]
library = TemplateLibrary(data_dir)
while not Path(go).exists():
    time.sleep(0.002)
for i in range(int(count)):
    if mode == "create":
        library.create(name=f"worker {worker} #{i}", body="Waves crashing, drone shot, slow mo")
    else:
        library.update(mode, description=f"worker {worker} edit {i}")
"""


def run_workers(data_dir: Path, workers: int, count: int, mode: str) -> None:
    go = data_dir.parent / f"go-{mode}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), str(n),
                                   str(count), str(go), mode], env=env, cwd=ROOT,
                                  stderr=subprocess.PIPE)
                 for n in range(workers)]
    time.sleep(0.3)  # let every process import and wait at the start line
    go.touch()
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()


def test_concurrent_creates_from_several_processes_all_survive(tmp_path):
    data_dir = tmp_path / "data"
    run_workers(data_dir, workers=4, count=12, mode="create")
    document = json.loads((data_dir / "templates.json").read_text(encoding="utf-8"))
    names = {entry["versions"][-1]["name"] for entry in document["templates"]}
    assert names == {f"worker {w} #{i}" for w in range(4) for i in range(12)}
    assert len(TemplateLibrary(data_dir).user_templates()) == 48
    assert [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_edits_of_one_template_keep_every_version(tmp_path):
    data_dir = tmp_path / "data"
    template = TemplateLibrary(data_dir).create(name="Shared", body=BODY)
    run_workers(data_dir, workers=2, count=10, mode=template.id)
    versions = TemplateLibrary(data_dir).versions(template.id)
    assert [v.version for v in versions] == list(range(1, 22))
    assert len({v.description for v in versions}) == 21


def test_concurrent_creates_from_threads_with_separate_instances(tmp_path):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        library = TemplateLibrary(tmp_path)
        try:
            for i in range(8):
                library.create(name=f"thread {worker} #{i}", body=BODY)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(TemplateLibrary(tmp_path).user_templates()) == 32


# -- import and export --------------------------------------------------------------------


def export_document(*entries: dict) -> bytes:
    return json.dumps({"format": "kling-studio-templates", "format_version": 1,
                       "templates": list(entries)}).encode()


GOOD_ENTRY = {"name": "Imported", "category": "Marketing", "body": "A {x} drifting, drone shot, "
              "slow motion", "variables": [{"name": "x", "default": "kite", "hint": "thing"}],
              "duration": "10", "aspect_ratio": "9:16", "tags": ["imp"]}


def test_export_import_round_trip(tmp_path):
    source = TemplateLibrary(tmp_path / "a")
    one = source.create(name="One", body=BODY, category="Storytelling", tags=["x"],
                        variables=[{"name": "product", "default": "mug", "hint": "what"},
                                   {"name": "surface", "default": None, "hint": ""}])
    source.update(one.id, description="second version")
    two = source.duplicate("builtin-food-closeup", new_name="Two")
    data = source.export_json()
    assert json.loads(data)["format_version"] == 1

    target = TemplateLibrary(tmp_path / "b")
    plan = target.preview_import(data)
    assert plan.conflicts == () and [t.name for t in plan.templates] == ["One", "Two"]
    imported = target.apply_import(plan, {})
    assert [t.content() for t in imported] == [source.get(one.id).content(), two.content()]
    assert all(t.id.startswith("tpl-") and t.version == 1 for t in imported)
    assert {t.id for t in imported}.isdisjoint({one.id, two.id})


def test_export_chosen_templates_including_builtins(library):
    mine = library.create(name="Mine", body=BODY)
    data = json.loads(library.export_json([mine.id, "builtin-tiktok-hook"]))
    assert [t["name"] for t in data["templates"]] == ["Mine", "TikTok hook"]
    assert json.loads(library.export_json())["templates"][0]["id"] == mine.id
    with pytest.raises(TemplateError):
        library.export_json(["tpl-missing"])


def test_the_library_file_itself_can_be_imported(tmp_path):
    source = TemplateLibrary(tmp_path / "a")
    made = source.create(name="One", body=BODY)
    source.update(made.id, description="latest")
    plan = TemplateLibrary(tmp_path / "b").preview_import(source.path.read_bytes())
    assert [t.description for t in plan.templates] == ["latest"]


BAD_FILES = [
    (b"this is not json", "not valid JSON"),
    (b"", "empty"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2]", "not a Kling Studio template file"),
    (json.dumps({"templates": []}).encode(), "not a Kling Studio template file"),
    (json.dumps({"format": "kling-studio-templates", "format_version": 99,
                 "templates": [GOOD_ENTRY]}).encode(), "newer"),
    (json.dumps({"format": "kling-studio-templates", "format_version": "1",
                 "templates": [GOOD_ENTRY]}).encode(), "format_version"),
    (json.dumps({"format": "kling-studio-templates", "format_version": 1,
                 "templates": {"a": 1}}).encode(), "list"),
    (export_document(), "no templates"),
    (export_document(GOOD_ENTRY, "oops"), "templates[1] should be an object"),
    (export_document(GOOD_ENTRY, {**GOOD_ENTRY, "name": "B", "body": "  "}),
     "templates[1].body: Body is empty"),
    (export_document({**GOOD_ENTRY, "body": "A {x b} drifting"}),
     "templates[0].body: '{x b}'"),
    (export_document({**GOOD_ENTRY, "body": "A {x drifting"}), "templates[0].body"),
    (export_document({**GOOD_ENTRY, "name": ""}), "templates[0].name: Name is required"),
    (export_document({**GOOD_ENTRY, "duration": "7"}), "templates[0].duration"),
    (export_document({**GOOD_ENTRY, "variables": "x"}), "templates[0].variables"),
    (export_document({**GOOD_ENTRY, "variables": [{"name": 3}]}),
     "templates[0].variables: variables[0].name must be text"),
    (export_document({**GOOD_ENTRY, "tags": [1, 2]}), "templates[0].tags"),
    (export_document({**GOOD_ENTRY, "category": "Nope"}), "templates[0].category"),
    (export_document(GOOD_ENTRY, {**GOOD_ENTRY, "name": "IMPORTED"}), "appears twice"),
    (export_document({**GOOD_ENTRY, "name": 7}), "Name must be text"),
    (b" " * (MAX_IMPORT_BYTES + 1), "limit is 1 MB"),
]


@pytest.mark.parametrize("data, fragment", BAD_FILES, ids=range(len(BAD_FILES)))
def test_bad_import_files_leave_the_library_exactly_as_it_was(library, data, fragment):
    library.create(name="Existing", body=BODY)
    before = library_bytes(library)
    with pytest.raises(TemplateError) as caught:
        library.apply_import(library.preview_import(data), {})
    assert fragment in str(caught.value)
    assert library_bytes(library) == before
    assert leftovers(library) == []


def test_import_problems_are_all_listed(library):
    entries = [{**GOOD_ENTRY, "name": f"n{i}", "body": ""} for i in range(7)]
    with pytest.raises(TemplateError) as caught:
        library.preview_import(export_document(*entries))
    assert len(caught.value.problems) == 7
    assert "and 2 more" in str(caught.value)


def utf16_export() -> bytes:
    return export_document(GOOD_ENTRY).decode().encode("utf-16")  # with its BOM


def nested_tags(depth: int) -> bytes:
    return (b'{"format": "kling-studio-templates", "format_version": 1, "templates": '
            b'[{"name": "Deep", "body": "Waves", "tags": ' + b"[" * depth + b"]" * depth
            + b"}]}")


#: Files a person (or a hostile one) may pick: each ends in a plain TemplateError.
HOSTILE_FILES = [
    (b"[" * 100_000, "nested too deeply"),
    (b"{" * 100_000, "nested too deeply"),
    (nested_tags(500), "nested too deeply"),  # within Python's limit, far past any template
    (b'{"format": "kling-studio-templates", "format_version": ' + b"7" * 5000 + b","
     b' "templates": []}', "number"),
    (export_document({**GOOD_ENTRY, "duration": 10 ** 4000}), "number"),
    (export_document({**GOOD_ENTRY, "duration": 1.5e300}).replace(b"1.5e+300",
                                                                  b"1" * 5000 + b".5"),
     "number"),
    (utf16_export(), "UTF-16"),
    ("\ufeff".encode() + export_document(GOOD_ENTRY)[:-1] + b"\xe9}", "not UTF-8"),
    (b'\x00\x00\xfe\xff' + b"\x00" * 8, "UTF-32"),
    (export_document({**GOOD_ENTRY, "name": "Lone \ud800 half"}), "not valid text"),
    (export_document({**GOOD_ENTRY, "variables": [{"name": "v" * 200_000}],
                      "body": "Waves"}), "variables"),
]


@pytest.mark.parametrize("data, fragment", HOSTILE_FILES, ids=range(len(HOSTILE_FILES)))
def test_hostile_import_files_end_in_a_plain_message(library, data, fragment):
    assert len(data) <= MAX_IMPORT_BYTES
    library.create(name="Existing", body=BODY)
    before = library_bytes(library)
    with pytest.raises(TemplateError) as caught:
        library.apply_import(library.preview_import(data), {})
    message = str(caught.value)
    assert fragment in message
    # Plain: short, no Python internals, no echo of the monster value.
    assert len(message) < 600, message[:300]
    for internal in ("Traceback", "recursion", "sys.set_int_max_str_digits", "v" * 50,
                     "7777777777", "surrogate"):
        assert internal not in message
    assert library_bytes(library) == before
    assert leftovers(library) == []


def test_an_export_with_a_utf8_bom_imports(library):
    plan = library.preview_import("\ufeff".encode() + export_document(GOOD_ENTRY))
    assert [t.name for t in plan.templates] == ["Imported"]


def test_the_import_limits_are_stated_with_the_checked_constants():
    assert templates_module.IMPORT_LIMITS_TEXT == (
        f"up to {MAX_IMPORT_BYTES // (1024 * 1024)} MB and "
        f"{templates_module.MAX_IMPORT_TEMPLATES} templates")
    # The studio's uploader counts a megabyte as 1,048,576 bytes: so does the check.
    assert MAX_IMPORT_BYTES % (1024 * 1024) == 0


def test_text_that_cannot_be_saved_is_refused_as_a_field_problem(library):
    with pytest.raises(TemplateError) as caught:
        library.create(name="Lone \ud800 half", body=BODY)
    assert "name" in caught.value.field_errors
    assert library_bytes(library) is None


@pytest.fixture
def conflicted(library):
    alpha = library.create(name="Alpha", body=BODY, description="ours")
    data = export_document(
        {**GOOD_ENTRY, "name": "alpha", "description": "theirs"},
        {**GOOD_ENTRY, "name": "Beta"},
        {**GOOD_ENTRY, "name": "Product launch hero shot"},
    )
    return library, alpha, data


def test_preview_lists_conflicts_and_allowed_choices(conflicted):
    library, alpha, data = conflicted
    before = library_bytes(library)
    plan = library.preview_import(data)
    assert [(c.name, c.existing_id) for c in plan.conflicts] == [
        ("alpha", alpha.id), ("Product launch hero shot", "builtin-product-launch")]
    assert plan.conflict("ALPHA").options == ("skip", "replace", "rename")
    assert plan.conflict("Product launch hero shot").options == ("skip", "rename")
    assert plan.conflict("Beta") is None
    assert library_bytes(library) == before


def test_unresolved_or_invalid_choices_change_nothing(conflicted):
    library, _, data = conflicted
    before = library_bytes(library)
    plan = library.preview_import(data)
    with pytest.raises(TemplateError, match="Product launch hero shot"):
        library.apply_import(plan, {"alpha": "skip"})
    with pytest.raises(TemplateError, match="built-in"):
        library.apply_import(plan, {"alpha": "skip", "Product launch hero shot": "replace"})
    with pytest.raises(TemplateError, match="overwrite"):
        library.apply_import(plan, {"alpha": "overwrite", "Product launch hero shot": "skip"})
    assert library_bytes(library) == before


def test_conflicts_resolved_by_skip(conflicted):
    library, alpha, data = conflicted
    plan = library.preview_import(data)
    added = library.apply_import(plan, {"alpha": "skip", "Product launch hero shot": "skip"})
    assert [t.name for t in added] == ["Beta"]
    assert library.versions(alpha.id) == [alpha]


def test_conflicts_resolved_by_replace_add_a_version(conflicted):
    library, alpha, data = conflicted
    plan = library.preview_import(data)
    added = library.apply_import(plan, {"Alpha": "replace", "Product launch hero shot": "skip"})
    replaced = library.get(alpha.id)
    assert added[0] == replaced
    assert replaced.version == 2 and replaced.name == "Alpha"
    assert replaced.description == "theirs" and replaced.body == GOOD_ENTRY["body"]
    assert library.versions(alpha.id)[0] == alpha


def test_conflicts_resolved_by_rename(conflicted):
    library, alpha, data = conflicted
    plan = library.preview_import(data)
    added = library.apply_import(plan, {"alpha": "rename", "Product launch hero shot": "rename"})
    assert [t.name for t in added] == ["alpha (imported)", "Beta",
                                       "Product launch hero shot (imported)"]
    assert library.get(alpha.id) == alpha
    assert len(library.user_templates()) == 4


def test_rename_avoids_names_used_in_the_same_file(library):
    library.create(name="Alpha", body=BODY)
    plan = library.preview_import(export_document({**GOOD_ENTRY, "name": "Alpha"},
                                                  {**GOOD_ENTRY, "name": "Alpha (imported)"}))
    added = library.apply_import(plan, {"Alpha": "rename"})
    assert [t.name for t in added] == ["Alpha (imported 2)", "Alpha (imported)"]


def test_conflict_appearing_after_preview_must_be_resolved(library, tmp_path):
    plan = library.preview_import(export_document(GOOD_ENTRY))
    assert plan.conflicts == ()
    TemplateLibrary(library.data_dir).create(name="Imported", body=BODY)
    before = library_bytes(library)
    with pytest.raises(TemplateError, match="Imported"):
        library.apply_import(plan)
    assert library_bytes(library) == before


def test_stale_temporary_files_of_killed_saves_are_swept(tmp_path):
    import os
    import time as _time

    from kling.templates import TemplateLibrary as _Library

    old = tmp_path / ".templates.json.abc.tmp"
    fresh = tmp_path / ".templates.json.def.tmp"
    old.write_text("{")
    fresh.write_text("{")
    os.utime(old, (_time.time() - 7200, _time.time() - 7200))
    _Library(tmp_path)
    assert not old.exists() and fresh.exists()
