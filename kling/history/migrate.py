"""Bringing a log written by an earlier (or another) version to this version's format.

* **Columns and formats evolve.** The header is fixed when the file is created and
  appends write cells in the *file's* column order (unknown columns, e.g. from a newer
  version, are written empty and so kept). A log with fewer columns than this code knows,
  or in the escaped format, loads with the columns filled in and the escapes decoded; the
  first append by this code migrates it once, under the lock, to this format with a
  header that is the union (temp file + `os.replace`; every row, value and unknown column
  kept, escapes decoded; a line that cannot be read is copied verbatim). A second open
  finds the marker and all the columns, and migrates nothing. Rows that cannot be
  parsed (wrong status, too many cells) are skipped with a warning, never removed.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ..storage.atomic import replacing
from .csvformat import LINE_END, header_cells, quote, unescape
from .records import record_start, scan_records

log = logging.getLogger("kling.history")


def migrate(path: Path, columns: tuple[str, ...], marked: bool,
            known: Sequence[str]) -> tuple[str, ...]:
    """Rewrite the log at `path` once (its writers' lock held) in this format, escaped
    text decoded, with the `known` columns it lacks added; the new header's columns.

    `columns` and `marked` are what its header says now (`csvformat.is_marked`).
    """
    new_columns = columns + tuple(c for c in known if c not in columns)
    width, fill = len(columns), len(new_columns)
    # surrogateescape: bytes that are not UTF-8 are copied back unchanged.
    lines = path.read_bytes().decode("utf-8", "surrogateescape").split("\n")
    # Everything up to and including the old header (the first non-blank line).
    first = next((i for i, line in enumerate(lines) if line.strip(" \t\r")), len(lines))
    body = lines[first + 1:]
    terminated = bool(body) and body[-1] == ""
    if terminated:
        body.pop()
    with replacing(path, prefix=path.name + ".", suffix=".migrating",
                   mode=stat.S_IMODE(os.stat(path).st_mode), encoding="utf-8",
                   errors="surrogateescape", newline="") as out:
        out.write(header_cells(new_columns) + LINE_END)

        def write(cells: list[str]) -> None:
            out.write(",".join([quote(cell) for cell in cells]
                               + [""] * (fill - len(cells))) + LINE_END)

        if marked:
            patterns = record_start(columns)
            for kind, cells, start, end, _ in scan_records(
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
                write([unescape(cell) for cell in record])
    changes = ([] if marked else ["escaped text decoded"]) + (
        ["added columns " + ", ".join(new_columns[width:])] if fill > width else [])
    log.info("%s migrated to this version's format: %s", path, "; ".join(changes))
    return new_columns


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
