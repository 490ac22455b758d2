"""A file's signature changes whenever the file does, and is None when there is none."""

from __future__ import annotations

import os

from kling.storage.signature import signature


def test_appends_and_replacements_change_the_signature(tmp_path):
    path = tmp_path / "log.csv"
    assert signature(path) is None
    path.write_bytes(b"a\n")
    first = signature(path)
    assert first == signature(path)
    with open(path, "ab") as handle:
        handle.write(b"b\n")
    second = signature(path)
    assert second != first
    other = tmp_path / "new.csv"
    other.write_bytes(b"a\nb\n")
    os.replace(other, path)
    assert signature(path) not in (first, second)
