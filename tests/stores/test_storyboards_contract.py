"""The storyboards, the same in both backends: made, listed, renamed, copied, deleted,
refused whole when they cannot be saved, ids kept inside, logos kept for the end card,
and another process sees it all."""

from __future__ import annotations

import dataclasses

import pytest

from kling.db.storyboards import DatabaseStoryboards
from kling.errors import StoryboardError
from kling.storyboards import StoryboardLibrary
from kling.storyboards.model import EndCardPlan


@pytest.fixture(params=["files", "postgres"])
def library(request, tmp_path):
    if request.param == "files":
        return StoryboardLibrary(tmp_path / "data")
    return DatabaseStoryboards(request.getfixturevalue("engine"), tmp_path / "data")


def again(library, tmp_path):
    """The same storyboards as another process (another replica's folder) opens them."""
    if isinstance(library, StoryboardLibrary):
        return StoryboardLibrary(library.folder.parent)
    return DatabaseStoryboards(library.engine, tmp_path / "elsewhere")


def test_create_list_rename_duplicate_delete(library, tmp_path):
    first = library.create("Summer drop", style="golden hour", by="cy@acme.com")
    second = library.create("Winter sale", aspect_ratio="9:16")
    assert {b.title for b in library.all()} == {"Summer drop", "Winter sale"}
    renamed = library.rename(first.id, "Summer drop v2", by="bo@acme.com")
    assert library.get(first.id).title == "Summer drop v2" == renamed.title
    assert (renamed.created_by, renamed.updated_by) == ("cy@acme.com", "bo@acme.com")
    picked = library.save(renamed.replace_shot(renamed.shots[0].key, prompt="waves",
                                               picked="gen-1"))
    assert picked.updated_by == "bo@acme.com"  # a save by the studio keeps the name
    copy = library.duplicate(picked.id, by="ana@acme.com")
    assert copy.id != picked.id and copy.title == "Summer drop v2 (copy)"
    assert [s.prompt for s in copy.shots] == ["waves", ""] and copy.shots[0].picked is None
    assert copy.created_by == "ana@acme.com"
    library.delete(second.id)
    assert {b.id for b in library.all()} == {first.id, copy.id}
    with pytest.raises(StoryboardError):
        library.get(second.id)
    with pytest.raises(StoryboardError):
        library.delete(second.id)
    assert again(library, tmp_path).get(first.id).shots[0].picked == "gen-1"
    assert library.damaged() == []


def test_a_storyboard_that_cannot_be_saved_is_refused_with_every_problem(library):
    board = library.create("Spot")
    with pytest.raises(StoryboardError, match="Shot 1: make 1 to 4 takes"):
        library.save(board.replace_shot(board.shots[0].key, takes=9))
    with pytest.raises(StoryboardError, match="Give the storyboard a title"):
        library.create("   ")
    assert library.get(board.id).shots[0].takes == 1


def test_ids_never_reach_outside(library):
    for hostile in ("../../etc/passwd", "sb-../x", "", "sb-a/b", "sb-%"):
        with pytest.raises(StoryboardError):
            library.get(hostile)


def test_a_logo_is_kept_for_the_end_card_and_goes_with_its_storyboard(library, tmp_path):
    board = library.create("Logo")
    name = library.save_logo(board.id, b"\x89PNG fake", "brand.PNG")
    assert name == f"{board.id}.logo.png"
    with pytest.raises(StoryboardError, match="PNG or JPEG"):
        library.save_logo(board.id, b"x", "logo.gif")
    board = library.save(dataclasses.replace(board,
                                             end_card=EndCardPlan(title="Acme", logo=name)))
    other = again(library, tmp_path)
    assert other.logo_path(other.get(board.id)).read_bytes() == b"\x89PNG fake"
    library.delete(board.id)
    assert library.logo_path(board) is None
