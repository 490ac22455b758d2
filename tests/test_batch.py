"""Batch CSV files: every row checked first, bad rows named by their line."""

import pytest

from kling.batch import BatchFileError, parse_batch


def test_good_rows_become_requests_with_defaults():
    plan = parse_batch(b"prompt,duration,aspect_ratio,seed\n"
                       b"waves crash,10,9:16,3\n"
                       b"a kite rises,,,\n")
    assert plan.ok
    assert [(r.duration, r.aspect_ratio, r.seed) for r in plan.requests] == [
        ("10", "9:16", 3), ("5", "16:9", None)]
    assert plan.total_seconds == 15
    assert plan.cost(0.28) == 4.2


def test_bad_rows_are_named_by_line_even_after_multiline_prompts():
    plan = parse_batch('prompt,duration,seed\n"two\nlines",5,1\n,5,\ncat,7,-1\n'.encode())
    assert not plan.ok
    assert sorted(plan.row_errors) == [4, 5]
    assert any("required" in p for p in plan.row_errors[4])
    assert len(plan.row_errors[5]) == 2  # duration and seed, reported together
    assert plan.lines == [2]


def test_header_columns_are_case_and_space_insensitive_and_bom_is_ignored():
    plan = parse_batch("\ufeff Prompt , Duration\nwaves,10\n".encode())
    assert plan.requests[0].duration == "10"


@pytest.mark.parametrize("data, message", [
    (b"text,duration\nwaves,5\n", "'prompt' column"),
    (b"prompt\n", "no prompts"),
    (b"\xff\xfe\x00bad", "UTF-8"),
    (b"prompt\n" + b"x\n" * 501, "at most 500"),
    (b"p" * (3 * 1024 * 1024), "at most 2 MB"),
])
def test_unusable_files_say_what_to_fix(data, message):
    with pytest.raises(BatchFileError, match=message):
        parse_batch(data)


def test_unquoted_commas_in_a_prompt_are_explained():
    plan = parse_batch(b"prompt,duration\nwaves crashing, drone shot,5\n")
    assert "double quotes" in plan.row_errors[2][0]
