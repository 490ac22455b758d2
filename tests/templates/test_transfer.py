"""Export and import: round trips, name conflicts resolved as chosen, and any file a person
picks (broken, hostile, odd-encoded) refused with a plain message, the library unchanged."""

from __future__ import annotations

import json

import pytest

from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary
from kling.templates.transfer import IMPORT_LIMITS_TEXT, MAX_IMPORT_BYTES, MAX_IMPORT_TEMPLATES

from .support import BODY, again, leftovers, library_bytes

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
    assert IMPORT_LIMITS_TEXT == (
        f"up to {MAX_IMPORT_BYTES // (1024 * 1024)} MB and "
        f"{MAX_IMPORT_TEMPLATES} templates")
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
    library, _, data = conflicted
    before = library_bytes(library)
    plan = library.preview_import(data)
    assert [(c.name, c.existing_builtin) for c in plan.conflicts] == [
        ("alpha", False), ("Product launch hero shot", True)]
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


def test_conflict_appearing_after_preview_must_be_resolved(library):
    plan = library.preview_import(export_document(GOOD_ENTRY))
    assert plan.conflicts == ()
    again(library).create(name="Imported", body=BODY)
    before = library_bytes(library)
    with pytest.raises(TemplateError, match="Imported"):
        library.apply_import(plan)
    assert library_bytes(library) == before
