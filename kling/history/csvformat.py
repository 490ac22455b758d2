"""How a record is written: plain RFC 4180 CSV, and the marker that tells the format.

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
  escapes decoded, and the first append migrates it (`kling.history.migrate`). The
  marker adds nothing a reader sees: the header is still `id,created_at,status,prompt,...`,
  with no extra column. (A file re-saved by a tool that writes bare LF is taken for the
  escaped format, so only text holding backslash sequences could change; one re-saved
  with CRLF, as spreadsheets on Windows do, is read as it is.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

#: A cell is quoted when it holds one of these (`csv.writer` would leave a lone CR bare
#: with `\n` line ends, and pandas would end the record there).
_NEEDS_QUOTES = re.compile(r'[",\r\n]')
#: What NUL, which pandas cannot hold, is written as (see the module docstring).
NUL_REPLACEMENT = "\ufffd"
#: How records (and the header) end: CRLF, as RFC 4180 has it. The header's line end is
#: the format marker (see the module docstring).
LINE_END = "\r\n"
#: The first byte of a line that is not blank (pandas skips blank lines, so do we).
NOT_BLANK = re.compile(rb"[^ \t\r\n]")

# Logs of earlier versions (no marker) escaped backslash, CR, LF and NUL in text cells.
_UNESCAPE_RE = re.compile(r"\\([\\nr0])")
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "0": NUL_REPLACEMENT}


def unescape(text: str) -> str:
    """A text cell of an escaped (earlier) log as the text it stands for."""
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(1)], text)


def quote(text: str) -> str:
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
    return quote(str(value))


def header_cells(columns: Sequence[str]) -> str:
    """A header line, without its line end."""
    return ",".join(quote(name) for name in columns)


def is_marked(raw_header: bytes) -> bool:
    """Whether a header line (as bytes, with its line end) is of this format: CRLF.
    Earlier versions, which escaped text cells, ended every line with a bare LF."""
    return raw_header.endswith(b"\r\n")


def encode(columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
           header: bool = False) -> bytes:
    """Rows (and, with `header`, the header first) as the bytes a log file holds."""
    lines = [header_cells(columns)] if header else []
    lines.extend(",".join([_cell(row.get(name)) for name in columns]) for row in rows)
    # A lone surrogate cannot be stored as UTF-8; "?" is better than losing the row.
    return "".join(line + LINE_END for line in lines).encode("utf-8", "replace")


def header_span(data: bytes, end: int | None = None) -> tuple[int, int] | None:
    """(start, end) offsets of the header, the first non-blank line (with its newline)."""
    end = len(data) if end is None else end
    found = NOT_BLANK.search(data, 0, end)
    if found is None:
        return None
    start = data.rfind(b"\n", 0, found.start()) + 1
    stop = data.find(b"\n", start, end)
    return start, (stop + 1 if stop >= 0 else end)
