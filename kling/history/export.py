"""Exports of a set of generations: CSV for spreadsheets and JSON for programs.

Text that a spreadsheet would run as a formula is neutralised (`spreadsheet_text`), and
NUL, which no spreadsheet keeps and which would reach whatever reads a JSON file, is
left out of both.
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pandas as pd

from .annotations import split_tags


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
