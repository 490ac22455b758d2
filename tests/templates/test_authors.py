"""Who saved each version of a template: recorded by every way into the library, kept in
the library file and in exports, and read as unknown ("") from files older than authors."""

from __future__ import annotations

import json

import pytest

from kling.errors import TemplateError
from kling.templates.builtin import BUILTIN_TEMPLATES
from kling.templates.library import TemplateLibrary

from .support import BODY, library_bytes


def _export_document(*entries: dict) -> bytes:
    return json.dumps({"format": "kling-studio-templates", "format_version": 1,
                       "templates": list(entries)}).encode()


def _library_document(*versions: dict) -> bytes:
    return json.dumps({"format": "kling-studio-templates", "format_version": 1,
                       "templates": [{"id": "tpl-0123456789ab",
                                      "versions": list(versions)}]}).encode()


#: A version as a studio wrote it before authors were recorded.
OLD_VERSION = {"version": 1, "updated_at": "2025-01-01T00:00:00+00:00", "name": "Old",
               "category": "Custom", "description": "", "body": BODY,
               "variables": [{"name": "product", "default": None, "hint": ""},
                             {"name": "surface", "default": None, "hint": ""}],
               "duration": "5", "aspect_ratio": "16:9", "tags": []}


def test_each_version_lists_who_saved_it(library):
    made = library.create(name="Mine", body=BODY, author="ana")
    library.update(made.id, description="two", author="ben")
    library.update(made.id, description="three")
    assert [(v.version, v.author) for v in library.versions(made.id)] == [
        (1, "ana"), (2, "ben"), (3, "")]
    assert library.get(made.id).author == ""
    assert library.get_version(made.id, 2).author == "ben"


def test_saving_no_change_under_another_name_adds_no_version(library):
    made = library.create(name="Mine", body=BODY, author="ana")
    before = library_bytes(library)
    same = library.update(made.id, name="Mine", author="ben")
    assert same == made and same.author == "ana"
    assert library_bytes(library) == before


def test_the_author_is_trimmed_and_must_be_savable_text(library):
    assert library.create(name="Mine", body=BODY, author="  Ana   Lopez ").author == \
        "Ana Lopez"
    before = library_bytes(library)
    with pytest.raises(TemplateError) as caught:
        library.create(name="Other", body=BODY, author="\ud800")
    assert set(caught.value.field_errors) == {"author"}
    with pytest.raises(TemplateError):
        library.create(name="Other", body=BODY, author=7)
    assert library_bytes(library) == before


def test_author_is_keyword_only(library):
    made = library.create(name="Mine", body=BODY)
    with pytest.raises(TypeError):
        library.restore(made.id, 1, "ana")
    with pytest.raises(TypeError):
        library.duplicate(made.id, "Copy", "ana")


def test_builtins_have_no_author(library):
    assert all(template.author == "" for template in BUILTIN_TEMPLATES)
    assert [v.author for v in library.versions("builtin-product-launch")] == [""]


# -- the library file ---------------------------------------------------------------------


def test_authors_round_trip_through_the_library_file(tmp_path):
    first = TemplateLibrary(tmp_path)
    made = first.create(name="Mine", body=BODY, author="ana")
    first.update(made.id, description="two", author="ben")
    document = json.loads(first.path.read_text(encoding="utf-8"))
    assert [v["author"] for v in document["templates"][0]["versions"]] == ["ana", "ben"]
    again = TemplateLibrary(tmp_path)
    assert again.versions(made.id) == first.versions(made.id)
    assert [v.author for v in again.versions(made.id)] == ["ana", "ben"]


def test_a_library_file_from_before_authors_reads_and_keeps_reading(file_library):
    library = file_library
    library.data_dir.mkdir(parents=True)
    library.path.write_bytes(_library_document(OLD_VERSION))
    assert library.damage() is None
    [old] = library.user_templates()
    assert old.name == "Old" and old.author == ""
    library.update(old.id, description="now with an author", author="ana")
    assert [v.author for v in TemplateLibrary(library.data_dir).versions(old.id)] == ["", "ana"]


def test_a_library_file_with_an_author_that_is_not_text_is_damaged(file_library):
    library = file_library
    library.data_dir.mkdir(parents=True)
    library.path.write_bytes(_library_document({**OLD_VERSION, "author": 42}))
    damage = library.damage()
    assert damage is not None and "templates[0].versions[0].author" in damage.reason
    assert library.user_templates() == []


# -- restore and duplicate ----------------------------------------------------------------


def test_a_restored_version_is_authored_by_who_restored_it(library):
    made = library.create(name="Mine", body=BODY, author="ana")
    library.update(made.id, description="two", author="ben")
    restored = library.restore(made.id, 1, author="cleo")
    assert restored.version == 3 and restored.author == "cleo"
    assert restored.content() == made.content()
    assert [v.author for v in library.versions(made.id)] == ["ana", "ben", "cleo"]
    # Restoring what is already current changes nothing, and nobody's name.
    assert library.restore(made.id, 3, author="dan") == restored


def test_a_copy_is_authored_by_who_copied_it(library):
    made = library.create(name="Mine", body=BODY, author="ana")
    copy = library.duplicate(made.id, author="ben")
    assert copy.author == "ben" and library.get(made.id).author == "ana"
    assert library.duplicate("builtin-tiktok-hook", "Our hook", author="cleo").author == "cleo"
    assert library.duplicate(made.id).author == ""


# -- export and import --------------------------------------------------------------------


def test_export_and_import_keep_the_author(tmp_path):
    source = TemplateLibrary(tmp_path / "a")
    one = source.create(name="One", body=BODY, author="ana")
    source.update(one.id, description="latest", author="ben")
    source.create(name="Two", body=BODY)
    data = source.export_json()
    assert [t["author"] for t in json.loads(data)["templates"]] == ["ben", ""]

    target = TemplateLibrary(tmp_path / "b")
    imported = target.apply_import(target.preview_import(data), author="cleo")
    # The file's author stays; a template it names nobody for is the importer's.
    assert [(t.name, t.author) for t in imported] == [("One", "ben"), ("Two", "cleo")]
    assert [t.author for t in TemplateLibrary(tmp_path / "b").user_templates()] == \
        ["ben", "cleo"]


def test_an_imported_library_file_keeps_the_author_of_its_current_version(tmp_path):
    source = TemplateLibrary(tmp_path / "a")
    made = source.create(name="One", body=BODY, author="ana")
    source.update(made.id, description="latest", author="ben")
    target = TemplateLibrary(tmp_path / "b")
    [imported] = target.apply_import(target.preview_import(source.path.read_bytes()),
                                     author="cleo")
    assert imported.description == "latest" and imported.author == "ben"


def test_import_from_before_authors_is_the_importers(library):
    entry = {key: OLD_VERSION[key] for key in ("name", "body", "variables")}
    [imported] = library.apply_import(library.preview_import(_export_document(entry)),
                                      author="cleo")
    assert imported.author == "cleo"


def test_replacing_and_renaming_on_import_record_the_author(library):
    mine = library.create(name="Mine", body=BODY, author="ana")
    other = library.create(name="Other", body=BODY, author="ana")
    data = _export_document({"name": "Mine", "body": BODY, "description": "replaced"},
                            {"name": "Other", "body": BODY, "author": "zoe"})
    saved = library.apply_import(library.preview_import(data),
                                 {"Mine": "replace", "Other": "rename"}, author="cleo")
    assert [(t.id, t.version, t.author) for t in saved] == [
        (mine.id, 2, "cleo"), (saved[1].id, 1, "zoe")]
    assert saved[1].name == "Other (imported)" and saved[1].id != other.id
    assert [v.author for v in library.versions(mine.id)] == ["ana", "cleo"]


def test_an_import_file_whose_author_is_not_text_is_refused(library):
    data = _export_document({"name": "One", "body": BODY, "author": ["ana"]})
    with pytest.raises(TemplateError) as caught:
        library.preview_import(data)
    assert list(caught.value.problems) == ["templates[0].author: Author must be text."]
    assert library_bytes(library) is None
