"""The prompt coach: each check found and missed, the length threshold, tips, odd input."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.coach import (
    RECOMMENDED_MAX_CHARS,
    duration_hint,
    platform_hint,
    review_prompt,
)
from kling.models import MAX_PROMPT_CHARS

GOOD = "Waves crashing on a rocky shore at sunset, drone shot, slow motion"
STATIC = "A red perfume bottle on a wooden table, close-up, soft studio lighting"


def check(prompt: str, check_id: str):
    return review_prompt(prompt).check(check_id)


@pytest.mark.parametrize("prompt", [
    "waves crashing on the shore",
    "a dog running through a field",
    "autumn leaves drifting down",
    "a spinning top on a desk",
    "she walked along the pier",
    "birds flew over the lake",
    "coffee pours into a glass",
    "a balloon floating upward",
    "the sun rises over the hills",
    "a thumb scrolls through an app",
])
def test_motion_found(prompt):
    assert check(prompt, "motion").passed
    assert check(prompt, "motion").found


@pytest.mark.parametrize("prompt", [
    STATIC,
    "a product launch video with a pop of color",
    "a portrait of a man in a gray suit standing still",
])
def test_motion_missing(prompt):
    result = check(prompt, "motion")
    assert not result.passed
    assert result.found == ()


@pytest.mark.parametrize("prompt, phrase", [
    ("smooth camera pan across the city", "pan"),
    ("drone shot of a forest", "drone shot"),
    ("tracking shot of a runner", "tracking shot"),
    ("slow dolly-in on her face", "dolly in"),
    ("the camera slowly rises above the crowd", "camera slowly rises"),
    ("aerial view of a beach", "aerial"),
    ("static shot of a busy street", "static shot"),
    ("push in on the watch", "push in"),
    ("handheld, following the dancer", "handheld"),
    ("the camera orbits the car", "camera orbits"),
    ("a gliding camera over the dunes", "gliding camera"),
])
def test_camera_found(prompt, phrase):
    result = check(prompt, "camera")
    assert result.passed
    assert phrase in result.found


@pytest.mark.parametrize("prompt", [
    STATIC,
    "a close-up of a gold watch",
    "eggs sizzling in a frying pan",
    "a vintage camera on a desk",
])
def test_camera_missing(prompt):
    assert not check(prompt, "camera").passed


@pytest.mark.parametrize("prompt, phrase", [
    ("a horse galloping in slow motion", "slow motion"),
    ("fast-paced city montage", "fast paced"),
    ("gentle floating petals", "gentle"),
    ("clouds rolling by in a time-lapse", "time lapse"),
    ("the door opens quickly", "quickly"),
    ("the light gradually fades", "gradually"),
    ("a slow-mo splash", "slow mo"),
])
def test_pacing_found(prompt, phrase):
    result = check(prompt, "pacing")
    assert result.passed
    assert phrase in result.found


@pytest.mark.parametrize("prompt", [STATIC, "a dog running through a field, drone shot"])
def test_pacing_missing(prompt):
    assert not check(prompt, "pacing").passed


def test_length_threshold_is_200_characters():
    at_limit = "a" * RECOMMENDED_MAX_CHARS
    assert RECOMMENDED_MAX_CHARS == 200
    assert check(at_limit, "length").passed
    assert not check(at_limit + "a", "length").passed


def test_length_counts_the_trimmed_prompt():
    report = review_prompt("   " + "a" * 200 + "\n\n")
    assert report.char_count == 200
    assert report.check("length").passed


def test_over_the_hard_limit_says_it_will_be_refused():
    report = review_prompt("x" * (MAX_PROMPT_CHARS + 1))
    assert report.over_limit
    assert "2,500" in report.check("length").suggestion
    assert "2,500" in report.summary
    assert not review_prompt("x" * MAX_PROMPT_CHARS).over_limit


def test_a_prompt_following_all_advice_passes_everything():
    report = review_prompt(GOOD)
    assert report.all_passed
    assert report.passed == report.total == 4
    assert report.score == 1.0
    assert report.suggestions == ()
    assert report.summary.startswith("Strong prompt")
    assert [c.id for c in report.checks] == ["motion", "camera", "pacing", "length"]


def test_failing_checks_each_give_a_suggestion_with_an_example():
    report = review_prompt(STATIC)
    failed = [c for c in report.checks if not c.passed]
    assert [c.id for c in failed] == ["motion", "camera", "pacing"]
    assert report.suggestions == tuple(c.suggestion for c in failed)
    for suggestion in report.suggestions:
        assert "e.g. '" in suggestion
    assert report.score == pytest.approx(1 / 4)
    assert report.score_text == "1/4 tips followed"
    assert "1 of 4" in report.summary
    assert "camera movement" in report.summary


def test_too_long_prompt_gets_the_length_suggestion():
    report = review_prompt(GOOD + ", " + "with many more words " * 10)
    assert report.suggestions == (report.check("length").suggestion,)
    assert "under 200" in report.summary


def test_every_check_has_a_label_and_a_tip_even_when_passed():
    for item in review_prompt(GOOD).checks:
        assert item.label and item.suggestion


def test_unknown_check_id_is_a_key_error():
    with pytest.raises(KeyError):
        review_prompt(GOOD).check("nope")


@pytest.mark.parametrize("prompt", [
    "", "   \n\t", None, 12345, "🎬" * 300, "🌊🌊 crashing 🚁 drone shot",
    "<script>alert('x')</script><b>slow motion</b>", "\x00\x01\x02", "{product} {{",
    "Vagues qui s'écrasent — plan drone, ralenti", "ж" * 3000, "-" * 500,
])
def test_odd_input_never_raises(prompt):
    report = review_prompt(prompt)
    text = "" if prompt is None else str(prompt)
    assert report.char_count == len(text.strip())
    assert report.summary
    assert 0 <= report.score <= 1


def test_empty_prompt_summary_invites_a_description():
    report = review_prompt("")
    assert report.char_count == 0
    assert "e.g." in report.summary
    assert len(report.suggestions) == 3


def test_huge_prompt_is_reviewed_by_its_head_only():
    """A pasted document costs what a prompt costs: only the part that could ever be
    sent is analysed, while the length is counted in full."""
    huge = "waves crashing, drone shot, slow motion. " * 25_000
    report = review_prompt(huge)
    assert report.char_count == len(huge.strip()) and report.over_limit
    assert report.check("motion").passed
    tail_only = "x" * (4 * MAX_PROMPT_CHARS) + " waves crashing, drone shot, slow motion"
    late = review_prompt(tail_only)
    assert not late.check("motion").passed and not late.check("camera").passed


def test_html_markup_is_read_as_words():
    report = review_prompt("<p>waves <em>crashing</em>, drone&nbsp;shot, slow motion</p>")
    assert report.check("motion").passed and report.check("pacing").passed


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_gets_a_consistent_report(text):
    report = review_prompt(text)
    assert report.char_count == len(text.strip())
    assert report.passed == sum(c.passed for c in report.checks)
    assert len(report.suggestions) == report.total - report.passed


def test_platform_and_duration_hints():
    assert "YouTube" in platform_hint("16:9")
    assert "TikTok" in platform_hint("9:16") and "Reels" in platform_hint("9:16")
    assert platform_hint("4:3") == ""
    assert "social" in duration_hint("5")
    assert "detailed" in duration_hint(10)
    assert duration_hint("7") == ""
