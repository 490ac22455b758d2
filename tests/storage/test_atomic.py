"""Replacing a file whole: the new content or the old, never a mix, and no leftovers."""

from __future__ import annotations

import os
import stat

import pytest

from kling.storage.atomic import replacing


def test_the_new_content_replaces_the_file_whole(tmp_path):
    target = tmp_path / "library.json"
    target.write_bytes(b"old")
    with replacing(target) as out:
        out.write(b"new")
        assert target.read_bytes() == b"old"  # nothing shows before the block ends
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["library.json"]


def test_a_failure_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "library.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replacing(target) as out:
            out.write(b"half")
            raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["library.json"]


def test_the_temporary_file_is_named_for_its_store_and_can_be_text(tmp_path):
    target = tmp_path / "history.csv"
    with replacing(target, prefix="history.csv.", suffix=".migrating", mode=0o640,
                   encoding="utf-8", newline="") as out:
        (temporary,) = os.listdir(tmp_path)
        assert temporary.startswith("history.csv.") and temporary.endswith(".migrating")
        assert len(temporary) == len("history.csv.") + 8 + len(".migrating")
        out.write("é\r\n")
    assert target.read_bytes() == "é\r\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_missing_folder_raises_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError):
        with replacing(tmp_path / "missing" / "file.txt"):
            raise AssertionError("never reached")
