"""history.csv and annotations.csv are plain RFC 4180 CSV that any tool reads exactly.

Multi-line text (backslashes, CRLF, tabs, quotes, commas, unicode) comes back exactly from
`pandas.read_csv`, the `csv` module and `HistoryLog.load()`; a record torn inside a quoted
multi-line cell (even right after an embedded newline) is set aside; a damaged record in
the middle costs only itself; logs in the earlier escaped format migrate once.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult

ROOT = Path(__file__).resolve().parents[1]

PROMPT = ('Line one, "quoted" \\ and C:\\new\\road\\\r\n'
          "\tline two with a tab, ünïcode ✓ 中文 😀\n"
          "\n"
          '""double quotes"", trailing backslash \\\n'
          "last line\r")
NOTES = 'first note line\r\nsecond, "quoted" \\n (not a newline)\n\\'


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


@pytest.fixture
def log(tmp_path) -> HistoryLog:
    return HistoryLog(tmp_path / "data")


def request(prompt: str, seed: int = 42) -> GenerationRequest:
    return GenerationRequest(prompt, "5", "16:9", seed)


def result() -> GenerationResult:
    return GenerationResult.parse({
        "videos": [{"url": "https://blob.example/v.mp4", "duration": 5, "width": 1920,
                    "height": 1088, "content_type": "video/mp4"}],
        "seed": 42, "timings": {"inference": 12.0},
    })


def plain_pandas(path: Path) -> pd.DataFrame:
    """The file as anyone reads it with pandas, text kept as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- exact text, whatever reads it -------------------------------------------------------

def test_multi_line_text_reads_back_exactly_with_pandas_csv_and_load(log):
    gen_id = log.record_pending(request(PROMPT), template_vars={"subject": PROMPT})
    log.record_success(gen_id, result(), elapsed_s=13)
    other = log.record_pending(request("a plain one, with a comma"))
    log.annotate(gen_id, notes=NOTES, tags="summer, hero")

    raw = log.path.read_bytes()
    assert "\r\n\tline two".encode() in raw  # CR, LF and tab as they are, not escaped
    assert b"C:\\new\\road" in raw  # backslashes single
    assert b"\x00" not in raw

    frame = plain_pandas(log.path)
    assert list(frame["id"]) == [gen_id, gen_id, other]
    assert list(frame["prompt"][:2]) == [PROMPT, PROMPT]
    assert frame["status"].tolist() == ["pending", "succeeded", "pending"]
    # pandas with no options at all returns the text exactly too.
    assert pd.read_csv(log.path)["prompt"].iloc[1] == PROMPT

    rows = csv_rows(log.path)
    assert [r["prompt"] for r in rows] == [PROMPT, PROMPT, "a plain one, with a comma"]
    assert list(rows[0])[:4] == ["id", "created_at", "status", "prompt"]

    notes = plain_pandas(log.annotations_path)
    assert notes.set_index("field").loc["notes", "value"] == NOTES
    assert [r["value"] for r in csv_rows(log.annotations_path) if r["field"] == "notes"] == \
        [NOTES]

    fresh = HistoryLog(log.data_dir)
    row = fresh.get(gen_id)
    assert row["prompt"] == PROMPT and row["notes"] == NOTES
    assert row["template_vars"] == {"subject": PROMPT}
    assert row["tags"] == ["summer", "hero"] and row["status"] == "succeeded"
    assert sorted(fresh.load()["prompt"]) == sorted([PROMPT, "a plain one, with a comma"])


def test_no_nul_ever_reaches_the_file(log):
    gen_id = log.record_pending(request("before\x00after\n\x00"))
    log.annotate(gen_id, notes="a\x00b")
    for path in (log.path, log.annotations_path):
        assert b"\x00" not in path.read_bytes()
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "before\ufffdafter\n\ufffd" and row["notes"] == "a\ufffdb"
    assert plain_pandas(log.path)["prompt"].iloc[0] == "before\ufffdafter\n\ufffd"


def test_a_prompt_holding_a_line_that_looks_like_a_record_is_one_record(log):
    looks_like_a_row = ('shot list:\n20250101-000000-abcdef12,2025-01-01T00:00:00+00:00,'
                        'pending,"a fox\nid,created_at,status\n,"odd" quote')
    first = log.record_pending(request("first"))
    gen_id = log.record_pending(request(looks_like_a_row))
    fresh = HistoryLog(log.data_dir)  # knows no record boundary: scans the file
    assert fresh.get(gen_id)["prompt"] == looks_like_a_row
    after = fresh.record_pending(request("after"))
    assert not log.torn_path.exists()
    frame = plain_pandas(log.path)
    assert list(frame["id"]) == [first, gen_id, after]
    assert frame["prompt"].iloc[1] == looks_like_a_row
    assert HistoryLog(log.data_dir).get(gen_id)["prompt"] == looks_like_a_row


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
    first = log.record_pending(request("before the crash\nsecond line"))
    torn_bytes = torn.encode()
    with open(log.path, "ab") as handle:
        handle.write(torn_bytes)
    writer = log if who == "same writer" else HistoryLog(log.data_dir)
    with caplog.at_level(logging.WARNING, logger="kling.history"):
        if who == "fresh reader":
            assert list(writer.load()["id"]) == [first]  # the torn row is never shown
            assert log.torn_path.exists()
        after = writer.record_pending(request('after the crash, "quoted"\nline two'))
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
    first = log.record_pending(request("before"))
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
    after = log.record_pending(request("after"))
    assert list(plain_pandas(log.path)["id"]) == [first, after]


# -- damage in the middle costs one record -------------------------------------------------

@pytest.mark.parametrize("later_prompt", ["plain words", 'with "quotes", and a comma'])
def test_a_damaged_record_in_the_middle_costs_only_itself(log, caplog, later_prompt):
    prompts = [f"take {i}\nsecond line of take {i}" for i in range(5)]
    prompts[1] = 'take 1, "quoted"\nsecond line'
    ids = [log.record_pending(request(p, seed=i)) for i, p in enumerate(prompts)]
    ids.append(log.record_pending(request(f"{later_prompt}\nmore")))
    log.annotate(ids[3], rating=5)
    # A hand edit deletes the closing quote of record 2 (an editor rewrites the file).
    data = log.path.read_bytes()
    good = b'"take 2\nsecond line of take 2",'
    assert data.count(good) == 1
    damaged = data.replace(good, b'"take 2\nsecond line of take 2,')
    log.path.write_bytes(damaged)

    with caplog.at_level(logging.WARNING, logger="kling.history"):
        reader = HistoryLog(log.data_dir)
        frame = reader.load().set_index("id")
    assert sorted(frame.index) == sorted(ids[:2] + ids[3:])
    for i in (0, 1, 3, 4):
        assert frame.loc[ids[i], "prompt"] == prompts[i]
    assert frame.loc[ids[5], "prompt"] == f"{later_prompt}\nmore"
    assert reader.get(ids[3])["rating"] == 5
    assert "kept in the file" in caplog.text
    assert log.path.read_bytes() == damaged  # skipped, never removed

    # Appends by a writer that knows nothing, and by the one that wrote before, still work.
    new = [HistoryLog(log.data_dir).record_pending(request("new one\nline two")),
           log.record_pending(request("and another"))]
    assert log.path.read_bytes().startswith(damaged)
    assert not log.torn_path.exists()
    frame = HistoryLog(log.data_dir).load().set_index("id")
    assert sorted(frame.index) == sorted(ids[:2] + ids[3:] + new)
    assert frame.loc[new[0], "prompt"] == "new one\nline two"


# -- earlier, escaped logs migrate once ---------------------------------------------------

OLD_HEADER = ("id,created_at,status,prompt,duration,aspect_ratio,seed,inference_s,elapsed_s,"
              "video_url,video_path,error,project\n")
OLD_ROWS = (
    '20240101-000000-aaaa0001,2024-01-01T09:00:00+00:00,succeeded,'
    '"two\\nlines, with \\\\ and ""quotes""",5,16:9,1,12.5,13.0,,,,spring\n'
    "20240101-000000-aaaa0002,2024-01-01T09:01:00+00:00,failed,"
    "C:\\\\new\\\\road\\r\\nend\\0 \\\\n,10,9:16,2,,,,,\"Server error, sorry\",\n"
    "20240101-000000-aaaa0003,2024-01-01T09:02:00+00:00,succeeded,plain,5,16:9,3,,,,,autumn\n"
)
OLD_PROMPTS = {
    "20240101-000000-aaaa0001": 'two\nlines, with \\ and "quotes"',
    "20240101-000000-aaaa0002": "C:\\new\\road\r\nend\ufffd \\n",
    "20240101-000000-aaaa0003": "plain",
}
OLD_ANNOTATIONS = ("id,field,value,annotated_at\n"
                   "20240101-000000-aaaa0001,notes,first\\nsecond \\\\ end,"
                   "2024-01-02T00:00:00+00:00\n")


def test_an_escaped_log_migrates_once_and_losslessly(log, caplog):
    log.data_dir.mkdir(parents=True)
    log.path.write_text(OLD_HEADER + OLD_ROWS, encoding="utf-8")
    log.annotations_path.write_text(OLD_ANNOTATIONS, encoding="utf-8")

    before = HistoryLog(log.data_dir).load().set_index("id")  # read as it is, decoded
    for gen_id, prompt in OLD_PROMPTS.items():
        assert before.loc[gen_id, "prompt"] == prompt
    assert before.loc["20240101-000000-aaaa0001", "notes"] == "first\nsecond \\ end"

    with caplog.at_level(logging.INFO, logger="kling.history"):
        gen_id = log.record_pending(request("new\nrow"))
        log.annotate(gen_id, notes="new\nnote")
    frame = plain_pandas(log.path).set_index("id")
    for old_id, prompt in OLD_PROMPTS.items():
        assert frame.loc[old_id, "prompt"] == prompt
    assert frame.loc["20240101-000000-aaaa0001", "project"] == "spring"
    assert frame.loc["20240101-000000-aaaa0002", "error"] == "Server error, sorry"
    assert frame.loc[gen_id, "prompt"] == "new\nrow"
    notes = plain_pandas(log.annotations_path)
    assert list(notes["value"]) == ["first\nsecond \\ end", "new\nnote"]
    assert [r["prompt"] for r in csv_rows(log.path)][:3] == list(OLD_PROMPTS.values())
    assert "migrated" in caplog.text

    # A second open (another process, say) finds the new format: nothing migrates again.
    inodes = (log.path.stat().st_ino, log.annotations_path.stat().st_ino)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kling.history"):
        second = HistoryLog(log.data_dir)
        other = second.record_pending(request("second open"))
        second.annotate(other, notes="x\\ny")
    assert (log.path.stat().st_ino, log.annotations_path.stat().st_ino) == inodes
    assert "migrated" not in caplog.text
    frame = HistoryLog(log.data_dir).load().set_index("id")
    for old_id, prompt in OLD_PROMPTS.items():
        assert frame.loc[old_id, "prompt"] == prompt  # never decoded twice
    assert frame.loc[other, "notes"] == "x\\ny"
    assert frame.loc["20240101-000000-aaaa0001", "notes"] == "first\nsecond \\ end"
    assert len(plain_pandas(log.path)) == 5


# -- appends stay O(1) ----------------------------------------------------------------------

def test_an_append_reads_only_what_other_writers_appended(log, monkeypatch):
    import kling.history.logfile as logfile

    for i in range(40):
        log.record_pending(request(f"row {i}, \"quoted\"\nline two"))
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
    other.record_pending(request("from the other writer\nline two"))
    appended = log.path.stat().st_size - size
    log.record_pending(request("back to the first writer"))
    log.record_pending(request("and once more"))
    assert reads and max(reads) == appended  # the other writer's row, nothing more
    monkeypatch.undo()
    assert len(HistoryLog(log.data_dir).load()) == 43


def test_a_writer_that_knows_nothing_reads_the_log_once(log, monkeypatch):
    import kling.history.logfile as logfile

    for i in range(5):
        log.record_pending(request(f"row {i}\nline two"))
    scans: list[int] = []
    real = logfile.last_record_start

    def counting(*args, **kwargs):
        scans.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(logfile, "last_record_start", counting)
    fresh = HistoryLog(log.data_dir)
    for i in range(3):
        fresh.record_pending(request(f"new {i}"))
    assert scans == [1]
