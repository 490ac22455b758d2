"""Batch CSV files: every row checked first, bad rows named by their line."""

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling import batch
from kling.batch import MAX_BATCH_BYTES, MAX_BATCH_ROWS, BatchFileError, parse_batch


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


# ------------------------------------------------------------- odd files (the "Trust" issue)

HEADER = b"prompt,duration,aspect_ratio,seed\n"
HUGE = "9" * 5000


@pytest.mark.parametrize("data, message", [
    ("prompt\nwaves\n".encode("utf-16"), "UTF-16"),
    ("prompt\nwaves\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "UTF-16"),
    ("prompt\nwaves\n".encode("utf-16-le"), "NUL bytes"),  # UTF-16 without a BOM
    (HEADER + b"waves\x00 crashing,5,16:9,1\n", "NUL bytes"),
    (b"prompt\nwaves\n\xc3\x28 broken\n", "not UTF-8 text (line 3"),
    (b"prompt\n\xff\xd8\xff\xe0 JFIF", "not UTF-8 text (line 2"),
    (b"PK\x03\x04\x14\x00\x06\x00 xl/workbook.xml", "workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "workbook"),
    (bytes(range(256)) * 4, "NUL bytes"),
    (b"", "empty"),
    (b" \r\n\t\n", "empty"),
    (b"\xef\xbb\xbf", "empty"),
    (HEADER, "no prompts"),
    (HEADER + b"\n\r\n\n", "no prompts"),
    (b"prompt,seed,prompt\na,1,b\n", "more than one 'prompt' column"),
    (b'prompt\n"' + b"x" * 200_000 + b"\n", "never closed"),
    (b"prompt\n" + b"x\n" * 1_000_000, "1,000,000 rows; at most 500"),
    (b"prompt\n" + b"x" * (MAX_BATCH_BYTES + 1), "at most 2 MB and 500 prompts"),
], ids=lambda value: ascii(value)[:30] if isinstance(value, bytes) else None)
def test_odd_files_are_refused_as_a_whole_with_a_plain_message(data, message):
    with pytest.raises(BatchFileError, match=re.escape(message)) as refused:
        parse_batch(data)
    assert str(refused.value).isprintable() and len(str(refused.value)) < 300


def test_the_limits_are_the_documented_constants():
    assert (MAX_BATCH_BYTES, MAX_BATCH_ROWS) == (2 * 1024 * 1024, 500)
    plan = parse_batch(b"prompt\n" + b"waves\n" * MAX_BATCH_ROWS)
    assert plan.ok and len(plan.requests) == MAX_BATCH_ROWS


def test_read_batch_file_stops_at_the_size_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"prompt\n" + b"x" * (3 * MAX_BATCH_BYTES))
    with pytest.raises(BatchFileError, match="larger than 2 MB"):
        batch.read_batch_file(path)
    path.write_bytes(b"prompt\nwaves\n")
    assert batch.read_batch_file(path) == b"prompt\nwaves\n"


def test_read_batch_file_of_an_endless_stream_stops_at_the_limit():
    zero = "/dev/zero"
    if not os.path.exists(zero):
        pytest.skip("no /dev/zero here")
    with pytest.raises(BatchFileError, match="larger than 2 MB"):
        batch.read_batch_file(zero)


@pytest.mark.parametrize("seed", [HUGE, "+" + HUGE, "1" + "0" * 4300, "-" + HUGE, "++5",
                                  "²", "-1", "1.5", "42.0", "1e309", "nan", "inf", "-inf",
                                  "4294967296"], ids=lambda s: ascii(s)[:20])
def test_any_odd_seed_is_a_row_error(seed):
    plan = parse_batch(HEADER + f"waves,5,16:9,{seed}\n".encode())
    assert plan.row_errors == {2: ["Seed must be a whole number from 0 to 4294967295."]}


@pytest.mark.parametrize("duration", [HUGE, "-5", "5.5", "1e309", "nan", "inf", "５"])
def test_any_odd_duration_is_a_row_error(duration):
    plan = parse_batch(HEADER + f"waves,{duration},16:9,\n".encode())
    assert plan.row_errors == {2: ["Duration must be 5 or 10 seconds."]}


@pytest.mark.parametrize("ratio", [HUGE, "16:9:1", "nan", "1e309", "16\u200b:9", "4:3"])
def test_any_odd_aspect_ratio_is_a_row_error(ratio):
    plan = parse_batch(HEADER + f"waves,5,{ratio},\n".encode())
    assert plan.row_errors == {
        2: ["Aspect ratio must be 16:9 (landscape) or 9:16 (portrait)."]}


def test_prompts_of_invisible_characters_or_with_controls_are_row_errors():
    plan = parse_batch(HEADER + "\u200b\u2060\ufeff\u00a0,5,16:9,1\n"
                                "\u3000\u200d,5,16:9,2\n"
                                "red \x1b[31malert,5,16:9,3\n"
                                "digits as prompt {},5,16:9,4\n".format(HUGE[:2000]).encode())
    assert plan.row_errors[2] == plan.row_errors[3] == [
        "Prompt is required: describe the scene and its action."]
    assert "control character (ESC, U+001B)" in plan.row_errors[4][0]
    assert plan.lines == [5] and plan.requests[0].seed == 4


def test_a_bom_before_a_bom_still_finds_the_prompt_column():
    plan = parse_batch("\ufeffprompt,seed\nwaves,3\n".encode("utf-8-sig"))
    assert plan.ok and plan.requests[0].seed == 3


def test_text_input_gets_the_same_checks():
    with pytest.raises(BatchFileError, match="NUL bytes"):
        parse_batch("prompt\nwa\x00ves\n")
    with pytest.raises(BatchFileError, match="at most 2 MB"):
        parse_batch("prompt\n" + "x" * (MAX_BATCH_BYTES + 1))
    plan = parse_batch("prompt,seed\nwaves \udcff,1\n")  # undecodable argv-style text
    assert "not valid Unicode" in plan.row_errors[2][0]


CELL = st.text(alphabet=st.sampled_from(list('09+-.e²٣５,"\n\r \t\x00\x1b\ufeff\u200bxé😀')),
               max_size=12) | st.sampled_from(["5", "10", "16:9", "9:16", "7", HUGE])
CSV_LIKE = st.builds(
    lambda header, rows, encoding: (header + "\n" + "\n".join(",".join(r) for r in rows)
                                    ).encode(encoding, "replace"),
    st.sampled_from(["prompt,duration,aspect_ratio,seed", "Prompt , SEED", "seed,prompt",
                     "\ufeffprompt,duration", "prompt,prompt", "text"]),
    st.lists(st.lists(CELL, max_size=5), max_size=8),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
)


@given(data=st.binary(max_size=400) | CSV_LIKE)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_bytes_raise_anything_but_batch_file_error(data):
    try:
        plan = parse_batch(data)
    except BatchFileError as exc:
        assert str(exc).isprintable()
        return
    for line, problems in plan.row_errors.items():
        assert line >= 2 and problems and all(p.isprintable() for p in problems)
    assert len(plan.requests) == len(plan.lines)
