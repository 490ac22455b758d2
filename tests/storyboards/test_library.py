"""The storyboard library: one file per storyboard, saved whole, damage costs one."""

from __future__ import annotations

import json

import pytest

from kling.errors import StoryboardError
from kling.storyboards.library import StoryboardLibrary
from kling.storyboards.model import Shot


@pytest.fixture
def library(tmp_path):
    return StoryboardLibrary(tmp_path / "data")


def test_create_list_rename_duplicate_delete(library, tmp_path):
    first = library.create("Summer drop", style="golden hour")
    second = library.create("Winter sale", aspect_ratio="9:16")
    assert {b.title for b in library.all()} == {"Summer drop", "Winter sale"}
    renamed = library.rename(first.id, "Summer drop v2")
    assert library.get(first.id).title == "Summer drop v2" == renamed.title
    picked = library.save(renamed.replace_shot(renamed.shots[0].key, prompt="waves",
                                               picked="gen-1"))
    copy = library.duplicate(picked.id)
    assert copy.id != picked.id and copy.title == "Summer drop v2 (copy)"
    assert [s.prompt for s in copy.shots] == ["waves", ""] and copy.shots[0].picked is None
    library.delete(second.id)
    assert {b.id for b in library.all()} == {first.id, copy.id}
    with pytest.raises(StoryboardError):
        library.get(second.id)
    # Another process (a second library object) sees the same files.
    assert StoryboardLibrary(tmp_path / "data").get(first.id).shots[0].picked == "gen-1"


def test_a_storyboard_that_cannot_be_saved_is_refused_with_every_problem(library):
    board = library.create("Spot")
    with pytest.raises(StoryboardError, match="Shot 1: make 1 to 4 takes"):
        library.save(board.replace_shot(board.shots[0].key, takes=9))
    with pytest.raises(StoryboardError, match="Give the storyboard a title"):
        library.create("   ")
    assert library.get(board.id).shots[0].takes == 1


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


def test_ids_never_reach_outside_the_folder(library):
    for hostile in ("../../etc/passwd", "sb-../x", "", "sb-a/b"):
        with pytest.raises(StoryboardError):
            library.get(hostile)


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
