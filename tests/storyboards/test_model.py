"""Storyboards: shots, the shared style, takes and what they send."""

from __future__ import annotations

import dataclasses

import pytest

from kling.storyboards.model import MAX_SHOTS, Shot, Storyboard, problems


def board(*prompts: str, style: str = "golden hour light, 35 mm film grain") -> Storyboard:
    new = Storyboard.new("Summer drop", style=style)
    return new.with_shots([Shot(prompt=p) for p in prompts])


def test_a_new_storyboard_starts_with_two_empty_shots():
    new = Storyboard.new("Launch")
    assert len(new.shots) == 2 and all(s.prompt == "" for s in new.shots)
    assert problems(new) == {}
    assert set(problems(new, for_generation=True)) == {f"shot-{s.key}" for s in new.shots}


def test_the_style_is_appended_to_every_shot_prompt():
    b = board("A sneaker splashes into a pool, slow motion.", "A drone shot over the beach")
    assert [b.prompt_of(s) for s in b.shots] == [
        "A sneaker splashes into a pool, slow motion, golden hour light, 35 mm film grain",
        "A drone shot over the beach, golden hour light, 35 mm film grain"]
    assert board("x", style="").prompt_of(board("x", style="").shots[0]) == "x"


def test_takes_get_consecutive_seeds_per_shot_and_the_cost_counts_every_take():
    b = board("waves crashing, drone shot", "a fox running, tracking shot")
    b = b.replace_shot(b.shots[0].key, takes=3, duration="10")
    requests = b.requests_for(b.shots[0], first_seed=4_294_967_294)
    assert [r.seed for r in requests] == [4_294_967_294, 4_294_967_295, 0]
    assert {r.duration for r in requests} == {"10"} and {r.aspect_ratio for r in requests} == {"16:9"}
    assert b.takes_seconds() == 3 * 10 + 5 and b.seconds() == 15


def test_shots_reorder_duplicate_and_remove_keeping_their_keys():
    b = board("one", "two", "three")
    first, second, third = (s.key for s in b.shots)
    moved = b.move_shot(third, -2)
    assert [s.key for s in moved.shots] == [third, first, second]
    assert [s.key for s in moved.move_shot(third, -1).shots] == [third, first, second]
    copied = b.replace_shot(first, picked="gen-1").duplicate_shot(first)
    assert [s.prompt for s in copied.shots] == ["one", "one", "two", "three"]
    assert copied.shots[1].key not in (first, second, third) and copied.shots[1].picked is None
    assert [s.key for s in b.remove_shot(second).shots] == [first, third]
    with pytest.raises(ValueError):
        board("one", "two").remove_shot(first)


def test_at_most_eight_shots():
    b = board(*[f"shot {i}" for i in range(MAX_SHOTS)])
    with pytest.raises(ValueError):
        b.add_shot()
    with pytest.raises(ValueError):
        b.duplicate_shot(b.shots[0].key)


def test_problems_name_the_shot_by_its_number():
    b = board("fine, drone shot", "")
    b = b.replace_shot(b.shots[0].key, caption="x" * 81)
    found = problems(b, for_generation=True)
    assert found[f"shot-{b.shots[0].key}"].startswith("Shot 1: the caption is 81 characters")
    assert found[f"shot-{b.shots[1].key}"] == "Shot 2: describe what happens in this shot."
    assert "title" in problems(dataclasses.replace(b, title="  "))


def test_a_storyboard_round_trips_through_its_dict():
    b = board("one", "two").replace_shot(board("one").shots[0].key, caption="Hello")
    assert Storyboard.from_dict(b.to_dict()) == b
