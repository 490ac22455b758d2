"""One append-only log file: torn last rows set aside (even inside a multi-line cell, even
from a writer killed mid-row), blank or foreign files, and appends that stay O(1)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import filelock
import pandas as pd
import pytest

from kling.history import ANNOTATION_COLUMNS, HistoryError, HistoryLog

from .support import ROOT, UNMATCHED, lines, plain_pandas, request, text_request


# -- torn rows -----------------------------------------------------------------------------

@pytest.mark.parametrize("torn", [
    b'20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pending,"half a prompt, with',
    b"20250101-000000-deadbeef,2025-01",
    "20250101-000000-deadbeef,2025,pending,caf\u00e9 \U0001F600".encode()[:-2],  # mid-char
])
def test_torn_last_row_is_set_aside_with_a_warning(log, caplog, torn):
    first = log.record_pending(request("before the crash"))
    with open(log.path, "ab") as handle:
        handle.write(torn)
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        after = log.record_pending(request('after the crash, "quoted"'))
    assert "incomplete row" in caplog.text
    assert log.torn_path.read_bytes() == torn + b"\n"
    assert log.path.read_bytes().endswith(b"\n")
    frame = HistoryLog(log.data_dir).load()
    assert sorted(frame["id"]) == sorted([first, after])
    assert log.get(after)["prompt"] == 'after the crash, "quoted"'
    assert pd.read_csv(log.path).shape[0] == 2


def test_reader_repairs_a_torn_row_when_no_writer_is_busy(log, caplog):
    gen_id = log.record_pending(request())
    with open(log.path, "ab") as handle:
        handle.write(b"20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pen")
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        assert list(HistoryLog(log.data_dir).load()["id"]) == [gen_id]
    assert log.torn_path.exists() and "incomplete row" in caplog.text


def test_a_row_being_written_is_not_read_and_not_set_aside(log):
    gen_id = log.record_pending(request())
    with open(log.path, "ab") as handle:
        handle.write(b"20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pen")
    # Another process is mid-append: it holds the lock.
    busy = filelock.FileLock(str(log.data_dir / "history.lock"))
    with busy:
        reader = HistoryLog(log.data_dir)
        assert list(reader.load()["id"]) == [gen_id]
    assert not log.torn_path.exists()


def test_a_torn_header_is_set_aside_and_the_log_restarts(log):
    log.data_dir.mkdir(parents=True)
    log.path.write_bytes(b"id,created_at,sta")
    gen_id = log.record_pending(request())
    assert log.torn_path.read_bytes() == b"id,created_at,sta\n"
    assert list(log.load()["id"]) == [gen_id]


def test_an_unmatched_quote_at_the_very_end_is_set_aside_like_a_torn_row(log, caplog):
    # Byte for byte the same as a row torn right after a newline inside a quoted cell.
    first = log.record_pending(request("good, with a comma"))
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(UNMATCHED + "\n")
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        after = log.record_pending(request("plain words"))
    assert "incomplete row" in caplog.text
    assert log.torn_path.read_bytes() == UNMATCHED.encode() + b"\n\n"  # verbatim
    assert list(pd.read_csv(log.path)["id"]) == [first, after]


# -- torn tails inside quoted multi-line cells ---------------------------------------------

TORN_ID = "20250101-000000-deadbeef"


TORN_TAILS = [
    # cut right after an embedded newline: the file ends in "\n" yet the row is torn
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"first line, with a comma\n',
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"one\r\ntwo, ""quoted""\n',
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"one\n\n',
    # cut inside the second line of a quoted cell
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"one\ntwo caf\u00e9 \U0001F600'[:-1],
    # cut after the quoted cell closed, before the record ended (or between CR and LF)
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"one\ntwo",5,16:9,4',
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"one\ntwo",5,16:9,4\r',
    # a torn prompt holding lines that look like the start of a record
    f'{TORN_ID},2025-01-01T00:00:00.000+00:00,pending,"pasted rows:\n'
    f'20250101-000000-abcdef12,2025-01-01,pending,x\n20250101-000000-abcdef13,y,failed\n',
]


@pytest.mark.parametrize("torn", TORN_TAILS)
@pytest.mark.parametrize("who", ["same writer", "fresh writer", "fresh reader"])
def test_a_row_torn_inside_a_multi_line_cell_is_set_aside(log, caplog, torn, who):
    first = log.record_pending(text_request("before the crash\nsecond line"))
    torn_bytes = torn.encode()
    with open(log.path, "ab") as handle:
        handle.write(torn_bytes)
    writer = log if who == "same writer" else HistoryLog(log.data_dir)
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        if who == "fresh reader":
            assert list(writer.load()["id"]) == [first]  # the torn row is never shown
            assert log.torn_path.exists()
        after = writer.record_pending(text_request('after the crash, "quoted"\nline two'))
    assert "incomplete row" in caplog.text
    assert log.torn_path.read_bytes() == torn_bytes + b"\n"
    frame = plain_pandas(log.path)
    assert list(frame["id"]) == [first, after]
    assert list(frame["prompt"]) == ["before the crash\nsecond line",
                                     'after the crash, "quoted"\nline two']
    loaded = HistoryLog(log.data_dir).load()
    assert sorted(loaded["id"]) == sorted([first, after])


CRASHING_WRITER = textwrap.dedent("""
    import os, signal, sys
    import kling.history as history
    from kling.models import GenerationRequest
    log = history.HistoryLog(sys.argv[1])
    real_write = os.write

    def torn_write(fd, data):
        data = bytes(data)
        if data.startswith(sys.argv[2].encode()):  # the row: written up to its first newline
            real_write(fd, data[: data.index(b"\\n") + 1])
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)

    os.write = torn_write
    log.record_pending(GenerationRequest(sys.argv[3], "5", "16:9", 7), gen_id=sys.argv[2])
""")


def test_a_writer_killed_right_after_an_embedded_newline_leaves_no_trace(log):
    first = log.record_pending(text_request("before"))
    prompt = "first line of the prompt\nsecond line, never written"
    child = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(log.data_dir),
                            TORN_ID, prompt], cwd=ROOT, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == -signal.SIGKILL
    assert log.path.read_bytes().endswith(b"first line of the prompt\n")

    reader = HistoryLog(log.data_dir)
    assert list(reader.load()["id"]) == [first]
    torn = log.torn_path.read_bytes()
    assert torn.startswith(TORN_ID.encode()) and torn.endswith(b"first line of the prompt\n\n")
    after = log.record_pending(text_request("after"))
    assert list(plain_pandas(log.path)["id"]) == [first, after]


# -- blank files and files that are not ours -----------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\n", b"\n\n  \n", b"\r\n"])
@pytest.mark.parametrize("name", ["history.csv", "annotations.csv"])
def test_a_blank_file_is_an_empty_log_and_the_next_append_writes_a_header(
        log, content, name):
    log.data_dir.mkdir(parents=True)
    (log.data_dir / name).write_bytes(content)
    assert log.load().empty and log.stats().total == 0

    gen_id = log.record_pending(request("after the blank file"))
    log.annotate(gen_id, rating=4)
    for path, first in ((log.path, "id,created_at,status"),
                        (log.annotations_path, "id,field,value")):
        assert lines(path)[0].startswith(first)
        assert pd.read_csv(path).shape[0] == 1
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "after the blank file" and row["rating"] == 4


def test_a_file_emptied_under_a_running_studio_gets_its_header_back(log):
    log.record_pending(request("before"))
    log.annotate(log.record_pending(request("rated")), rating=2)
    log.path.write_bytes(b"\n")  # emptied in place: same inode, no header
    log.annotations_path.write_bytes(b"")
    gen_id = log.record_pending(request("after"))
    log.annotate(gen_id, favourite=True)
    assert lines(log.path)[0].startswith("id,created_at,status")
    assert lines(log.annotations_path)[0] == ",".join(ANNOTATION_COLUMNS)
    frame = HistoryLog(log.data_dir).load()
    assert list(frame["prompt"]) == ["after"] and bool(frame["favourite"].iloc[0])


def test_blank_lines_before_the_header_are_skipped(log):
    first = log.record_pending(request("one"))
    log.path.write_bytes(b"\n\n" + log.path.read_bytes())
    second = HistoryLog(log.data_dir).record_pending(request("two"))
    assert sorted(HistoryLog(log.data_dir).load()["id"]) == sorted([first, second])


@pytest.mark.parametrize("name", ["history.csv", "annotations.csv"])
def test_a_header_without_id_refuses_appends_clearly_and_loads_what_it_can(log, name):
    gen_id = log.record_pending(request("kept"))
    path = log.data_dir / name
    path.write_text("created_at,status,prompt\n2025-01-01T00:00:00+00:00,succeeded,x\n")
    before = path.read_bytes()
    reader = HistoryLog(log.data_dir)
    frame = reader.load()  # no KeyError
    reader.stats()
    if name == "history.csv":
        assert frame.empty  # rows without ids cannot be told apart
    else:
        assert list(frame["id"]) == [gen_id] and frame["rating"].isna().all()
    with pytest.raises(HistoryError, match="no 'id' column"):
        reader.record_pending(request("new")) if name == "history.csv" else \
            reader.annotate(gen_id, rating=3)
    assert path.read_bytes() == before


# -- appends stay O(1) ---------------------------------------------------------------------

def test_an_append_reads_only_what_other_writers_appended(log, monkeypatch):
    import kling.history.logfile as logfile

    for i in range(40):
        log.record_pending(text_request(f"row {i}, \"quoted\"\nline two"))
    other = HistoryLog(log.data_dir)
    other.load()  # a load that found nothing cut short tells where the records end
    reads: list[int] = []
    real_pread_all = logfile._pread_all

    def spy(fd: int, start: int, end: int) -> bytes:
        reads.append(end - start)
        return real_pread_all(fd, start, end)

    def no_scan(*args, **kwargs):
        raise AssertionError("an append scanned the log")

    monkeypatch.setattr(logfile, "_pread_all", spy)
    monkeypatch.setattr(logfile, "last_record_start", no_scan)
    size = log.path.stat().st_size
    other.record_pending(text_request("from the other writer\nline two"))
    appended = log.path.stat().st_size - size
    log.record_pending(text_request("back to the first writer"))
    log.record_pending(text_request("and once more"))
    assert reads and max(reads) == appended  # the other writer's row, nothing more
    monkeypatch.undo()
    assert len(HistoryLog(log.data_dir).load()) == 43


def test_a_writer_that_knows_nothing_reads_the_log_once(log, monkeypatch):
    import kling.history.logfile as logfile

    for i in range(5):
        log.record_pending(text_request(f"row {i}\nline two"))
    scans: list[int] = []
    real = logfile.last_record_start

    def counting(*args, **kwargs):
        scans.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(logfile, "last_record_start", counting)
    fresh = HistoryLog(log.data_dir)
    for i in range(3):
        fresh.record_pending(text_request(f"new {i}"))
    assert scans == [1]
