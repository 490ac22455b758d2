"""Request validation: invisible prompts are blank, control characters are refused, and
no seed, however odd, gets anything but the one plain message."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.errors import InvalidRequestError
from kling.models import MAX_PROMPT_CHARS, GenerationRequest, validate_request

REQUIRED = "Prompt is required: describe the scene and its action."
SEED_PROBLEM = "Seed must be a whole number from 0 to 4294967295."

#: Characters nothing is drawn for, or only blank space.
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00a0", "\u3000", "\u00ad",
             "\u180e", "\u200e", "\u202e", "\u2066", "\u3164", "\ufe0f", "\u2800",
             "\U000e0041", "\x1b", "\x00", "\x85", " ", "\t", "\n", "\r")


@pytest.mark.parametrize("prompt", [
    "\u200b\u200c\u200d",            # zero-width space, non-joiner, joiner
    "\u2060\ufeff",                  # word joiner, byte-order mark
    "\u00a0\u3000\u2007 ",           # no-break, ideographic and figure spaces
    " \u200b \n\u00ad\t",            # mixed with ordinary whitespace and a soft hyphen
    "\u3164\uffa0\u2800",            # Hangul fillers and the braille blank
    "\u202e\u2066\u2069",            # bidi override and isolates
    "\x1b\x07\x00",                  # controls only
    "\ufe0f\U000e0020\U000e007f",    # a variation selector and tag characters
])
def test_a_prompt_of_only_invisible_characters_is_missing(prompt):
    assert validate_request(prompt) == {"prompt": REQUIRED}


@given(st.text(alphabet=st.sampled_from(INVISIBLE), max_size=50))
@settings(max_examples=200, deadline=None)
def test_any_mix_of_invisible_characters_is_missing(prompt):
    assert validate_request(prompt)["prompt"] == REQUIRED


@pytest.mark.parametrize("prompt", ["a", "\u200bwaves\u200b", "海の波", "موج البحر",
                                    "\u00a0🌊", "waves\u200d🏄"])
def test_one_visible_character_makes_a_prompt(prompt):
    assert validate_request(prompt) == {}


@pytest.mark.parametrize("prompt, name, position", [
    ("red \x1b[31malert", "ESC, U+001B", 5),
    ("waves\x00crashing", "NUL, U+0000", 6),
    ("ding\x07", "BEL, U+0007", 5),
    ("typo\x08\x08fix", "backspace, U+0008", 5),
    ("form\x0cfeed", "U+000C", 5),
    ("rub\x7fout", "DEL, U+007F", 4),
    ("c1 \x9b31m control", "U+009B", 4),
    ("next\x85line", "U+0085", 5),
])
def test_control_characters_are_refused_with_a_message_naming_them(prompt, name, position):
    problem = validate_request(prompt)["prompt"]
    assert f"control character ({name}) at character {position};" in problem
    assert "only tabs and line breaks" in problem
    assert problem.isprintable(), "the message itself must be plain text"
    with pytest.raises(InvalidRequestError):
        GenerationRequest.create(prompt)


def test_tabs_and_line_breaks_are_fine():
    request = GenerationRequest.create("Shot 1:\twaves\r\nShot 2:\tsurfers\n")
    assert request.prompt == "Shot 1:\twaves\r\nShot 2:\tsurfers"


def test_undecodable_bytes_are_refused_as_not_unicode():
    # What `python -m kling generate --prompt $'\xff'` hands over (surrogateescape).
    prompt = b"waves \xff crashing".decode("utf-8", "surrogateescape")
    problem = validate_request(prompt)["prompt"]
    assert "not valid Unicode" in problem and "character 7" in problem


def test_the_length_rule_is_unchanged():
    assert validate_request("x" * MAX_PROMPT_CHARS) == {}
    assert validate_request("  " + "x" * MAX_PROMPT_CHARS + "\n") == {}
    assert validate_request("x" * (MAX_PROMPT_CHARS + 1)) == {
        "prompt": f"Prompt is 2,501 characters; the limit is {MAX_PROMPT_CHARS:,}."}


HUGE = "9" * 5000


def short_id(value: object) -> str:
    """A test id for any value (pytest's own would call str() on a 5,000-digit int)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 20:
        return f"int-of-{len(hex(value))}-hex-digits"
    return ascii(value)[:30]


@pytest.mark.parametrize("seed", [
    HUGE, "+" + HUGE, "1" + "0" * 4299, "1" + "0" * 4300, "-" + HUGE, HUGE + ".0",
    "++5", "²", "5²", "-1", "4294967296", "1e309", "1e3", "nan", "inf", "-inf", "1.5",
    "0x10", "1_000", "12 34", "\x00", "٣\x00", True, 10 ** 5000, -(10 ** 5000), 2 ** 32,
    math.nan, math.inf, -math.inf, 1e309, 0.5, -1.0, 4294967296.0, [], {}, object(),
], ids=short_id)
def test_no_seed_gets_anything_but_the_plain_message(seed):
    assert validate_request("waves", seed=seed) == {"seed": SEED_PROBLEM}
    with pytest.raises(InvalidRequestError, match="Seed must be a whole number"):
        GenerationRequest.create("waves", seed=seed)


@pytest.mark.parametrize("seed, expected", [
    ("0", 0), ("+7", 7), (" 42 ", 42), ("4294967295", 4294967295), ("0" * 5000 + "7", 7),
    (7, 7), (7.0, 7), (-0.0, 0), (None, None), ("", None), ("  ", None), ("٤٢", 42),
], ids=short_id)
def test_good_seeds_are_read(seed, expected):
    assert GenerationRequest.create("waves", seed=seed).seed == expected


@given(st.text(alphabet="0123456789+- .e", max_size=6000))
@settings(max_examples=200, deadline=None)
def test_seed_parsing_never_raises(seed):
    problems = validate_request("waves", seed=seed)
    assert set(problems) <= {"seed"}
    assert problems.get("seed", SEED_PROBLEM) == SEED_PROBLEM


@pytest.mark.parametrize("duration", [10 ** 5000, "9" * 5000, math.nan, math.inf, "5\x00",
                                      "1e309", -5, 5.5, True], ids=short_id)
def test_odd_durations_get_the_plain_message(duration):
    assert validate_request("waves", duration=duration) == {
        "duration": "Duration must be 5 or 10 seconds."}


@pytest.mark.parametrize("ratio", ["9" * 5000, "16:9\x00", "\x1b[2J", None, 16 / 9],
                         ids=short_id)
def test_odd_aspect_ratios_get_the_plain_message(ratio):
    assert set(validate_request("waves", aspect_ratio=ratio)) == {"aspect_ratio"}
