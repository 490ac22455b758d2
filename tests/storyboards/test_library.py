"""The data folder's storyboards: one file per storyboard, saved whole, damage costs one
(what every library does alike is in `tests/stores/test_storyboards_contract.py`)."""

from __future__ import annotations

import json

import pytest

from kling.errors import StoryboardError
from kling.storyboards.library import StoryboardLibrary
from kling.storyboards.model import Shot


@pytest.fixture
def library(tmp_path):
    return StoryboardLibrary(tmp_path / "data")


def test_a_damaged_file_costs_only_that_storyboard_and_is_never_written_over(library):
    good = library.create("Good")
    bad = library.create("Bad")
    path = library.folder / f"{bad.id}.json"
    path.write_text('{"format": 1, "storyboard": {"id": ', encoding="utf-8")
    assert [b.id for b in library.all()] == [good.id]
    assert library.damaged() == [path.name]
    with pytest.raises(StoryboardError, match="damaged"):
        library.get(bad.id)
    assert path.read_text(encoding="utf-8").endswith('"id": ')


def test_logo_upload_is_kept_beside_the_storyboard(library):
    board = library.create("Logo")
    name = library.save_logo(board.id, b"\x89PNG fake", "brand.PNG")
    assert name == f"{board.id}.logo.png"
    with pytest.raises(StoryboardError, match="PNG or JPEG"):
        library.save_logo(board.id, b"x", "logo.gif")
    library.delete(board.id)
    assert not any(library.folder.iterdir())


def test_saved_file_is_readable_json_with_a_format_number(library):
    board = library.create("Readable")
    document = json.loads((library.folder / f"{board.id}.json").read_text(encoding="utf-8"))
    assert document["format"] == 1 and document["storyboard"]["title"] == "Readable"
    assert Shot.from_dict(document["storyboard"]["shots"][0]).takes == 1
