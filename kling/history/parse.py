"""The tolerant reader: a log's bytes as a frame, pandas first, record by record if needed.

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
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .csvformat import NUL_REPLACEMENT, header_span, is_marked, unescape
from .records import record_start, scan_records
from .schema import ANNOTATION_FIELDS, STATUSES

log = logging.getLogger("kling.history")

def _header_line(data: bytes) -> tuple[int, str | None]:
    """(line number, text) of the first non-blank line; (0, None) if there is none."""
    span = header_span(data)
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

    Every record begins a line with its key cells (`record_start`). A quote left open
    by a hand edit makes pandas read the records after it as part of one cell, which
    shows as fewer records with valid key cells than such lines. (A count that differs
    for another reason, e.g. a prompt holding such a line, costs only the slower read.)
    """
    patterns = record_start(tuple(names))
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
                [unescape(v) if isinstance(v, str) and "\\" in v else v for v in values],
                index=frame.index, dtype=object)
    return frame


def read_csv(data: bytes, path: Path, numeric: Sequence[str] = (),
             report: dict[str, bool] | None = None, *,
             clean_only: bool = False) -> pd.DataFrame:
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

    With `clean_only`, a log that pandas does not read cleanly in one go (a row skipped,
    or a reason to read record by record) is not read at all: the frame is empty,
    `report["complete"]` False and nothing is logged (for a caller that then reads the
    whole file, whose warnings name the right lines).
    """
    report = {} if report is None else report
    report["complete"] = False
    header = _header_line(data)[1]
    names = next(csv.reader([header]), []) if header else []
    if not names:
        return pd.DataFrame()
    span = header_span(data)
    marked = span is not None and is_marked(data[span[0]: span[1]])
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
                        # float64 as the typed parse gives (whole numbers past 2**53
                        # included), whichever way this part of a log was read.
                        frame[name] = pd.to_numeric(frame[name],
                                                    errors="coerce").astype("float64")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            log.debug("%s could not be read in one go (%s); reading it record by record",
                      path, str(exc).strip())
            frame = None
    if frame is not None:
        if _every_record_seen(data, names, frame) and not (clean_only and caught):
            for warning in caught:
                log.warning("%s: skipped unreadable rows (kept in the file): %s", path,
                            str(warning.message).strip())
            report["complete"] = True  # pandas ended outside any quoted cell
            return _decoded(frame, marked, numeric)
        if not clean_only:
            log.warning("%s has a quoted cell that runs into the records after it (an "
                        "unmatched quote?); reading it record by record", path)
    if clean_only:
        return pd.DataFrame()
    return _decoded(_read_records(data, path, numeric, report), marked, numeric)


def _read_records(data: bytes, path: Path, numeric: Sequence[str] = (),
                  report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Parse a log record by record (the slow, forgiving way; see `scan_records`).

    Damaged records are skipped with a warning and stay in the file untouched; a last
    record cut short is left out (being written, or to be set aside as torn); short
    records are padded with blanks, as pandas does. (In an escaped log every record is
    one line, so there a quote left open at the end is damage, not a torn row.)
    `report["open"]` tells whether a last record cut short was left out.
    """
    header_number, header = _header_line(data)
    if header is None:
        return pd.DataFrame()
    span = header_span(data)
    marked = span is not None and is_marked(data[span[0]: span[1]])
    raw_names = next(csv.reader([header]), [])
    names = _unique_names(raw_names)
    width = len(names)
    lines = data.decode("utf-8", "replace").split("\n")[header_number:]  # not splitlines()
    terminated = data.endswith(b"\n")
    if terminated and lines:
        lines.pop()
    patterns = record_start(tuple(raw_names))
    rows: list[list[str]] = []
    bad: list[str] = []
    collecting = gc.isenabled()
    gc.disable()  # a hundred thousand lists, none cyclic: collections only cost time
    try:
        for kind, cells, first, end, note in scan_records(
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
