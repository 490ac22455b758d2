"""`templates.json`: what it holds, shared by studios, never half written, backed up
before every save, and recovered when damaged."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from kling.templates.builtin import BUILTIN_TEMPLATES
from kling.errors import TemplateError
from kling.templates.library import TemplateLibrary

from .support import BODY, TRUNCATED, damage_library, leftovers, library_bytes


@pytest.fixture
def library(file_library):
    """What these tests are about exists only in a file: damage, backups, recovery."""
    return file_library

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

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(TemplateError, match="No space left"):
        library.create(name="Second", body=BODY)
    with pytest.raises(TemplateError):
        library.update(first.id, description="lost")
    monkeypatch.undo()
    assert library_bytes(library) == before
    assert leftovers(library) == []
    assert library.user_templates() == [first]
    assert TemplateLibrary(library.data_dir).user_templates() == [first]


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
    real_replace = os.replace

    def recording_replace(source, target):
        replaced.append(Path(target).name)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
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
    real_replace = os.replace

    def full_disk(source, target):
        if str(target).endswith(".bak"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", full_disk)
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



def test_stale_temporary_files_of_killed_saves_are_swept(tmp_path):
    old = tmp_path / ".templates.json.abc.tmp"
    fresh = tmp_path / ".templates.json.def.tmp"
    old.write_text("{")
    fresh.write_text("{")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    TemplateLibrary(tmp_path)
    assert not old.exists() and fresh.exists()
