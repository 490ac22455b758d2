"""Where records start and end in the bytes of a log, found without parsing it.

* **A record ends where its quotes pair up.** Every `"` this code writes opens or closes
  a quoted cell or is doubled inside one, so a record ends at the first newline where
  the quotes since its start pair up (`complete_prefix`): an odd count, or a last byte
  that is not a newline, means the last record is torn, even when it was cut right after
  a newline inside a quoted cell.
* **A record starts with its key cells.** Every record begins a line with its key cells
  unquoted and well-formed, e.g. `<id>,<created_at>,pending,` (`record_start`). When no
  boundary is known, the last line that starts a record is one if the quotes before it
  pair up, which holds for every file this code wrote (`last_record_start`); if they do
  not (a damaged record kept in the file, or a prompt holding such a line) the body is
  read record by record as a load reads it (`scan_records`, `records_end`), and a quote
  that stays open to the end with no complete record after it is the torn record's own
  text. (Only a torn prompt that itself holds lines shaped like complete records, met by
  a process that knows no boundary, would be read as a damaged record followed by those
  lines.)
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from functools import lru_cache

from .csvformat import header_span, is_marked
from .schema import ANNOTATION_FIELDS, STATUSES

#: The key cells every record starts with, by column name (unquoted, well-formed).
_KEY_CELLS = {
    "id": r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}",  # ID_PATTERN
    "status": "(?:" + "|".join(STATUSES) + ")",
    "field": "(?:" + "|".join(ANNOTATION_FIELDS) + ")",
}


@lru_cache(maxsize=32)
def record_start(names: tuple[str, ...]) -> tuple[re.Pattern[bytes], re.Pattern[str]] | None:
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


def complete_prefix(tail: bytes) -> int:
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


def last_record_start(data: bytes, pattern: re.Pattern[bytes], low: int,
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


def open_tail(data: bytes, end: int) -> bool:
    """Whether the last record of `data[:end]` (complete lines of a log) is cut short.

    Cheap: the quotes from the last line that starts a record. Escaped logs (earlier
    versions) hold one record per line, so theirs never is. Used only to decide whether
    to try a repair, which decides again exactly, under the lock.
    """
    span = header_span(data, end)
    if span is None or span[1] >= end or not is_marked(data[span[0]: span[1]]):
        return False
    header = data[span[0]: span[1]].decode("utf-8", "replace").rstrip("\r\n")
    patterns = record_start(tuple(next(csv.reader([header]), [])))
    last = last_record_start(data, patterns[0], span[1], end) if patterns else span[1]
    return bool(data.count(b'"', last, end) & 1)


class _TooWide(Exception):
    pass


def scan_records(lines: list[str], starts: re.Pattern[str] | None, width: int,
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


def records_end(body: bytes, patterns: tuple[re.Pattern[bytes], re.Pattern[str]] | None,
                width: int) -> int:
    """Where the complete records of `body` end, read record by record as a load reads
    them (the slow path)."""
    text = body.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    terminated = text.endswith("\n")
    if terminated:
        lines.pop()
    opened = None
    for kind, _, first, _, _ in scan_records(lines, patterns[1] if patterns else None,
                                             width, terminated):
        if kind == "open":
            opened = first
    if opened is None:
        return len(body)
    return len("\n".join(lines[:opened]).encode("utf-8", "surrogateescape")) + bool(opened)
