"""Loads after appends fold the appended records into the cached frame, and the result is
always the frame a full parse of the same file gives (dtypes included); anything unusual
(a file rewritten, shrunk, replaced, torn, damaged or migrated, another time zone) is a
full parse."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.history import HISTORY_COLUMNS, HistoryLog, HistoryQuery
from kling.history.csvformat import NUL_REPLACEMENT, encode
from kling.history.logfile import LogFile
from kling.models import GenerationRequest

from .support import UNMATCHED, request, result, write_log


@contextmanager
def full_reads() -> Iterator[list[Path]]:
    """The history logs read whole (not only what was appended) within the block."""
    paths: list[Path] = []
    real = LogFile.read_complete

    def reading(self: LogFile) -> bytes | None:
        if self.path.name == "history.csv":
            paths.append(self.path)
        return real(self)

    with mock.patch.object(LogFile, "read_complete", reading):
        yield paths


def assert_as_parsed_whole(*logs: HistoryLog) -> HistoryLog:
    """Each log's frame is what a fresh reader, parsing the whole file, loads; that
    reader."""
    frames = [log.load() for log in logs]
    fresh = HistoryLog(logs[0].data_dir)
    for frame in frames:
        pd.testing.assert_frame_equal(frame, fresh.load())
    return fresh


def append_rows(path: Path, rows: list[dict], columns=HISTORY_COLUMNS, *,
                nul: bool = False) -> None:
    """Rows appended as another program writes them; with `nul`, NUL bytes as they are
    (this code writes U+FFFD for them)."""
    data = encode(columns, rows)
    if nul:
        data = data.replace(NUL_REPLACEMENT.encode(), b"\x00")
    with open(path, "ab") as handle:
        handle.write(data)


def wide(columns: tuple[str, ...], row: dict, extra: bytes) -> bytes:
    """A record with more cells than the header: `extra` (",z,z" or ",,") at its end."""
    return encode(columns, [row])[:-2] + extra + b"\r\n"


# -- random appends: always folded, always identical ---------------------------------------

IDS = [f"20250101-000000-{i:08x}" for i in range(8)]
#: Past 2262 a time fits no nanosecond count: pandas reads it as unknown in a column that
#: needs nanoseconds (NANOSECONDS), and as it is otherwise.
FAR = "2300-01-01T00:00:00+00:00"
NANOSECONDS = "2025-01-01T10:00:00.123456789+00:00"
TIMES = ("2025-01-01T10:00:00.000+00:00", "2025-01-01T10:00:00.000+00:00",  # ties
         "2025-01-01T12:00:00.000+02:00", "2025-01-02T09:30:00.123+00:00",
         "2024-12-31T23:59:59.999999+00:00", "", "not a time", FAR, NANOSECONDS)
text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from(list(',"\'\n\r\t\\\x00;=+- é✓😀中ع')), max_size=30),
)
# Whole numbers past 2**53 read the same whether a malformed one elsewhere makes pandas
# read the numbers as text first or not.
numbers = st.one_of(st.none(), st.integers(0, 2**62), st.floats(0, 1e6, allow_nan=False),
                    st.just("notanumber"))
raw_rows = st.fixed_dictionaries({
    "id": st.one_of(st.sampled_from(IDS), st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
                    st.just("")),
    "created_at": st.sampled_from(TIMES),
    "status": st.sampled_from(("pending", "succeeded", "failed", "interrupted", "exploded")),
    "prompt": text,
    "duration": st.sampled_from(("5", "10", "", "x")),
    "seed": numbers,
    "inference_s": numbers,
    "cost_usd": st.one_of(st.none(), st.floats(0, 10, allow_nan=False)),
    "error_type": st.sampled_from(("", "malformed_response", "outcome_unknown")),
    "http_status": st.sampled_from((None, 200, 500)),
    "finished_at": st.sampled_from(TIMES),
    "template_vars": text,
    "owner": st.sampled_from(("", "elsewhere:1:0-0")),
    "project": text,
})
extra_cells = st.sampled_from((b",", b",,", b",z", b",z" * 20))
actions = st.one_of(
    st.tuples(st.just("rows"), st.lists(raw_rows, min_size=1, max_size=4), st.booleans()),
    st.tuples(st.just("wide"), raw_rows, extra_cells),
    st.tuples(st.just("pending"), text, st.integers(0, 2**32)),
    st.tuples(st.just("outcome"), st.integers(0, 50), st.sampled_from(("ok", "fail", "path"))),
    st.tuples(st.just("annotate"), st.integers(0, 50), text),
)


def _unusual(rows: list[dict]) -> bool:
    """Whether rows hold a time that needs nanoseconds (such logs are parsed whole)."""
    return any(NANOSECONDS in (row["created_at"], row["finished_at"]) for row in rows)


def _act(action: tuple, writer: HistoryLog, columns: tuple[str, ...],
         known: list[str]) -> None:
    kind = action[0]
    if kind == "rows":
        append_rows(writer.path, action[1], columns, nul=action[2])
    elif kind == "wide":
        with open(writer.path, "ab") as handle:
            handle.write(wide(columns, action[1], action[2]))
    elif kind == "pending":
        writer.record_pending(GenerationRequest(action[1], "5", "16:9", action[2]))
    elif known and kind == "outcome":
        gen_id = known[action[1] % len(known)]
        if action[2] == "ok":
            writer.record_success(gen_id, result(), elapsed_s=12.5)
        elif action[2] == "fail":
            writer.record_failure(gen_id, RuntimeError("no luck, \"sorry\""), elapsed_s=3)
        else:
            writer.record_video_path(gen_id, None, archive_error="disk full,\nretry")
    elif known and kind == "annotate":
        writer.annotate(known[action[1] % len(known)], notes=action[2], rating=4)


@settings(max_examples=50, deadline=None)
@given(first=st.lists(raw_rows, max_size=5), steps=st.lists(
    st.lists(actions, min_size=1, max_size=4), min_size=1, max_size=5),
    extra_column=st.booleans(), first_wide=st.one_of(st.none(), extra_cells))
def test_random_appends_are_folded_into_the_frame_a_full_parse_gives(first, steps,
                                                                     extra_column,
                                                                     first_wide):
    columns = HISTORY_COLUMNS + (("project",) if extra_column else ())
    with tempfile.TemporaryDirectory() as data_dir:
        writer = HistoryLog(data_dir)
        write_log(writer.path, first, columns=columns)
        if first and first_wide:
            # pandas keeps a first record with more cells than the header (cut short),
            # and then every record as wide: a tail must not be read otherwise.
            data = writer.path.read_bytes()
            start = data.index(b"\r\n") + 2
            end = start + len(encode(columns, first[:1]))
            writer.path.write_bytes(data[:start] + wide(columns, first[0], first_wide)
                                    + data[end:])
        reader = HistoryLog(data_dir)  # another session's (or process's) view
        reader.query(HistoryQuery(text="a"))  # a search haystack to fold, too
        unusual = _unusual(first)
        for step in steps:
            known = list(writer.load()["id"])
            for action in step:
                _act(action, writer, columns, known)
                unusual |= action[0] == "wide" or action[0] == "rows" and _unusual(action[1])
            with full_reads() as whole:
                fresh = assert_as_parsed_whole(reader, writer)
            if not unusual:
                assert whole == [writer.path]  # the fresh reader's only
            ids = list(fresh.load()["id"])
            for gen_id in ids[:3] + ["nobody"]:
                assert reader.get(gen_id) == fresh.get(gen_id)
            for needle in ("a", "\n", ids[-1] if ids else "z"):
                q = HistoryQuery(text=needle, include_hidden=True)
                pd.testing.assert_frame_equal(reader.query(q), fresh.query(q))


def test_the_order_is_newest_first_and_the_row_written_last_first_among_equals(log):
    tie = "2025-01-01T10:00:00.000+00:00"
    write_log(log.path, [
        {"id": "a", "created_at": tie, "status": "pending"},
        {"id": "b", "created_at": "2025-01-03T00:00:00+00:00", "status": "pending"},
        {"id": "c", "created_at": "", "status": "pending"},
    ])
    assert list(log.load()["id"]) == ["b", "a", "c"]
    append_rows(log.path, [
        {"id": "d", "created_at": tie, "status": "succeeded"},  # written after a
        {"id": "e", "created_at": "", "status": "failed"},      # unknown time: last
        {"id": "a", "created_at": tie, "status": "failed"},     # a's state, written last
        {"id": "f", "created_at": "2025-01-02T00:00:00+00:00", "status": "pending"},
    ])
    with full_reads() as whole:
        frame = log.load()
    assert whole == []
    assert list(frame["id"]) == ["b", "f", "a", "d", "e", "c"]
    assert frame.set_index("id").loc["a", "status"] == "failed"
    assert_as_parsed_whole(log)


def test_a_studio_that_writes_and_reads_the_log_folds_its_own_appends(log):
    ids = [log.record_pending(request(f"take {i}")) for i in range(3)]
    log.annotate(ids[0], favourite=True)
    log.load()
    with full_reads() as whole:
        log.record_success(ids[1], result(), elapsed_s=10)
        log.annotate(ids[1], tags="sea, storm")  # together with the append
        new = log.record_pending(request("one more"))
        frame = assert_as_parsed_whole(log).load()
    assert whole == [log.path]  # the fresh reader's only
    assert frame["id"].iloc[0] == new and len(frame) == 4
    assert log.get(ids[1])["status"] == "succeeded" and log.get(ids[1])["tags"] == ["sea", "storm"]


# -- anything unusual: a full parse ---------------------------------------------------------

def _rows(count: int, prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{i}", "created_at": f"2025-01-01T10:{i // 60:02d}:{i % 60:02d}+00:00",
             "status": "succeeded", "prompt": f"take {i}, a prompt long enough to fill a "
             "few kilobytes of log between them", "duration": "5", "seed": i}
            for i in range(count)]


@pytest.fixture
def reader(log) -> HistoryLog:
    """A log of 80 rows (well over the 4 KiB checked before its end), loaded once."""
    write_log(log.path, _rows(80))
    log.load()
    return log


def _after(reader: HistoryLog, change) -> list[Path]:
    """Change the file, load; which logs were read whole by that load."""
    change(reader.path)
    with full_reads() as whole:
        reader.load()
    assert_as_parsed_whole(reader)
    return whole


def _rewrite(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))  # in place: the inode stays


def _rewrite_and_append(old: bytes, new: bytes):
    def change(path: Path) -> None:
        _rewrite(path, old, new)
        append_rows(path, _rows(1, "new"))
    return change


def test_an_append_alone_is_folded(reader):
    assert _after(reader, lambda path: append_rows(path, _rows(2, "new"))) == []


@pytest.mark.parametrize("change", [
    pytest.param(_rewrite_and_append(b"take 79,", b"TAKE 79,"), id="same bytes count"),
    pytest.param(_rewrite_and_append(b"take 79,", b"take seventy-nine,"), id="near the end"),
    pytest.param(_rewrite_and_append(b"take 0,", b"take zero,"), id="far from the end"),
    pytest.param(_rewrite_and_append(b",model,", b",mode1,"), id="the header"),
    pytest.param(lambda path: _rewrite(path, b"take 3,", b"TAKE 3,"), id="no growth"),
    pytest.param(lambda path: os.utime(path, ns=(1, 1)), id="only the time"),
    pytest.param(lambda path: write_log(path, _rows(10)), id="shrunk"),
    pytest.param(lambda path: path.unlink(), id="deleted"),
])
def test_a_file_rewritten_in_place_is_parsed_whole(reader, change):
    assert _after(reader, change) == [reader.path]


def test_a_file_replaced_by_another_is_parsed_whole(reader):
    def replace(path: Path) -> None:
        other = path.with_name("other.csv")
        other.write_bytes(path.read_bytes() + encode(HISTORY_COLUMNS, _rows(1, "new")))
        os.replace(other, path)
    assert _after(reader, replace) == [reader.path]


@pytest.mark.parametrize("tail", [
    b"new0,2025-01-02T00:00:00+00:00,pen",                            # no newline yet
    b'new0,2025-01-02T00:00:00+00:00,pending,"half a prompt\r\n',      # inside a cell
])
def test_a_torn_tail_is_parsed_whole_and_set_aside(reader, tail):
    def tear(path: Path) -> None:
        append_rows(path, _rows(1, "ok"))
        with open(path, "ab") as handle:
            handle.write(tail)
    assert _after(reader, tear) == [reader.path]
    assert reader.torn_path.read_bytes() == tail + b"\n"
    assert "ok0" in set(reader.load()["id"])
    assert _after(reader, lambda path: append_rows(path, _rows(1, "more"))) == []


@pytest.mark.parametrize("damage", [
    UNMATCHED.encode() + b"\r\n",                                     # a quote left open
    wide(HISTORY_COLUMNS, _rows(1, "x")[0], b",z" * 20),              # too many cells
    wide(HISTORY_COLUMNS, _rows(1, "x")[0], b","),                    # one more, blank
])
def test_a_damaged_tail_is_parsed_whole(reader, damage):
    def damaged(path: Path) -> None:
        with open(path, "ab") as handle:
            handle.write(damage)
        append_rows(path, _rows(2, "after"))
    assert _after(reader, damaged) == [reader.path]
    # Where a damaged record ends may depend on what follows it: every later load of
    # that file is a full parse too.
    assert _after(reader, lambda path: append_rows(path, _rows(1, "more"))) == [reader.path]


def test_an_escaped_log_is_parsed_whole_until_migrated(log):
    log.data_dir.mkdir(parents=True)
    log.path.write_bytes(b"id,created_at,status,prompt\n"
                         b"e1,2025-01-01T00:00:00+00:00,succeeded,line one\\nline two\n")
    assert log.get("e1")["prompt"] == "line one\nline two"
    assert _after(log, lambda path: append_rows(path, _rows(1, "a"), ("id", "created_at",
                                                                        "status", "prompt"))
                  ) == [log.path]
    writer = HistoryLog(log.data_dir)
    # The first append by this code migrates the file: a new file, parsed whole once.
    assert _after(log, lambda path: writer.record_pending(request())) == [log.path]
    assert _after(log, lambda path: writer.record_pending(request())) == []
    assert log.get("e1")["prompt"] == "line one\nline two"


def test_times_that_need_nanoseconds_are_parsed_whole(reader):
    def far_then_fine(path: Path) -> None:
        append_rows(path, [{"id": "far", "created_at": FAR, "status": "pending"}])
        append_rows(path, [{"id": "fine", "created_at": NANOSECONDS, "status": "pending"}])
    assert _after(reader, far_then_fine) == [reader.path]
    assert pd.isna(reader.get("far")["created_at"])  # read with the nanoseconds
    assert _after(reader, lambda path: append_rows(path, _rows(1, "new"))) == [reader.path]
    # Once no row's state needs nanoseconds, appends are folded again.
    assert _after(reader, lambda path: append_rows(path, [
        {"id": "fine", "created_at": TIMES[0], "status": "failed"}])) == [reader.path]
    assert _after(reader, lambda path: append_rows(path, _rows(1, "more"))) == []
    assert reader.get("far")["created_at"].year == 2300


def test_another_time_zone_is_parsed_whole(reader, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert _after(reader, lambda path: append_rows(path, _rows(1, "new"))) == [reader.path]
    assert str(reader.load()["created_at"].dt.tz) == "Asia/Tokyo"
