"""Who made a storyboard and who saved it last: recorded by each change a person makes,
kept in its file, and unknown ("") for storyboards saved before people were recorded."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kling.storyboards.library import StoryboardLibrary
from kling.storyboards.model import Storyboard


@pytest.fixture
def library(tmp_path):
    return StoryboardLibrary(tmp_path / "data")


def test_a_new_storyboard_is_made_and_saved_by_its_creator(library):
    board = library.create("Summer drop", by="ana", style="golden hour")
    assert (board.created_by, board.updated_by) == ("ana", "ana")
    assert library.get(board.id) == board


def test_each_save_by_a_person_names_them_and_keeps_the_maker(library):
    board = library.create("Summer drop", by="ana")
    saved = library.save(board.replace_shot(board.shots[0].key, prompt="waves"), by="ben")
    assert (saved.created_by, saved.updated_by) == ("ana", "ben")
    renamed = library.rename(board.id, "Summer drop v2", by="cleo")
    assert (renamed.created_by, renamed.updated_by) == ("ana", "cleo")
    assert library.get(board.id).updated_by == "cleo"


def test_a_save_no_person_asked_for_keeps_the_last_name(library):
    board = library.create("Summer drop", by="ana")
    edited = library.save(board, by="ben")
    picked = library.save(edited.replace_shot(edited.shots[0].key, picked="gen-1"))
    assert (picked.created_by, picked.updated_by) == ("ana", "ben")
    assert library.rename(board.id, "Renamed").updated_by == "ben"


def test_the_first_save_names_the_maker_of_a_board_built_elsewhere(library):
    board = Storyboard.new("Built by the page")
    saved = library.save(board, by="ana")
    assert (saved.created_by, saved.updated_by) == ("ana", "ana")
    unnamed = library.create("Nobody said")
    assert (unnamed.created_by, unnamed.updated_by) == ("", "")
    assert library.save(unnamed, by="ben").created_by == ""


def test_a_copy_is_made_by_who_copied_it(library):
    original = library.create("Summer drop", by="ana")
    library.save(original, by="ben")
    copy = library.duplicate(original.id, by="cleo")
    assert (copy.created_by, copy.updated_by) == ("cleo", "cleo")
    assert library.duplicate(original.id).created_by == ""
    assert library.get(original.id).created_by == "ana"


def test_names_are_trimmed(library):
    board = library.create("Summer drop", by="  Ana   Lopez ")
    assert board.created_by == board.updated_by == "Ana Lopez"


def test_by_is_keyword_only(library):
    board = library.create("Summer drop")
    with pytest.raises(TypeError):
        library.save(board, "ana")
    with pytest.raises(TypeError):
        library.duplicate(board.id, "ana")
    with pytest.raises(TypeError):
        library.rename(board.id, "New", "ana")


def test_the_names_round_trip_through_the_file(library, tmp_path):
    board = library.create("Summer drop", by="ana")
    library.save(board, by="ben")
    document = json.loads((library.folder / f"{board.id}.json").read_text(encoding="utf-8"))
    assert (document["storyboard"]["created_by"], document["storyboard"]["updated_by"]) == \
        ("ana", "ben")
    again = StoryboardLibrary(tmp_path / "data").get(board.id)
    assert (again.created_by, again.updated_by) == ("ana", "ben")


def test_a_file_from_before_names_reads_as_unknown_and_gains_only_the_saver(library):
    board = library.create("Old spot", by="ana")
    path = library.folder / f"{board.id}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    del document["storyboard"]["created_by"], document["storyboard"]["updated_by"]
    path.write_text(json.dumps(document), encoding="utf-8")
    old = StoryboardLibrary(library.folder.parent).get(board.id)
    assert (old.created_by, old.updated_by) == ("", "")
    # Whoever saves it next changed it; nobody knows who made it.
    saved = library.save(dataclasses.replace(old, style="new look"), by="ben")
    assert (saved.created_by, saved.updated_by) == ("", "ben")


def test_the_model_round_trips_the_names_and_defaults_them():
    board = dataclasses.replace(Storyboard.new("Spot"), created_by="ana", updated_by="ben")
    assert Storyboard.from_dict(board.to_dict()) == board
    data = board.to_dict()
    del data["created_by"], data["updated_by"]
    old = Storyboard.from_dict(data)
    assert (old.created_by, old.updated_by) == ("", "")
