"""The generation history: an append-only CSV log of every generation, plus its annotations.

`HistoryLog` owns `data/history.csv` (the log) and `data/annotations.csv` (favourites,
ratings, review status, notes, tags, hidden). The studio's pages, the job queue and the
command line all read and write through it; queries, statistics and exports for the
History page live here too, so the page only lays out what they return.

File design, and why
--------------------
* **A log, never rewritten.** Every change of a generation appends one *complete* row
  (prompt, settings and outcome together); where several rows share an `id`, the last is
  the state. An append never rewrites the file, and reads at most what other writers
  appended since it last looked (below), so it costs the same for ten rows or a
  million, and a crash can only ever damage the row being written.
* **Plain RFC 4180 CSV.** A cell is quoted only when it holds `"`, `,`, CR or LF, and a
  quote inside it is doubled; newlines, CRLF, tabs, backslashes and all of Unicode are
  stored as they are, so `pandas.read_csv`, the `csv` module and a spreadsheet read every
  prompt and note exactly (a record may span several lines). Records end with CRLF, the
  line break RFC 4180 names. NUL, which pandas cannot hold, is written as U+FFFD
  (`NUL_REPLACEMENT`): the one change made to any text, so no NUL reaches the file or an
  export (JSON cells such as `template_vars` keep it as `\\u0000`).
* **Format marker: the header's line end.** Earlier versions kept one record per
  physical line by escaping backslash, CR, LF and NUL in text cells as `\\\\`, `\\r`,
  `\\n`, `\\0`, and ended every line with a bare LF. A header that ends with CRLF is
  this format; one that ends with a bare LF is the escaped format: it loads with the
  escapes decoded, and the first append migrates it (below). The marker adds nothing a
  reader sees: the header is still `id,created_at,status,prompt,...`, with no extra
  column. (A file re-saved by a tool that writes bare LF is taken for the escaped format,
  so only text holding backslash sequences could change; one re-saved with CRLF, as
  spreadsheets on Windows do, is read as it is.)
* **Nothing lost.** `record_pending` is appended and fsync'd before the request is sent;
  the outcome is appended after. Each pending row carries `owner` =
  `host:pid:<boot id>-<process start ticks>`. On load, a pending row whose owner process
  on this host is gone (or is another process that reuses the pid) is shown as
  `interrupted`, prompt and seed intact; pending rows from other hosts become interrupted
  after `PENDING_TIMEOUT_S`. This process's own in-flight generations stay pending.
* **Safe together.** Every append holds a `threading.Lock` and a `filelock.FileLock`
  (`history.lock`) and writes the whole encoded batch with one `os.write` on an
  `O_APPEND` descriptor, then fsyncs. Readers take no lock: they parse complete lines
  only and leave out a last record whose quotes do not pair up, so a row being written
  right now is simply not seen yet.
* **Safe after a crash.** A crash mid-append leaves the first part of a record. Every
  `"` this code writes opens or closes a quoted cell or is doubled inside one, so a
  record ends at the first newline where the quotes since its start pair up. Before
  appending (under the lock) a writer counts the quotes from a known record boundary to
  the end of the file: an odd count, or a last byte that is not a newline, means the
  last record is torn, even when it was cut right after a newline inside a quoted cell.
  The boundary is where this object's own last append or repair ended, or the end of
  its last load if pandas read that in one go; it is kept with the inode and the 4 KiB
  before it and re-checked with one `pread`, so an append reads only what other writers
  appended since: O(1), whatever the size of the log. When nothing is known (a process
  that has not loaded yet, a file rewritten in place) the file is read once: the last
  line that starts a record (its key cells unquoted, e.g. `<id>,<created_at>,pending,`,
  as every record begins) is a boundary if the quotes before it pair up, which holds for
  every file this code wrote; if they do not (a damaged record kept in the file, or a
  prompt holding such a line) the file is read record by record as a load reads it, and
  a quote that stays open to the end with no complete record after it is the torn
  record's own text. (Only a torn prompt that itself holds lines shaped like complete
  records, met by a process that knows no boundary, would be read as a damaged record
  followed by those lines.) The torn bytes are appended verbatim to `history.torn.csv`
  (fsync'd), a warning is logged, and only then is the log truncated back to the last
  complete record, so the next append starts a record of its own. A reader that finds a
  torn tail (or whose parse left out a last record cut short) and can take the lock
  without waiting repairs it the same way; if the lock is busy, a writer is mid-row and
  the tail is left alone. A log in the escaped format keeps the earlier rule (the bytes
  after the last newline) until it is migrated. (A hand edit that leaves an unmatched
  quote at the very end of the file cannot be told from a torn record; it is set aside
  the same way, so nothing is ever appended after an open quote.)
* **Columns and formats evolve.** The header is fixed when the file is created and
  appends write cells in the *file's* column order (unknown columns, e.g. from a newer
  version, are written empty and so kept). A log with fewer columns than this code knows,
  or in the escaped format, loads with the columns filled in and the escapes decoded; the
  first append by this code migrates it once, under the lock, to this format with a
  header that is the union (temp file + `os.replace`; every row, value and unknown column
  kept, escapes decoded; a line that cannot be read is copied verbatim). A second open
  finds the marker and all the columns, and migrates nothing. Rows that cannot be
  parsed (wrong status, too many cells) are skipped with a warning, never removed.
* **Damage costs one record.** pandas reads the file in one go; a quote left open by a
  hand edit would make it read the records after it as part of one cell. Every record
  begins a line with its key cells, so the number of such lines is checked against the
  records pandas found with valid key cells; on a mismatch, or when pandas cannot parse
  the file at all ("EOF inside string"), the file is read again record by record with the
  `csv` module (strict). A record that cannot be read (a quote left open, text after a
  closing quote, more cells than the header) is skipped with a warning and reading
  resumes at the next line that starts a record, so it costs only itself; it stays in
  the file as it is. A blank file, or one with only blank lines, is an empty log: the
  next append starts it again with a header. A file whose header has no `id` column
  loads as empty and refuses appends with `HistoryError` (nothing is written to a file
  that is not ours).
* **Annotations in a second file.** `annotations.csv` is a log of `(id, field, value,
  annotated_at)` rows in the same format (marker, quoting, torn-row repair, migration);
  the last row per (id, field) wins. Changing one rating appends one short record, never
  rewrites the large log, and two people editing different fields of one generation at
  once cannot overwrite each other.
* **Cheap repeated loads.** `load()` is keyed by `(inode, size, mtime_ns)` of both files
  and returns the cached frame (a copy-on-write shallow copy, so callers may not corrupt
  the cache) when neither changed; the pages call it on every rerun.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
import logging
import math
import os
import re
import stat
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .billing import UNKNOWN_OUTCOME, estimate_cost, possibly_billed, possibly_billed_rows
from .errors import KlingError
from .timing import Expectation, measured_expectations
from .models import ASPECT_RATIOS, DURATIONS, MODEL_NAME, GenerationRequest, GenerationResult
from .storage.atomic import fsync_dir, replacing
from .storage.locks import LockPair, LockTimeout
from .storage.process import owner_alive, process_owner
from .storage.signature import signature

log = logging.getLogger("kling.history")

STATUSES = ("pending", "succeeded", "failed", "interrupted")
REVIEW_STATUSES = ("draft", "approved", "rejected")
SORTS = ("newest", "oldest", "inference_fast", "inference_slow", "rating")

#: Column order of a new log file. Files keep whatever header they were created with.
HISTORY_COLUMNS = (
    "id", "created_at", "status", "prompt", "duration", "aspect_ratio", "seed",
    "inference_s", "elapsed_s", "video_url", "video_path", "error",
    "finished_at", "model", "template_id", "template_version", "template_vars", "batch_id",
    "video_width", "video_height", "video_duration", "cost_usd", "source", "error_type",
    "http_status", "archive_error", "owner",
)
ANNOTATION_COLUMNS = ("id", "field", "value", "annotated_at")
#: Annotation columns `load()` adds to every row (defaults when never annotated).
ANNOTATION_FIELDS = ("favourite", "rating", "review_status", "notes", "tags", "hidden")

_INT_COLUMNS = ("seed", "template_version", "video_width", "video_height", "http_status")
_FLOAT_COLUMNS = ("inference_s", "elapsed_s", "video_duration", "cost_usd")
_TIME_COLUMNS = ("created_at", "finished_at")

#: A pending row from another host (whose process we cannot inspect) is considered
#: interrupted after this long; generous because large batches queue for hours.
PENDING_TIMEOUT_S = 6 * 3600
#: How long an append waits for another writer before giving up with `HistoryError`.
LOCK_TIMEOUT_S = 30.0
#: Outcomes of this many recent generations are remembered so the outcome row can repeat
#: the pending row without reading the log.
_REMEMBERED_ROWS = 10_000
MAX_NOTES_CHARS = 10_000

#: Our generation ids: safe as file names (no dots, no separators), never taken from URLs.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
#: The first byte of a line that is not blank (pandas skips blank lines, so do we).
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


class HistoryError(KlingError):
    """The history log could not be written (disk full, read-only, lock held too long)."""

    kind = "history"
    default_message = "The generation history could not be written."
    default_hint = "Check that the data directory exists, is writable and has free space."


# -- ids and the writing process --------------------------------------------------------

def new_id() -> str:
    """A new generation id: sortable by time, unique, safe as a file name."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def check_id(gen_id: object) -> str:
    """`gen_id` if it has our id format; `ValueError` otherwise."""
    if not isinstance(gen_id, str) or not ID_PATTERN.fullmatch(gen_id):
        raise ValueError(f"not a generation id: {str(gen_id)[:40]!r}")
    return gen_id


def local_timezone() -> tzinfo:
    """The studio's time zone, which decides what "today" and "this month" mean."""
    names = []
    if os.environ.get("TZ"):
        names.append(os.environ["TZ"].lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            names.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in names:
        try:
            return ZoneInfo(name)
        except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            continue
    return datetime.now().astimezone().tzinfo or timezone.utc


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- cells and lines ----------------------------------------------------------------------

#: A cell is quoted when it holds one of these (`csv.writer` would leave a lone CR bare
#: with `\n` line ends, and pandas would end the record there).
_NEEDS_QUOTES = re.compile(r'[",\r\n]')
#: What NUL, which pandas cannot hold, is written as (see the module docstring).
NUL_REPLACEMENT = "\ufffd"
#: How records (and the header) end: CRLF, as RFC 4180 has it. The header's line end is
#: the format marker (see the module docstring).
_LINE_END = "\r\n"

# Logs of earlier versions (no marker) escaped backslash, CR, LF and NUL in text cells.
_UNESCAPE_RE = re.compile(r"\\([\\nr0])")
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "0": NUL_REPLACEMENT}


def _unescape(text: str) -> str:
    """A text cell of an escaped (earlier) log as the text it stands for."""
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(1)], text)


def _quote(text: str) -> str:
    """One cell as RFC 4180 has it: quoted, inner quotes doubled, only where needed."""
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def _cell(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return value.isoformat()
    return _quote(str(value))


def _header_cells(columns: Sequence[str]) -> str:
    """A header line, without its line end."""
    return ",".join(_quote(name) for name in columns)


def _marked(raw_header: bytes) -> bool:
    """Whether a header line (as bytes, with its line end) is of this format: CRLF.
    Earlier versions, which escaped text cells, ended every line with a bare LF."""
    return raw_header.endswith(b"\r\n")


def _encode(columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
            header: bool = False) -> bytes:
    lines = [_header_cells(columns)] if header else []
    lines.extend(",".join([_cell(row.get(name)) for name in columns]) for row in rows)
    # A lone surrogate cannot be stored as UTF-8; "?" is better than losing the row.
    return "".join(line + _LINE_END for line in lines).encode("utf-8", "replace")


#: The key cells every record starts with, by column name (unquoted, well-formed).
_KEY_CELLS = {
    "id": r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}",  # ID_PATTERN
    "status": "(?:" + "|".join(STATUSES) + ")",
    "field": "(?:" + "|".join(ANNOTATION_FIELDS) + ")",
}


@lru_cache(maxsize=32)
def _record_start(names: tuple[str, ...]) -> tuple[re.Pattern[bytes], re.Pattern[str]] | None:
    """What a line that starts a record of a file with this header looks like.

    Every record this code writes begins with its key cells (id, then status or field)
    unquoted and well-formed, e.g. `<id>,<created_at>,pending,`. Returns a bytes pattern
    that matches a newline and such a line start, and a text pattern for the start of
    one line; None if the header has no `id` column.
    """
    if "id" not in names:
        return None
    last = max(i for i, name in enumerate(names) if name in _KEY_CELLS)
    cells = ",".join(_KEY_CELLS.get(name, r'[^,"\r\n]*') for name in names[: last + 1])
    cells += r"(?=[,\r\n]|$)"
    return re.compile(b"\n" + cells.encode()), re.compile(cells)


def _header_span(data: bytes, end: int | None = None) -> tuple[int, int] | None:
    """(start, end) offsets of the header, the first non-blank line (with its newline)."""
    end = len(data) if end is None else end
    found = _NOT_BLANK.search(data, 0, end)
    if found is None:
        return None
    start = data.rfind(b"\n", 0, found.start()) + 1
    stop = data.find(b"\n", start, end)
    return start, (stop + 1 if stop >= 0 else end)


def _complete_prefix(tail: bytes) -> int:
    """How many leading bytes of `tail`, which starts at a record boundary, are whole
    records.

    Every `"` this code writes opens or closes a quoted cell or is doubled inside one,
    so a record ends at the first newline where the quotes since its start pair up: no
    parsing needed. Bytes after the last such newline are a record cut short.
    """
    if tail.endswith(b"\n") and not tail.count(b'"') & 1:
        return len(tail)
    end = position = quotes = 0
    while (newline := tail.find(b"\n", position)) >= 0:
        quotes += tail.count(b'"', position, newline)
        position = newline + 1
        if not quotes & 1:
            end = position
    return end


def _last_record_start(data: bytes, pattern: re.Pattern[bytes], low: int,
                       high: int | None = None) -> int:
    """Offset of the last line in `data[low:high]` that starts a record (`low` if none).

    Searched backwards in growing windows: the last record is almost always in the
    last few kilobytes.
    """
    high = len(data) if high is None else high
    window = 1 << 16
    while True:
        start = max(low - 1, high - window, 0)
        found = None
        for found in pattern.finditer(data, start, high):
            pass
        if found is not None:
            return found.start() + 1
        if start <= max(low - 1, 0):
            return low
        window *= 8


def _open_tail(data: bytes, end: int) -> bool:
    """Whether the last record of `data[:end]` (complete lines of a log) is cut short.

    Cheap: the quotes from the last line that starts a record. Escaped logs (earlier
    versions) hold one record per line, so theirs never is. Used only to decide whether
    to try a repair, which decides again exactly, under the lock.
    """
    span = _header_span(data, end)
    if span is None or span[1] >= end or not _marked(data[span[0]: span[1]]):
        return False
    header = data[span[0]: span[1]].decode("utf-8", "replace").rstrip("\r\n")
    patterns = _record_start(tuple(next(csv.reader([header]), [])))
    last = _last_record_start(data, patterns[0], span[1], end) if patterns else span[1]
    return bool(data.count(b'"', last, end) & 1)


def _pread_all(fd: int, start: int, end: int) -> bytes:
    chunks = []
    while start < end:
        block = os.pread(fd, min(end - start, 1 << 24), start)
        if not block:
            break
        chunks.append(block)
        start += len(block)
    return b"".join(chunks)


class _TooWide(Exception):
    pass


def _scan_records(lines: list[str], starts: re.Pattern[str] | None, width: int,
                  terminated: bool = True) -> Iterator[tuple[str, list[str], int, int, str]]:
    """The records of a log body one by one, resynchronising after damage.

    `lines` are the body's lines without their newlines (`terminated`: the last one had
    one too). Yields `(kind, cells, first line, end line, note)`:

    * `"row"`: a record (blank lines are skipped, as pandas does);
    * `"damaged"`: a record that cannot be read (a quote left open, which would swallow
      the records after it; text after a closing quote; more cells than the header).
      Reading resumes at the next line that starts a record (`starts`), so the damage
      costs that record only (with any lines after it that start no record);
    * `"open"`: the last record, cut short: its quotes do not pair up by the end (or
      the last line has no newline). Torn by a crash, or being written right now.
      A quote that stays open to the end of the file with no full record (every cell,
      as this code writes them) after it is this too: what follows is the rest of that
      record's text (a torn prompt may hold lines that look like a record's start).
    """
    n = len(lines)
    feed = [line + "\n" for line in lines]  # with newlines, so quoted ones are kept
    if feed and not terminated:
        feed[-1] = lines[-1]
    i = 0
    while i < n:
        reader = csv.reader(itertools.islice(feed, i, None), strict=True)
        done = i
        try:
            for cells in reader:
                end = i + reader.line_num
                if len(cells) < 2 and end - done == 1 and not lines[done].strip(" \t\r"):
                    pass  # a blank line
                elif len(cells) > width:
                    raise _TooWide(f"expected {width} fields, saw {len(cells)}")
                elif end == n and not terminated:
                    yield "open", cells, done, end, ""
                else:
                    yield "row", cells, done, end, ""
                done = end
            return
        except (csv.Error, _TooWide) as exc:
            unclosed = (isinstance(exc, csv.Error) and i + reader.line_num >= n
                        and bool(sum(line.count('"') for line in lines[done:]) & 1))
            resume = n
            if starts is not None:
                resume = next((k for k in range(done + 1, n) if starts.match(lines[k])), n)
            if (resume == n and (unclosed or not terminated)
                    or unclosed and not _full_record_in(feed[resume:], width)):
                yield "open", [], done, n, ""
                return
            yield "damaged", [], done, resume, _problem(feed[done:resume], width, exc)
            i = resume


def _full_record_in(chunk: list[str], width: int) -> bool:
    """Whether the lines hold a record with every cell, as this code writes them."""
    try:
        return any(len(cells) == width for cells in csv.reader(chunk, strict=True))
    except csv.Error:
        return False


def _problem(chunk: list[str], width: int, exc: Exception) -> str:
    """Why lines that start a record cannot be read, as they read alone."""
    try:
        widest = max((len(cells) for cells in csv.reader(chunk, strict=True)), default=0)
    except csv.Error as error:
        return str(error)
    return f"expected {width} fields, saw {widest}" if widest > width else str(exc)


# -- one append-only CSV file -------------------------------------------------------------

#: How many bytes before a remembered record boundary are kept to re-check it.
_BOUNDARY_CHECK = 4096


class _LogFile:
    """One append-only RFC 4180 CSV file (see the module docstring)."""

    def __init__(self, path: Path, columns: Sequence[str], lock: LockPair) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.torn_path = path.with_name(path.stem + ".torn" + path.suffix)
        self._lock = lock
        #: ((device, inode), offset, raw header line, columns, marked) of the file.
        self._header: tuple[tuple[int, int], int, bytes, tuple[str, ...], bool] | None = None
        #: ((device, inode), offset, the bytes before it): an offset where a record ends,
        #: known from this object's last append, repair or load. Trusted while those bytes
        #: are still there (a file rewritten in place moves them).
        self._boundary: tuple[tuple[int, int], int, bytes] | None = None
        #: The same for the end of what `read_complete()` last returned.
        self._read: tuple[tuple[int, int], int, bytes] | None = None

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append complete rows atomically and durably; `HistoryError` if impossible."""
        try:
            with self._lock.hold():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = self._open()
                try:
                    size = self._repair(fd)
                    header = self._file_columns(fd) if size else None
                    if header is None:
                        if size:
                            # Only blank lines (a damaged or hand-emptied file): nothing
                            # to keep, so the log starts again with its header.
                            log.warning("%s held only blank lines; it starts again with a "
                                        "header", self.path)
                            os.ftruncate(fd, 0)
                            self._header = None
                        data = _encode(self.columns, rows, header=True)
                    else:
                        columns, marked = header
                        if not marked or not set(self.columns) <= set(columns):
                            os.close(fd)
                            fd = -1
                            columns = self._migrate(columns, marked)
                            fd = self._open()
                            # A damaged last line, copied as it was, may leave a quote
                            # open: set it aside before appending after it.
                            self._repair(fd)
                        data = _encode(columns, rows)
                    start = os.lseek(fd, 0, os.SEEK_END)
                    self._write_all(fd, data)
                    os.fsync(fd)
                    self._remember(fd, start + len(data), data[-_BOUNDARY_CHECK:])
                finally:
                    if fd >= 0:
                        os.close(fd)
                if header is None:
                    fsync_dir(self.path.parent)
        except (OSError, csv.Error) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise HistoryError(
                f"The generation history could not be written ({reason})."
            ) from exc
        except LockTimeout as busy:
            raise HistoryError(
                "Another studio or command kept the history locked for too long."
                if busy.by_process else
                "Another part of the studio kept the history busy for too long.") from None

    def read_complete(self) -> bytes | None:
        """The file's complete lines (None if there is no file).

        A last record cut short (torn by a crash, or being written right now) is set
        aside if no writer is busy; parsing leaves it out either way.
        """
        for attempt in range(2):
            try:
                with open(self.path, "rb") as handle:
                    st = os.fstat(handle.fileno())
                    data = handle.read()
            except FileNotFoundError:
                return None
            end = data.rfind(b"\n") + 1
            torn = end < len(data) or _open_tail(data, end)
            if not (torn and attempt == 0 and self.repair_if_idle()):
                break  # else read again what the repair left
        self._read = ((st.st_dev, st.st_ino), end, data[max(0, end - _BOUNDARY_CHECK): end])
        return data[:end]

    def learn_read(self) -> None:
        """The last `read_complete()` ended where a record ends (its parse found nothing
        cut short): remember that, so the next append need not read the file."""
        if self._read is not None and self._read[2]:
            self._boundary = self._read

    # -- internals ----------------------------------------------------------------------
    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:  # one call in practice; loop only if the kernel writes part
            written = os.write(fd, view)
            view = view[written:]

    def repair_if_idle(self) -> bool:
        """Repair now if no writer is busy; whether a torn row was set aside."""
        # Busy lock: a writer is mid-row, so the tail is not torn; leave it alone.
        try:
            with self._lock.try_hold() as held:
                if held and self.path.exists():
                    fd = self._open()
                    try:
                        size = os.fstat(fd).st_size
                        return self._repair(fd) < size
                    finally:
                        os.close(fd)
        except OSError as exc:
            log.warning("%s has a torn last row that could not be set aside yet: %s",
                        self.path, exc)
        return False

    def _repair(self, fd: int) -> int:
        """Set an incomplete last record aside (lock held); return where the complete
        records end."""
        st = os.fstat(fd)
        size = st.st_size
        if size == 0:
            return 0
        header = self._header_info(fd, st)
        if header is None:
            return size  # only blank lines: the append starts the file again
        offset, raw, columns, marked = header
        if not raw.endswith(b"\n"):
            cut = offset  # the header itself was cut short
        elif not marked or "id" not in columns:
            cut = self._last_line_end(fd, size)  # escaped logs: one line per record
        else:
            cut = self._record_end(fd, st, offset + len(raw), columns)
        if cut < size:
            self._set_aside(fd, cut, size)
            if cut > offset:
                self._remember(fd, cut)
        return cut

    @staticmethod
    def _last_line_end(fd: int, size: int) -> int:
        if os.pread(fd, 1, size - 1) == b"\n":
            return size
        end, chunk = size, 1 << 16
        while end > 0:
            start = max(0, end - chunk)
            found = os.pread(fd, end - start, start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
        return 0

    def _record_end(self, fd: int, st: os.stat_result, body: int,
                    columns: tuple[str, ...]) -> int:
        """Where the last complete record ends (lock held; a file in this format whose
        records start at offset `body`)."""
        size = st.st_size
        known = self._known_boundary(fd, st, body)
        if known is not None:
            # Only what other writers appended since this object's last append.
            end = known + _complete_prefix(_pread_all(fd, known, size))
            if end != known:
                self._remember(fd, end)
            return end
        # Nothing known: read the file once. The last line that starts a record does
        # start one if the quotes before it pair up, which holds for every file this code
        # wrote; if they do not (a damaged record kept in the file, or a prompt holding
        # a line like a record's start), the body is read record by record, as a load.
        data = _pread_all(fd, body - 1, size)  # from the header's newline
        patterns = _record_start(columns)
        last = _last_record_start(data, patterns[0], 1) if patterns else 1
        if not data.count(b'"', 1, last) & 1:
            end = body - 1 + last + _complete_prefix(data[last:])
        else:
            end = body + _records_end(data[1:], patterns, len(columns))
        self._remember(fd, end)
        return end

    def _known_boundary(self, fd: int, st: os.stat_result, body: int) -> int | None:
        if self._boundary is None:
            return None
        key, offset, before = self._boundary
        if key != (st.st_dev, st.st_ino) or not body <= offset <= st.st_size:
            return None
        if os.pread(fd, len(before), offset - len(before)) != before:
            return None
        return offset

    def _remember(self, fd: int, offset: int, before: bytes | None = None) -> None:
        st = os.fstat(fd)
        if before is None:
            start = max(0, offset - _BOUNDARY_CHECK)
            before = os.pread(fd, offset - start, start)
        self._boundary = ((st.st_dev, st.st_ino), offset, before) if before else None

    def _set_aside(self, fd: int, cut: int, size: int) -> None:
        tail = _pread_all(fd, cut, size)
        # Saved durably before the log is truncated: a torn row is never dropped.
        aside = os.open(self.torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                        0o666)
        try:
            self._write_all(aside, tail + b"\n")
            os.fsync(aside)
        finally:
            os.close(aside)
        os.ftruncate(fd, cut)
        os.fsync(fd)
        self._boundary = None
        log.warning("%s ended with an incomplete row (%d bytes, probably cut by a crash); "
                    "it was moved to %s", self.path, len(tail), self.torn_path)

    def _header_info(self, fd: int, st: os.stat_result
                     ) -> tuple[int, bytes, tuple[str, ...], bool] | None:
        """(offset, raw line, columns, marked) of the header: the first non-blank line,
        with its newline if it has one. None if the file is blank."""
        key = (st.st_dev, st.st_ino)
        if self._header is not None and self._header[0] == key:
            # Still the same header bytes? (A file rewritten in place keeps its inode.)
            _, offset, raw, columns, marked = self._header
            if os.pread(fd, len(raw), offset) == raw:
                return offset, raw, columns, marked
        head, offset = b"", 0
        while True:
            block = os.pread(fd, 1 << 16, offset)
            head += block
            offset += len(block)
            found = _NOT_BLANK.search(head)
            if found is not None and (b"\n" in head[found.start():] or not block):
                break
            if not block:
                return None  # only blank lines (or nothing)
        start = head.rfind(b"\n", 0, found.start()) + 1
        end = head.find(b"\n", start)
        raw = head[start: end + 1 if end >= 0 else len(head)]
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        columns = tuple(next(csv.reader([line]), []))
        marked = _marked(raw)
        if raw.endswith(b"\n"):
            self._header = (key, start, raw, columns, marked)
        return start, raw, columns, marked

    def _file_columns(self, fd: int) -> tuple[tuple[str, ...], bool] | None:
        """(columns, marked) of the file's header; None if the file is all blank."""
        header = self._header_info(fd, os.fstat(fd))
        if header is None:
            return None
        columns = header[2]
        if "id" not in columns:
            raise HistoryError(f"{self.path} does not look like a Kling Studio log "
                               "(its first line has no 'id' column), so nothing was "
                               "written to it.",
                               hint="Move the file away; the studio will start a new one.")
        return columns, header[3]

    def _migrate(self, columns: tuple[str, ...], marked: bool) -> tuple[str, ...]:
        """Rewrite the file once (lock held) in this format, escaped text decoded, with
        the columns this code knows added."""
        new_columns = columns + tuple(c for c in self.columns if c not in columns)
        width, fill = len(columns), len(new_columns)
        # surrogateescape: bytes that are not UTF-8 are copied back unchanged.
        lines = self.path.read_bytes().decode("utf-8", "surrogateescape").split("\n")
        # Everything up to and including the old header (the first non-blank line).
        first = next((i for i, line in enumerate(lines) if line.strip(" \t\r")), len(lines))
        body = lines[first + 1:]
        terminated = bool(body) and body[-1] == ""
        if terminated:
            body.pop()
        with replacing(self.path, prefix=self.path.name + ".", suffix=".migrating",
                       mode=stat.S_IMODE(os.stat(self.path).st_mode), encoding="utf-8",
                       errors="surrogateescape", newline="") as out:
            out.write(_header_cells(new_columns) + _LINE_END)

            def write(cells: list[str]) -> None:
                out.write(",".join([_quote(cell) for cell in cells]
                                   + [""] * (fill - len(cells))) + _LINE_END)

            if marked:
                patterns = _record_start(columns)
                for kind, cells, start, end, _ in _scan_records(
                        body, patterns[1] if patterns else None, width, terminated):
                    if kind == "row":
                        write(cells)
                    else:  # damaged: copied as it is
                        out.write("".join(line + "\n" for line in body[start:end]))
            else:
                # The escaped format: one record per physical line, each read alone.
                # A damaged line (an unmatched quote, too many cells) is copied
                # verbatim, never merged with the lines after it and never dropped.
                # Blank lines hold nothing.
                for line in body:
                    if not line.strip(" \t\r"):
                        continue
                    try:
                        record = _parse_line(line)
                    except csv.Error:
                        record = None
                    if record is None or len(record) > width:
                        out.write(line + "\n")
                        continue
                    write([_unescape(cell) for cell in record])
        changes = ([] if marked else ["escaped text decoded"]) + (
            ["added columns " + ", ".join(new_columns[width:])] if fill > width else [])
        log.info("%s migrated to this version's format: %s", self.path, "; ".join(changes))
        self._header = None
        self._boundary = None
        return new_columns


def _records_end(body: bytes, patterns: tuple[re.Pattern[bytes], re.Pattern[str]] | None,
                 width: int) -> int:
    """Where the complete records of `body` end, read record by record as a load reads
    them (the slow path)."""
    text = body.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    terminated = text.endswith("\n")
    if terminated:
        lines.pop()
    opened = None
    for kind, _, first, _, _ in _scan_records(lines, patterns[1] if patterns else None,
                                              width, terminated):
        if kind == "open":
            opened = first
    if opened is None:
        return len(body)
    return len("\n".join(lines[:opened]).encode("utf-8", "surrogateescape")) + bool(opened)


def _parse_line(line: str) -> list[str]:
    """The cells of one physical line of an escaped log, read alone; `csv.Error` if it
    cannot be.

    Strict: an unmatched quote, or text after a closing quote, makes the line
    unreadable instead of swallowing or bending the cells after it.
    """
    if line.endswith("\r"):
        line = line[:-1]
    if '"' not in line and "\r" not in line:
        return line.split(",")  # the common case, without a csv reader per line
    return next(csv.reader([line], strict=True), [""])


def _header_line(data: bytes) -> tuple[int, str | None]:
    """(line number, text) of the first non-blank line; (0, None) if there is none."""
    span = _header_span(data)
    if span is None:
        return 0, None
    line = data[span[0]: span[1]].decode("utf-8", "replace")
    return data.count(b"\n", 0, span[0]) + 1, line.rstrip("\r\n")


def _unique_names(names: Sequence[str]) -> list[str]:
    """Column names as pandas makes them: blanks named, repeats numbered (`a`, `a.1`)."""
    result: list[str] = []
    for position, name in enumerate(names):
        name = name or f"Unnamed: {position}"
        candidate, count = name, 0
        while candidate in result:
            count += 1
            candidate = f"{name}.{count}"
        result.append(candidate)
    return result


def _every_record_seen(data: bytes, names: Sequence[str], frame: pd.DataFrame) -> bool:
    """Whether pandas started a record at every line that starts one.

    Every record begins a line with its key cells (`_record_start`). A quote left open
    by a hand edit makes pandas read the records after it as part of one cell, which
    shows as fewer records with valid key cells than such lines. (A count that differs
    for another reason, e.g. a prompt holding such a line, costs only the slower read.)
    """
    patterns = _record_start(tuple(names))
    if patterns is None or "id" not in frame:
        return True
    keyed = (frame["id"] != "").to_numpy(dtype=bool)
    if "status" in names and "status" in frame:
        keyed = keyed & frame["status"].isin(STATUSES).to_numpy(dtype=bool)
    if "field" in names and "field" in frame:
        keyed = keyed & frame["field"].isin(ANNOTATION_FIELDS).to_numpy(dtype=bool)
    return len(patterns[0].findall(data)) == int(keyed.sum())


def _decoded(frame: pd.DataFrame, marked: bool, numeric: Sequence[str]) -> pd.DataFrame:
    """The text cells of an escaped (earlier) log decoded; other logs as they are."""
    if marked:
        return frame
    for name in frame.columns:
        if name in numeric:
            continue
        values = frame[name].to_numpy(dtype=object)
        try:
            escaped = "\\" in "\x1f".join(values)  # only a column with a backslash at all
        except TypeError:
            escaped = True
        if escaped:
            frame[name] = pd.Series(
                [_unescape(v) if isinstance(v, str) and "\\" in v else v for v in values],
                index=frame.index, dtype=object)
    return frame


def _read_csv(data: bytes, path: Path, numeric: Sequence[str] = (),
              report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Parse a log (its complete lines); text stays text (object dtype), `numeric`
    columns become float64. A log in the escaped format of earlier versions has its
    text decoded.

    A malformed number (a hand-edited file) makes the fast typed parse fail; the file is
    then read as text and the numbers coerced, so one bad cell never hides the log.
    An unreadable row (too many cells) is skipped with a warning, never fatal.

    When pandas cannot parse the file at all (an unmatched quote: "EOF inside string",
    or a record cut short at the end), or a quote left open made it read records as
    part of a cell (`_every_record_seen`), the file is read again record by record
    (`_read_records`), so a damaged record costs only itself. A blank file is an empty
    log. `report["complete"]` tells whether pandas read it all in one go, ending where
    a record ends (outside any quoted cell); `report["open"]`, whether a last record
    cut short was left out.
    """
    report = {} if report is None else report
    report["complete"] = False
    header = _header_line(data)[1]
    names = next(csv.reader([header]), []) if header else []
    if not names:
        return pd.DataFrame()
    span = _header_span(data)
    marked = span is not None and _marked(data[span[0]: span[1]])
    if b"\x00" in data:  # hand-written: pandas cannot hold NUL
        data = data.replace(b"\x00", NUL_REPLACEMENT.encode())
    typed = {name: ("float64" if name in numeric else object) for name in names}
    # Only numbers have blanks as NaN; an empty text cell stays "" (no NaN to clean up).
    blanks = {name: [""] for name in names if name in numeric}
    options: dict[str, Any] = dict(keep_default_na=False, na_values=blanks, index_col=False,
                                   engine="c", on_bad_lines="warn", encoding="utf-8",
                                   encoding_errors="replace")
    frame: pd.DataFrame | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            try:
                frame = pd.read_csv(io.BytesIO(data), dtype=typed, **options)
            except (pd.errors.ParserError, pd.errors.EmptyDataError):
                raise
            except ValueError:
                caught.clear()
                frame = pd.read_csv(io.BytesIO(data), dtype=object, **options)
                for name in numeric:
                    if name in frame:
                        frame[name] = pd.to_numeric(frame[name], errors="coerce")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            log.debug("%s could not be read in one go (%s); reading it record by record",
                      path, str(exc).strip())
            frame = None
    if frame is not None:
        if _every_record_seen(data, names, frame):
            for warning in caught:
                log.warning("%s: skipped unreadable rows (kept in the file): %s", path,
                            str(warning.message).strip())
            report["complete"] = True  # pandas ended outside any quoted cell
            return _decoded(frame, marked, numeric)
        log.warning("%s has a quoted cell that runs into the records after it (an "
                    "unmatched quote?); reading it record by record", path)
    return _decoded(_read_records(data, path, numeric, report), marked, numeric)


def _read_records(data: bytes, path: Path, numeric: Sequence[str] = (),
                  report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Parse a log record by record (the slow, forgiving way; see `_scan_records`).

    Damaged records are skipped with a warning and stay in the file untouched; a last
    record cut short is left out (being written, or to be set aside as torn); short
    records are padded with blanks, as pandas does. (In an escaped log every record is
    one line, so there a quote left open at the end is damage, not a torn row.)
    `report["open"]` tells whether a last record cut short was left out.
    """
    header_number, header = _header_line(data)
    if header is None:
        return pd.DataFrame()
    span = _header_span(data)
    marked = span is not None and _marked(data[span[0]: span[1]])
    raw_names = next(csv.reader([header]), [])
    names = _unique_names(raw_names)
    width = len(names)
    lines = data.decode("utf-8", "replace").split("\n")[header_number:]  # not splitlines()
    terminated = data.endswith(b"\n")
    if terminated and lines:
        lines.pop()
    patterns = _record_start(tuple(raw_names))
    rows: list[list[str]] = []
    bad: list[str] = []
    collecting = gc.isenabled()
    gc.disable()  # a hundred thousand lists, none cyclic: collections only cost time
    try:
        for kind, cells, first, end, note in _scan_records(
                lines, patterns[1] if patterns else None, width, terminated):
            if kind == "row":
                rows.append(cells + [""] * (width - len(cells)) if len(cells) < width
                            else cells)
            elif kind != "open" or not marked:
                where = (f"line {header_number + 1 + first}" if end - first == 1 else
                         f"lines {header_number + 1 + first}-{header_number + end}")
                bad.append(f"{where}: {note or 'unexpected end of data'}")
            elif report is not None:
                report["open"] = True
    finally:
        if collecting:
            gc.enable()
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        log.warning("%s: skipped %d unreadable rows (kept in the file): %s", path, len(bad),
                    shown)
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    for name in numeric:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


# -- annotations ---------------------------------------------------------------------------

def split_tags(tags: str | Iterable[str] | None) -> list[str]:
    """Tags as a clean list: from a list or comma text, stripped, no empties or repeats."""
    if tags is None:
        return []
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("tags must be text")
        # Commas separate tags, so a tag itself never holds one: joining is lossless.
        for part in item.split(","):
            part = " ".join(part.split())
            if part and part not in result:
                result.append(part)
    return result


def _annotation_value(name: str, value: Any) -> str:
    if name in ("favourite", "hidden"):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False")
        return "true" if value else "false"
    if name == "rating":
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            raise ValueError("rating must be a whole number from 1 to 5, or None")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (number.is_integer() and 1 <= number <= 5):
            raise ValueError("rating must be a whole number from 1 to 5, or None")
        return str(int(number))
    if name == "review_status":
        if value not in REVIEW_STATUSES:
            raise ValueError(f"review_status must be one of {', '.join(REVIEW_STATUSES)}")
        return value
    if name == "notes":
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("notes must be text")
        if len(value) > MAX_NOTES_CHARS:
            raise ValueError(f"notes are limited to {MAX_NOTES_CHARS:,} characters")
        return value
    if name == "tags":
        return ", ".join(split_tags(value))
    raise ValueError(f"unknown annotation {name!r}; use {', '.join(ANNOTATION_FIELDS)}")


def _annotation_table(data: bytes | None, path: Path,
                      report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Latest value of each annotation field, indexed by id (raw text values)."""
    frame = _read_csv(data, path, report=report) if data else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=list(ANNOTATION_FIELDS), index=pd.Index([], name="id"))
    for name in ("id", "field", "value"):
        if name not in frame:
            frame[name] = ""
    frame = frame[frame["field"].isin(ANNOTATION_FIELDS) & (frame["id"] != "")]
    frame = frame.drop_duplicates(["id", "field"], keep="last")
    wide = frame.pivot(index="id", columns="field", values="value")
    return wide.reindex(columns=list(ANNOTATION_FIELDS))


def _merge_annotations(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    positions = table.index.get_indexer(frame["id"]) if len(table) else np.full(n, -1)
    hit = positions >= 0
    take = positions[hit]

    def raw(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=object)[take]

    favourite = np.zeros(n, dtype=bool)
    hidden = np.zeros(n, dtype=bool)
    favourite[hit] = raw("favourite") == "true"
    hidden[hit] = raw("hidden") == "true"
    rating = np.full(n, np.nan)
    if hit.any():
        values = pd.to_numeric(pd.Series(raw("rating"), dtype=object), errors="coerce")
        rating[hit] = values.where(values.isin([1, 2, 3, 4, 5])).to_numpy(dtype=float)
    review = np.full(n, "draft", dtype=object)
    notes = np.full(n, "", dtype=object)
    tags = np.full(n, "", dtype=object)
    if hit.any():
        given = raw("review_status")
        review[hit] = np.where(np.isin(given, REVIEW_STATUSES), given, "draft")
        notes[hit] = [v if isinstance(v, str) else "" for v in raw("notes")]
        tags[hit] = [v if isinstance(v, str) else "" for v in raw("tags")]
    merged = frame.copy(deep=False)
    merged["favourite"] = favourite
    merged["rating"] = pd.array(rating, dtype="Float64").astype("Int64")
    merged["review_status"] = pd.Series(review, dtype=object)
    merged["notes"] = pd.Series(notes, dtype=object)
    merged["tags"] = pd.Series(tags, dtype=object)
    merged["hidden"] = hidden
    return merged


# -- turning the log into a frame ---------------------------------------------------------

def _prepare(raw: pd.DataFrame, path: Path, price_per_second: float) -> pd.DataFrame:
    """Last state per id, typed and decoded, newest first (columns built once each)."""
    n = len(raw)
    blank = pd.Series(np.full(n, "", dtype=object))
    ids = raw["id"].fillna("") if "id" in raw else blank
    valid = (ids != "").to_numpy() & (
        raw["status"].isin(STATUSES).to_numpy() if "status" in raw else False)
    if not valid.all():
        log.warning("%s: %d rows with no id or an unknown status were skipped",
                    path, int((~valid).sum()))
    keep = np.flatnonzero(valid)
    keep = keep[~ids.take(keep).duplicated(keep="last").to_numpy()]
    created = pd.to_datetime(raw["created_at"].take(keep) if "created_at" in raw
                             else blank.take(keep), format="ISO8601", utc=True,
                             errors="coerce")
    # Newest first; among equal times the row written last comes first; unknown times last.
    stamp = created.to_numpy(dtype="datetime64[ns]").astype("int64")
    rank = np.lexsort((keep, stamp))[::-1]
    order = keep[rank]
    tz = local_timezone()
    columns: dict[str, pd.Series] = {}
    for name in dict.fromkeys([*HISTORY_COLUMNS, *raw.columns]):
        if name == "created_at":
            series = created.take(rank)
        elif name in raw:
            series = raw[name].take(order)
        elif name in _INT_COLUMNS + _FLOAT_COLUMNS or name in _TIME_COLUMNS:
            series = pd.Series(np.full(len(order), np.nan))
        else:
            series = blank.take(order)
        if name in _INT_COLUMNS:
            series = pd.to_numeric(series, errors="coerce").round().astype("Int64")
        elif name in _FLOAT_COLUMNS:
            series = pd.to_numeric(series, errors="coerce").astype("float64")
        elif name in _TIME_COLUMNS:
            if name != "created_at":
                series = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
            series = series.dt.tz_convert(tz).dt.as_unit("us")
        else:
            series = pd.Series(series.fillna("").to_numpy(dtype=object), dtype=object)
        columns[name] = series.reset_index(drop=True)
    # copy=False keeps one array per column: no costly consolidation into blocks.
    frame = pd.DataFrame(columns, copy=False)
    # Logs from before the one billing rule named an unreadable 2xx "malformed_response";
    # it is an unknown outcome like any other.
    unreadable_2xx = ((frame["error_type"] == "malformed_response")
                      & frame["http_status"].between(200, 299).fillna(False).to_numpy(bool))
    if unreadable_2xx.any():
        frame.loc[unreadable_2xx, "error_type"] = UNKNOWN_OUTCOME
    # Rows written before costs were logged get the estimate, so spend is never blank:
    # successes, and generations that may have been billed.
    missing_cost = frame["cost_usd"].isna()
    if missing_cost.any():
        missing_cost &= _maybe_billed(frame)
        seconds = pd.to_numeric(frame["duration"], errors="coerce")
        frame.loc[missing_cost, "cost_usd"] = (seconds * price_per_second)[missing_cost]
    return frame


def _maybe_billed(frame: pd.DataFrame) -> pd.Series:
    """Rows that cost money: successes, and generations that were possibly billed."""
    return (frame["status"] == "succeeded") | possibly_billed_rows(frame)


def _order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    first = list(HISTORY_COLUMNS) + list(ANNOTATION_FIELDS)
    return frame[first + [c for c in frame.columns if c not in first]]


@dataclass
class _Cache:
    """What `load()` keeps between calls."""

    history_sig: Any = None
    base: pd.DataFrame | None = None
    annotations_sig: Any = None
    annotations: pd.DataFrame | None = None
    merged_key: Any = None
    merged: pd.DataFrame | None = None
    pending_pos: np.ndarray | None = None
    pending_owner: np.ndarray | None = None
    pending_created: np.ndarray | None = None
    resolved_key: Any = None
    resolved: pd.DataFrame | None = None
    id_index: pd.Index | None = None
    haystack: list[str] | None = None
    dead_owners: set[str] = field(default_factory=set)
    stats_of: tuple[pd.DataFrame, date] | None = None
    stats: "HistoryStats | None" = None


# -- queries ------------------------------------------------------------------------------

def _as_tuple(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split(",")
    return tuple(str(v).strip() for v in values if str(v).strip())


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class HistoryQuery:
    """What the History page (or the CLI) wants to see. Empty filters match everything.

    `date_from`/`date_to` are inclusive days in the studio's time zone. `text` matches
    prompts, notes, tags and ids, ignoring case.
    """

    text: str = ""
    statuses: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    durations: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    template_ids: tuple[str, ...] = ()
    favourites_only: bool = False
    min_rating: int | None = None
    review_statuses: tuple[str, ...] = ()
    include_hidden: bool = False
    sort: str = "newest"

    def __post_init__(self) -> None:
        # Lists from widgets become tuples, so a query is hashable (cacheable).
        for name in ("statuses", "aspect_ratios", "durations", "template_ids",
                     "review_statuses"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")

    _PARAMS = {"text": "q", "statuses": "status", "aspect_ratios": "ratio",
               "durations": "duration", "date_from": "from", "date_to": "to",
               "template_ids": "template", "favourites_only": "fav",
               "min_rating": "min_rating", "review_statuses": "review",
               "include_hidden": "hidden", "sort": "sort"}

    def to_params(self) -> dict[str, str]:
        """URL query parameters for this view (only what differs from the default)."""
        params: dict[str, str] = {}
        for name, key in self._PARAMS.items():
            value = getattr(self, name)
            if value in ((), None, False, "") or (name == "sort" and value == "newest"):
                continue
            if isinstance(value, tuple):
                params[key] = ",".join(value)
            elif isinstance(value, bool):
                params[key] = "1"
            elif isinstance(value, date):
                params[key] = value.isoformat()
            else:
                params[key] = str(value)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "HistoryQuery":
        """The view described by URL parameters; values that make no sense are ignored."""

        def get(key: str) -> str:
            value = params.get(key, "")
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            return str(value).strip()

        def pick(key: str, allowed: Sequence[str]) -> tuple[str, ...]:
            return tuple(v for v in _as_tuple(get(key)) if v in allowed)

        rating = get("min_rating")
        min_rating = int(rating) if rating.isdigit() and 1 <= int(rating) <= 5 else None
        durations = tuple(v.rstrip("s") for v in _as_tuple(get("duration")))
        sort = get("sort")
        return cls(
            text=get("q"),
            statuses=pick("status", STATUSES),
            aspect_ratios=pick("ratio", ASPECT_RATIOS),
            durations=tuple(d for d in durations if d in DURATIONS),
            date_from=_parse_date(get("from")),
            date_to=_parse_date(get("to")),
            template_ids=_as_tuple(get("template")),
            favourites_only=get("fav").lower() in ("1", "true", "yes"),
            min_rating=min_rating,
            review_statuses=pick("review", REVIEW_STATUSES),
            include_hidden=get("hidden").lower() in ("1", "true", "yes"),
            sort=sort if sort in SORTS else "newest",
        )


def _day_start(day: date, tz: Any) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day)).tz_localize(tz)


_SEARCHED = ("prompt", "notes", "tags", "id")


def search_haystack(frame: pd.DataFrame) -> list[str]:
    """Per row, the searched text casefolded into one string (build once, search often)."""
    parts = [frame[name].fillna("").to_numpy(dtype=object) for name in _SEARCHED]
    return ["\x1f".join(texts).casefold() for texts in zip(*parts)]


def apply_query(frame: pd.DataFrame, q: HistoryQuery,
                haystack: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a loaded frame that match `q`, in its order.

    `haystack` is `search_haystack(frame)` if the caller keeps one; text search is a
    plain case-insensitive substring test (no regular expressions).
    """
    mask = np.ones(len(frame), dtype=bool)
    if not q.include_hidden:
        mask &= ~frame["hidden"].to_numpy(dtype=bool)
    needle = q.text.strip().casefold()
    if needle:
        hay = search_haystack(frame) if haystack is None else haystack
        mask &= np.fromiter((needle in text for text in hay), dtype=bool, count=len(frame))
    for name, wanted in (("status", q.statuses), ("aspect_ratio", q.aspect_ratios),
                         ("duration", q.durations), ("template_id", q.template_ids),
                         ("review_status", q.review_statuses)):
        if wanted:
            mask &= frame[name].isin(wanted).to_numpy(dtype=bool)
    created = frame["created_at"]
    tz = created.dt.tz
    if q.date_from is not None:
        mask &= (created >= _day_start(q.date_from, tz)).to_numpy(dtype=bool, na_value=False)
    if q.date_to is not None:
        limit = _day_start(q.date_to + timedelta(days=1), tz)
        mask &= (created < limit).to_numpy(dtype=bool, na_value=False)
    if q.favourites_only:
        mask &= frame["favourite"].to_numpy(dtype=bool)
    if q.min_rating is not None:
        mask &= (frame["rating"] >= q.min_rating).to_numpy(dtype=bool, na_value=False)
    result = frame[mask]
    if q.sort == "oldest":
        result = result.iloc[::-1]
    elif q.sort in ("inference_fast", "inference_slow"):
        result = result.sort_values("inference_s", ascending=q.sort == "inference_fast",
                                    kind="stable", na_position="last")
    elif q.sort == "rating":
        result = result.sort_values("rating", ascending=False, kind="stable",
                                    na_position="last")
    return result


# -- statistics ---------------------------------------------------------------------------

@dataclass
class HistoryStats:
    """Figures for the History page's analysis, the sidebar and `history stats`.

    `success_rate` is succeeded / (succeeded + failed); pending and interrupted
    generations have no outcome yet. Spend (`spend_*`, `per_day`/`per_month["spend"]`)
    is confirmed spend: succeeded generations at the recorded or estimated price.
    Possibly billed generations (`kling.billing`) are counted apart, never as zero and
    never in spend: `possibly_billed` of them, `possibly_billed_usd` estimated, and a
    `possibly_billed` column per day and month. Days and months are in the studio's
    time zone.
    """

    total: int
    succeeded: int
    failed: int
    success_rate: float | None
    inference_p50: float | None
    inference_p95: float | None
    seconds_generated: float
    spend_total: float
    spend_today: float
    spend_this_month: float
    possibly_billed: int
    possibly_billed_usd: float
    per_day: pd.DataFrame
    per_month: pd.DataFrame
    top_templates: pd.DataFrame
    inference_times: pd.Series = field(repr=False)
    #: Measured inference times per duration (`kling.timing`), where there are enough.
    expected_times: dict[str, Expectation] = field(default_factory=dict)


TEMPLATE_STATS_COLUMNS = ("template_id", "uses", "success_rate", "avg_rating", "last_used")


def template_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per template id: uses, success rate, average rating, last used; most used first."""
    used = frame[frame["template_id"].fillna("") != ""]
    if used.empty:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in zip(
            TEMPLATE_STATS_COLUMNS, ("str", "int64", "float64", "float64",
                                     frame["created_at"].dtype))})
    keys = used["template_id"]
    succeeded = (used["status"] == "succeeded").groupby(keys).sum()
    failed = (used["status"] == "failed").groupby(keys).sum()
    finished = succeeded + failed
    table = pd.DataFrame({
        "uses": keys.groupby(keys).size(),
        "success_rate": (succeeded / finished.where(finished > 0)).astype("float64"),
        "avg_rating": used["rating"].astype("Float64").groupby(keys).mean()
                                    .astype("float64"),
        "last_used": used["created_at"].groupby(keys).max(),
    })
    table = table.rename_axis("template_id").reset_index()
    return table.sort_values(["uses", "last_used"], ascending=False,
                             kind="stable").reset_index(drop=True)


def _seconds(duration: pd.Series) -> pd.Series:
    """Durations ("5", "10", ...) as numbers, converting each distinct text once."""
    lookup = {}
    for value in pd.unique(duration):
        try:
            lookup[value] = float(value)
        except (TypeError, ValueError):
            lookup[value] = math.nan
    return duration.map(lookup).astype("float64")


def compute_stats(frame: pd.DataFrame, price_per_second: float = 0.28, *,
                  today: date | None = None) -> HistoryStats:
    """Statistics of the given rows (e.g. a query result)."""
    status = frame["status"]
    succeeded = (status == "succeeded").to_numpy(dtype=bool)
    failed = (status == "failed").to_numpy(dtype=bool)
    n_ok, n_failed = int(succeeded.sum()), int(failed.sum())
    times = frame["inference_s"][succeeded].dropna().reset_index(drop=True)
    seconds = _seconds(frame["duration"]).fillna(0.0).to_numpy()
    cost = frame["cost_usd"].to_numpy(dtype=float)
    # A blank cost (a log from before costs were recorded) is estimated only where the
    # generation may have been billed; other failures cost nothing.
    blank = np.isnan(cost)
    if blank.any():
        billed = _maybe_billed(frame).to_numpy(dtype=bool)
        cost = np.where(blank, np.where(billed, seconds * price_per_second, 0.0), cost)
    unsure = possibly_billed_rows(frame).to_numpy(dtype=bool)
    spend = np.where(succeeded, cost, 0.0)
    # Never zero: a possibly billed generation costs its estimate unless more was logged.
    unsure_cost = np.where(unsure, np.where(cost > 0, cost, seconds * price_per_second), 0.0)
    ok_seconds = np.where(succeeded, seconds, 0.0)
    created = frame["created_at"]
    tz = created.dt.tz or local_timezone()
    today = today or datetime.now(tz).date()
    day = created.dt.tz_localize(None).dt.normalize()

    per = pd.DataFrame({"date": day.to_numpy(), "generations": 1,
                        "succeeded": succeeded.astype(int), "failed": failed.astype(int),
                        "seconds": ok_seconds, "spend": spend,
                        "possibly_billed": unsure_cost})
    per_day = per.dropna(subset=["date"]).groupby("date", as_index=False).sum()
    per_month = (per_day.assign(month=per_day["date"].dt.strftime("%Y-%m"))
                 .groupby("month", as_index=False)[["spend", "possibly_billed", "seconds",
                                                    "generations"]]
                 .sum())
    today_ts, month_ts = pd.Timestamp(today), pd.Timestamp(today.replace(day=1))
    dates = per_day["date"]
    return HistoryStats(
        total=len(frame),
        succeeded=n_ok,
        failed=n_failed,
        success_rate=n_ok / (n_ok + n_failed) if n_ok + n_failed else None,
        inference_p50=float(times.quantile(0.5)) if len(times) else None,
        inference_p95=float(times.quantile(0.95)) if len(times) else None,
        seconds_generated=float(ok_seconds.sum()),
        spend_total=round(float(spend.sum()), 2),
        spend_today=round(float(per_day["spend"][dates == today_ts].sum()), 2),
        spend_this_month=round(float(per_day["spend"][(dates >= month_ts)
                                                      & (dates <= today_ts)].sum()), 2),
        possibly_billed=int(unsure.sum()),
        possibly_billed_usd=round(float(unsure_cost.sum()), 2),
        per_day=per_day,
        per_month=per_month,
        top_templates=template_stats(frame).head(10),
        inference_times=times,
        expected_times=measured_expectations(frame["duration"][succeeded],
                                             frame["inference_s"][succeeded]),
    )


# -- the log ------------------------------------------------------------------------------

class HistoryLog:
    """The generation log of one data directory. Safe to share between threads."""

    def __init__(self, data_dir: str | Path, *, price_per_second: float = 0.28) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "history.csv"
        self.annotations_path = self.data_dir / "annotations.csv"
        self.price_per_second = float(price_per_second)
        lock = LockPair(self.data_dir / "history.lock", LOCK_TIMEOUT_S)
        self._history = _LogFile(self.path, HISTORY_COLUMNS, lock)
        self._annotations = _LogFile(self.annotations_path, ANNOTATION_COLUMNS, lock)
        self.torn_path = self._history.torn_path
        self._rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rows_lock = threading.Lock()
        self._cache = _Cache()
        self._cache_lock = threading.RLock()

    # -- writing ------------------------------------------------------------------------
    def record_pending(
        self,
        request: GenerationRequest,
        *,
        gen_id: str | None = None,
        source: str = "studio",
        template_id: str | None = None,
        template_version: int | None = None,
        template_vars: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> str:
        """Log a generation about to be sent (durably, before sending); return its id."""
        gen_id = check_id(gen_id) if gen_id is not None else new_id()
        row = {
            "id": gen_id, "created_at": _now_iso(), "status": "pending",
            "prompt": request.prompt, "duration": request.duration,
            "aspect_ratio": request.aspect_ratio, "seed": request.seed,
            "model": MODEL_NAME, "template_id": template_id,
            "template_version": template_version,
            "template_vars": (json.dumps(dict(template_vars), ensure_ascii=False, default=str)
                              if template_vars else None),
            "batch_id": batch_id, "cost_usd": self._estimate(request.duration),
            "source": source, "owner": process_owner(),
        }
        self._write(row)
        return gen_id

    def record_success(self, gen_id: str, result: GenerationResult, *, elapsed_s: float,
                       video_path: str | None = None) -> None:
        """Log that the video was made."""
        row = self._state(gen_id)
        video = result.videos[0]
        row.update(
            status="succeeded", finished_at=_now_iso(), seed=result.seed,
            inference_s=result.inference_s, elapsed_s=round(float(elapsed_s), 3),
            video_url=video.url, video_width=video.width, video_height=video.height,
            video_duration=video.duration, video_path=video_path, error=None,
            error_type=None, http_status=None,
            cost_usd=self._estimate(row.get("duration")), owner=process_owner(),
        )
        self._write(row)

    def record_failure(self, gen_id: str, error: BaseException, *, elapsed_s: float) -> None:
        """Log that the generation failed, with the plain-language reason."""
        row = self._state(gen_id)
        error_type = getattr(error, "kind", None) or type(error).__name__
        billed = possibly_billed("failed", error_type)
        row.update(
            status="failed", finished_at=_now_iso(), elapsed_s=round(float(elapsed_s), 3),
            error=str(error) or type(error).__name__,
            error_type=error_type,
            http_status=getattr(error, "status", None),
            cost_usd=self._estimate(row.get("duration")) if billed else 0.0,
            owner=process_owner(),
        )
        self._write(row)

    def record_video_path(self, gen_id: str, video_path: str | None, *,
                          archive_error: str | None = None) -> None:
        """Log where the video was archived, or why it could not be (retried later)."""
        row = self._state(gen_id)
        row.update(video_path=video_path, archive_error=archive_error,
                   owner=process_owner())
        self._write(row)

    def annotate(self, gen_ids: str | Iterable[str], **fields: Any) -> None:
        """Set annotations of one or several generations in one append.

        Fields: `favourite`/`hidden` (bool), `rating` (1-5 or None), `review_status`
        (one of `REVIEW_STATUSES`), `notes` (text), `tags` (list or comma text).
        Every value is checked before anything is written (`ValueError`).
        """
        ids = [gen_ids] if isinstance(gen_ids, str) else list(gen_ids)
        for gen_id in ids:
            check_id(gen_id)
        values = {name: _annotation_value(name, value) for name, value in fields.items()}
        if not ids or not values:
            return
        now = _now_iso()
        self._annotations.append([
            {"id": gen_id, "field": name, "value": value, "annotated_at": now}
            for gen_id in ids for name, value in values.items()
        ])

    def _estimate(self, duration: Any) -> float | None:
        return estimate_cost(duration, self.price_per_second)

    def _write(self, row: dict[str, Any]) -> None:
        self._history.append([row])
        with self._rows_lock:
            self._rows[row["id"]] = row
            self._rows.move_to_end(row["id"])
            while len(self._rows) > _REMEMBERED_ROWS:
                self._rows.popitem(last=False)

    def _state(self, gen_id: str) -> dict[str, Any]:
        """The latest full row of a generation, to repeat in its next row."""
        check_id(gen_id)
        with self._rows_lock:
            row = self._rows.get(gen_id)
        if row is not None:
            return dict(row)
        # Started by another process (or long ago): read it from the log.
        found = self.get(gen_id)
        if found is None:
            log.warning("history has no row for %s; logging its outcome alone", gen_id)
            return {"id": gen_id, "created_at": _now_iso(), "model": MODEL_NAME}
        row = {k: v for k, v in found.items() if k not in ANNOTATION_FIELDS}
        if isinstance(row.get("template_vars"), dict):
            row["template_vars"] = json.dumps(row["template_vars"], ensure_ascii=False)
        return row

    # -- reading ------------------------------------------------------------------------
    def load(self) -> pd.DataFrame:
        """One row per generation (its latest state), newest first, annotations merged.

        Columns: `HISTORY_COLUMNS`, then `ANNOTATION_FIELDS`, then any columns the file
        has that this code does not know. Text is `str` ("" when blank; `duration` is
        text like the API's "5"), whole numbers are nullable `Int64`, `created_at` and
        `finished_at` are zone-aware in the studio's time zone, `favourite`/`hidden` are
        bool, `rating` is `Int64` (NA when unrated) and `tags` is comma text ("a, b").
        Pending rows whose writer died read as `interrupted`.

        Served from a cache while neither file changed (one `stat` per file); the frame
        is a copy-on-write view of the cache, so changing it never changes what the next
        caller gets.
        """
        return self._load().copy(deep=False)

    def _load(self) -> pd.DataFrame:
        with self._cache_lock:
            cache = self._cache
            history_sig = signature(self.path)
            if cache.base is None or history_sig != cache.history_sig:
                data = self._history.read_complete()
                report: dict[str, bool] = {}
                if not data or _NOT_BLANK.search(data) is None:  # no file, or only blanks
                    data = _encode(HISTORY_COLUMNS, [], header=True)
                    report["blank"] = True
                raw = _read_csv(data, self.path, numeric=_INT_COLUMNS + _FLOAT_COLUMNS,
                                report=report)
                if report.get("complete") and not report.get("blank"):
                    self._history.learn_read()  # the next append need not scan the log
                elif report.get("open"):
                    self._history.repair_if_idle()  # set a torn last row aside
                cache.base = _prepare(raw, self.path, self.price_per_second)
                cache.history_sig = history_sig
            annotations_sig = signature(self.annotations_path)
            if cache.annotations is None or annotations_sig != cache.annotations_sig:
                report = {}
                cache.annotations = _annotation_table(self._annotations.read_complete(),
                                                      self.annotations_path, report)
                if report.get("complete"):
                    self._annotations.learn_read()
                elif report.get("open"):
                    self._annotations.repair_if_idle()
                cache.annotations_sig = annotations_sig
            merged_key = (cache.history_sig, cache.annotations_sig)
            if cache.merged is None or merged_key != cache.merged_key:
                merged = _order_columns(_merge_annotations(cache.base, cache.annotations))
                pending = np.flatnonzero((merged["status"] == "pending").to_numpy())
                cache.merged, cache.merged_key = merged, merged_key
                cache.pending_pos = pending
                cache.pending_owner = merged["owner"].to_numpy(dtype=object)[pending]
                created = merged["created_at"].iloc[pending]
                cache.pending_created = (created.dt.tz_convert("UTC").dt.tz_localize(None)
                                         .to_numpy(dtype="datetime64[ns]")
                                         .astype("int64") / 1e9)
                cache.resolved, cache.resolved_key, cache.id_index = None, None, None
                cache.haystack = None
            return self._resolve_interrupted(cache)

    def _resolve_interrupted(self, cache: _Cache) -> pd.DataFrame:
        """The merged frame with dead writers' pending rows shown as interrupted."""
        assert cache.merged is not None and cache.pending_pos is not None
        now = time.time()
        alive: dict[str, bool | None] = {}
        for owner in set(cache.pending_owner):
            # A process that died stays dead: ask about each one only once.
            verdict = False if owner in cache.dead_owners else \
                owner_alive(owner) if isinstance(owner, str) else None
            if verdict is False:
                cache.dead_owners.add(owner)
            alive[owner] = verdict
        # A row with no creation time counts as old.
        old = now - cache.pending_created >= PENDING_TIMEOUT_S
        dead = np.array([alive[o] is False or (alive[o] is None and late)
                         for o, late in zip(cache.pending_owner, old)], dtype=bool)
        key = tuple(cache.pending_pos[dead])
        if cache.resolved is None or key != cache.resolved_key:
            if key:
                status = cache.merged["status"].to_numpy(dtype=object).copy()
                status[list(key)] = "interrupted"
                resolved = cache.merged.copy(deep=False)
                resolved["status"] = pd.Series(status, dtype=object)
            else:
                resolved = cache.merged
            cache.resolved, cache.resolved_key = resolved, key
            cache.id_index = None
        return cache.resolved

    def get(self, gen_id: str) -> dict[str, Any] | None:
        """Everything about one generation, as plain Python values; None if unknown."""
        with self._cache_lock:
            frame = self._load()
            if self._cache.id_index is None:
                self._cache.id_index = pd.Index(frame["id"])
            index = self._cache.id_index
        try:
            position = index.get_loc(gen_id)
        except KeyError:
            return None
        if not isinstance(position, (int, np.integer)):
            return None
        return _plain_row(frame.iloc[int(position)])

    def query(self, q: HistoryQuery | None = None) -> pd.DataFrame:
        """The generations matching `q` (default: everything visible), in its sort order."""
        q = q or HistoryQuery()
        with self._cache_lock:
            frame = self._load()
            haystack = None
            if q.text.strip():
                if self._cache.haystack is None:
                    self._cache.haystack = search_haystack(frame)
                haystack = self._cache.haystack
        return apply_query(frame, q, haystack)

    def stats(self, df: pd.DataFrame | None = None, *,
              today: date | None = None) -> HistoryStats:
        """Statistics of `df` (default: every visible generation; cached while unchanged)."""
        if df is not None:
            return compute_stats(df, self.price_per_second, today=today)
        with self._cache_lock:
            frame = self._load()
            day = today or datetime.now(local_timezone()).date()
            cached = self._cache.stats_of
            if self._cache.stats is None or cached is None or cached[0] is not frame \
                    or cached[1] != day:
                visible = frame[~frame["hidden"].to_numpy(dtype=bool)]
                self._cache.stats = compute_stats(visible, self.price_per_second, today=day)
                self._cache.stats_of = (frame, day)
            return self._cache.stats


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _plain_row(row: pd.Series) -> dict[str, Any]:
    result = {name: _plain(value) for name, value in row.items()}
    result["tags"] = split_tags(result.get("tags") or "")
    text = result.get("template_vars")
    try:
        result["template_vars"] = json.loads(text) if text else None
    except ValueError:
        result["template_vars"] = None
    return result


# -- exports ---------------------------------------------------------------------------------

#: First characters that make a spreadsheet treat a cell as a formula (or hide one).
_FORMULA_STARTS = frozenset("=+-@\t\r")


def spreadsheet_text(value: str) -> str:
    """One text cell as a spreadsheet keeps it: no NUL, a formula-like start behind a `'`.

    NUL goes first, so that it cannot hide a formula behind it.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    return "'" + value if value and value[0] in _FORMULA_STARTS else value


def _safe_cells(series: pd.Series) -> list[str]:
    """A column as spreadsheet text, formula-like cells neutralised with a leading `'`."""
    if series.empty:
        return []
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        wall = series.dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
        text = np.char.replace(np.datetime_as_string(wall), "T", " ").astype(object)
        text[np.isnat(wall)] = ""
        return text.tolist()
    if pd.api.types.is_bool_dtype(series.dtype):
        return ["true" if v else "false" for v in series.to_numpy(dtype=bool)]
    values = series.astype(object).to_numpy(dtype=object)
    cells = [v if isinstance(v, str) else "" if v is None or v is pd.NA or v != v else str(v)
             for v in values]
    return [spreadsheet_text(v) for v in cells]


def export_csv(frame: pd.DataFrame) -> bytes:
    """The rows as CSV safe to open in a spreadsheet (UTF-8 with BOM).

    Cells (and headers) starting with `= + - @`, tab or CR get a leading `'` so that no
    spreadsheet runs them as formulas, and NUL characters are left out; everything else
    is exported as is. Times are the studio's local time.
    """
    columns = [_safe_cells(frame[name]) for name in frame.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_safe_cells(pd.Series([str(name) for name in frame.columns],
                                          dtype=object)))
    writer.writerows(zip(*columns))
    return buffer.getvalue().encode("utf-8-sig")


def export_json(frame: pd.DataFrame) -> bytes:
    """The rows as a JSON array of objects.

    Times are ISO 8601 in UTC, tags are lists, template variables objects, blanks null.
    NUL characters are left out of every text (as `\\u0000` they would still reach
    whatever reads the file).
    """
    out = frame.copy(deep=False)
    if "tags" in out:
        out["tags"] = [split_tags(t) if t and isinstance(t, str) else [] for t in out["tags"]]
    if "template_vars" in out:
        parsed = []
        for text in out["template_vars"]:
            try:
                parsed.append(json.loads(text) if isinstance(text, str) and text else None)
            except ValueError:
                parsed.append(text)
        out["template_vars"] = parsed
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            # Formatted here: ujson is slow with zone-aware timestamps.
            utc = out[name].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(
                dtype="datetime64[ms]")
            text = np.datetime_as_string(utc, timezone="UTC").astype(object)
            text[np.isnat(utc)] = None
            out[name] = pd.Series(text, index=out.index, dtype=object)
    text = out.to_json(orient="records", force_ascii=False)
    if "\\u0000" in text:
        text = _JSON_NUL.sub(r"\1", text)
    return text.encode("utf-8")


#: A JSON `\u0000` escape (after an even run of backslashes, so not an escaped `\`).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
