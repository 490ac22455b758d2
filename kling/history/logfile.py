"""One append-only RFC 4180 CSV file: locked appends, torn tails found and set aside.

* **A log, never rewritten.** Every change of a generation appends one *complete* row
  (prompt, settings and outcome together); where several rows share an `id`, the last is
  the state. An append never rewrites the file, and reads at most what other writers
  appended since it last looked (below), so it costs the same for ten rows or a
  million, and a crash can only ever damage the row being written.
* **Safe together.** Every append holds a `threading.Lock` and a `filelock.FileLock`
  (`history.lock`, `kling.storage.locks`) and writes the whole encoded batch with one
  `os.write` on an `O_APPEND` descriptor, then fsyncs. Readers take no lock: they parse
  complete lines only and leave out a last record whose quotes do not pair up, so a row
  being written right now is simply not seen yet. A reader whose last read ended where
  a record ends can read just what was appended since (`read_appended`), trusted on the
  same terms as an append's known boundary (below) and only if the file grew.
* **Safe after a crash.** A crash mid-append leaves the first part of a record. Before
  appending (under the lock) a writer checks that the file ends where a record ends
  (`kling.history.records` tells how), else the last record is torn. The check starts
  at a known record boundary: where this object's own last append or repair ended, or
  the end of its last load if pandas read that in one go; it is kept with the inode and
  the 4 KiB before it and re-checked with one `pread`, so an append reads only what
  other writers appended since: O(1), whatever the size of the log. When nothing is
  known (a process that has not loaded yet, a file rewritten in place) the file is read
  once. The torn bytes are appended verbatim to `history.torn.csv` (fsync'd), a warning
  is logged, and only then is the log truncated back to the last complete record, so
  the next append starts a record of its own. A reader that finds a torn tail (or whose
  parse left out a last record cut short) and can take the lock without waiting repairs
  it the same way; if the lock is busy, a writer is mid-row and the tail is left alone.
  A log in the escaped format keeps the earlier rule (the bytes after the last newline)
  until it is migrated. (A hand edit that leaves an unmatched quote at the very end of
  the file cannot be told from a torn record; it is set aside the same way, so nothing
  is ever appended after an open quote.)
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import HistoryError
from ..storage.atomic import fsync_dir
from ..storage.locks import LockPair, LockTimeout
from .csvformat import NOT_BLANK, encode, is_marked
from .migrate import migrate
from .records import complete_prefix, last_record_start, open_tail, record_start, records_end

log = logging.getLogger("kling.history")

#: How long an append waits for another writer before giving up with `HistoryError`.
LOCK_TIMEOUT_S = 30.0


#: How many bytes before a remembered record boundary are kept to re-check it.
_BOUNDARY_CHECK = 4096


class LogFile:
    """One append-only RFC 4180 CSV file (see the module docstring).

    `columns` are the header of a file this object creates, and the columns it adds
    to an older file when it migrates it.
    """

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
                        data = encode(self.columns, rows, header=True)
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
                        data = encode(columns, rows)
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
            torn = end < len(data) or open_tail(data, end)
            if not (torn and attempt == 0 and self.repair_if_idle()):
                break  # else read again what the repair left
        self._read = ((st.st_dev, st.st_ino), end, data[max(0, end - _BOUNDARY_CHECK): end])
        return data[:end]

    def learn_read(self) -> None:
        """The last `read_complete()` or `read_appended()` ended where a record ends (its
        parse found nothing cut short): remember that, so the next append need not read
        the file."""
        if self._read is not None and self._read[2]:
            self._boundary = self._read

    @property
    def last_read(self) -> tuple[tuple[int, int], int, bytes] | None:
        """Where the last `read_complete()` or `read_appended()` ended: ((device, inode),
        offset, the bytes before it), to pass to a later `read_appended()`."""
        return self._read

    def read_appended(self, since: tuple[tuple[int, int], int, bytes],
                      header: tuple[int, bytes]) -> bytes | None:
        """The whole records appended after `since` (a `last_read` that ended where a
        record ends), if the file is that file grown by whole records; else None.

        None when the file is another one (inode), did not grow (a rewrite in place keeps
        the size it had, or changes the time only), shrank, holds other bytes before
        `since` (the 4 KiB kept, one `pread`) or another `header` (offset, raw line), or
        ends inside a record (torn, or being written: `read_complete` decides those).
        """
        key, end, before = since
        offset, raw = header
        try:
            with open(self.path, "rb") as handle:
                fd = handle.fileno()
                st = os.fstat(fd)
                if ((st.st_dev, st.st_ino) != key or st.st_size <= end
                        or os.pread(fd, len(before), end - len(before)) != before
                        or os.pread(fd, len(raw), offset) != raw):
                    return None
                data = _pread_all(fd, end, st.st_size)
        except FileNotFoundError:
            return None
        if complete_prefix(data) != len(data):
            return None
        self._read = (key, end + len(data), (before + data)[-_BOUNDARY_CHECK:])
        return data

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
            end = known + complete_prefix(_pread_all(fd, known, size))
            if end != known:
                self._remember(fd, end)
            return end
        # Nothing known: read the file once. The last line that starts a record does
        # start one if the quotes before it pair up, which holds for every file this code
        # wrote; if they do not (a damaged record kept in the file, or a prompt holding
        # a line like a record's start), the body is read record by record, as a load.
        data = _pread_all(fd, body - 1, size)  # from the header's newline
        patterns = record_start(columns)
        last = last_record_start(data, patterns[0], 1) if patterns else 1
        if not data.count(b'"', 1, last) & 1:
            end = body - 1 + last + complete_prefix(data[last:])
        else:
            end = body + records_end(data[1:], patterns, len(columns))
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
            found = NOT_BLANK.search(head)
            if found is not None and (b"\n" in head[found.start():] or not block):
                break
            if not block:
                return None  # only blank lines (or nothing)
        start = head.rfind(b"\n", 0, found.start()) + 1
        end = head.find(b"\n", start)
        raw = head[start: end + 1 if end >= 0 else len(head)]
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        columns = tuple(next(csv.reader([line]), []))
        marked = is_marked(raw)
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
        """Rewrite the file once (lock held) in this format; the header it now has."""
        new_columns = migrate(self.path, columns, marked, self.columns)
        self._header = None  # a new file: its header and boundaries are not known yet
        self._boundary = None
        return new_columns


def _pread_all(fd: int, start: int, end: int) -> bytes:
    chunks = []
    while start < end:
        block = os.pread(fd, min(end - start, 1 << 24), start)
        if not block:
            break
        chunks.append(block)
        start += len(block)
    return b"".join(chunks)
