"""Batch files: a CSV of prompts checked row by row before anything is queued.

Columns: `prompt` (required), optional `duration`, `aspect_ratio`, `seed`. Every row is
validated with the same rules as a single request; bad rows are reported by their line
number in the file (the header is line 1) so a person can find them in a spreadsheet.

A batch file is CSV text in UTF-8 (a byte-order mark is fine) of at most
`MAX_BATCH_BYTES` bytes and `MAX_BATCH_ROWS` prompts; the Generate page states both
before upload. Anything else (UTF-16, a workbook, a binary file, NUL bytes, an empty
file) is refused as a whole with a `BatchFileError` saying what to do: `parse_batch`
raises nothing else, whatever the bytes.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from dataclasses import dataclass, field

from .models import GenerationRequest, validate_request

#: The largest batch file read, in bytes (2 MB), and the most prompts in one batch.
MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_BATCH_ROWS = 500
KNOWN_COLUMNS = ("prompt", "duration", "aspect_ratio", "seed")


def new_batch_id() -> str:
    """The id that ties one uploaded batch's generations together in the history."""
    return "batch-" + uuid.uuid4().hex[:8]


class BatchFileError(ValueError):
    """The file as a whole cannot be read; the message says what to fix."""


@dataclass
class BatchPlan:
    """What a batch file would queue, and what is wrong with it."""

    requests: list[GenerationRequest] = field(default_factory=list)
    #: line number in the file -> the problems of that row
    row_errors: dict[int, list[str]] = field(default_factory=dict)
    #: line number of each valid request, in order
    lines: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.requests) and not self.row_errors

    @property
    def total_seconds(self) -> int:
        return sum(r.seconds for r in self.requests)

    def cost(self, price_per_second: float) -> float:
        return round(self.total_seconds * price_per_second, 2)


_SAVE_AS_CSV = "in your spreadsheet choose Save As > 'CSV UTF-8' and upload that file"
_NUL_BYTES = ("The file contains NUL bytes, so it is not CSV text (it may be UTF-16 or "
              f"a binary file): {_SAVE_AS_CSV}.")
#: The limits in words, as the Generate page states them before upload.
LIMITS_TEXT = f"at most {MAX_BATCH_BYTES // (1024 * 1024)} MB and {MAX_BATCH_ROWS} prompts"
_TOO_BIG = f"a batch file may be {LIMITS_TEXT}"


def read_batch_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a batch file, read no further than the size limit.

    `BatchFileError` when it is larger than `MAX_BATCH_BYTES` (so `/dev/zero` or a
    gigabyte log cannot fill the memory); `OSError` when it cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read(MAX_BATCH_BYTES + 1)
    if len(data) > MAX_BATCH_BYTES:
        raise BatchFileError(f"The file is larger than {MAX_BATCH_BYTES // (1024 * 1024)} "
                             f"MB; {_TOO_BIG}.")
    return data


def _decode(data: bytes) -> str:
    if len(data) > MAX_BATCH_BYTES:
        raise BatchFileError(f"The file is {len(data) / 1e6:.1f} MB; {_TOO_BIG}.")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise BatchFileError(f"This is a spreadsheet workbook (or another binary file), not "
                             f"CSV text: {_SAVE_AS_CSV}.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BatchFileError(f"The file is UTF-16 text, not UTF-8: {_SAVE_AS_CSV}.")
    if b"\x00" in data:
        raise BatchFileError(_NUL_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BatchFileError(f"The file is not UTF-8 text (line {line:,} has a byte UTF-8 "
                             f"cannot have): {_SAVE_AS_CSV}.") from None


def _column(name: str | None) -> str:
    """A header cell as a column name: case, spaces and stray byte-order marks ignored."""
    return (name or "").strip().strip("\ufeff").strip().lower()


def parse_batch(data: bytes | str) -> BatchPlan:
    """Read and check a batch CSV; raise `BatchFileError` if it is not a usable table.

    Raises nothing else, whatever `data` holds; problems of single rows are in
    `BatchPlan.row_errors`.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        text = _decode(bytes(data))
    elif isinstance(data, str):
        if len(data) > MAX_BATCH_BYTES:  # characters: at least as many bytes
            raise BatchFileError(f"The file is larger than "
                                 f"{MAX_BATCH_BYTES // (1024 * 1024)} MB; {_TOO_BIG}.")
        text = data
    else:
        raise BatchFileError("A batch file must be CSV text.")
    if "\x00" in text:
        raise BatchFileError(_NUL_BYTES)
    if not text.strip():
        raise BatchFileError("The file is empty: it needs a header row with a 'prompt' "
                             "column and one prompt per row.")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    row_count = 0
    try:
        header = [_column(h) for h in (reader.fieldnames or [])]
        # Remember where each row starts: a prompt with line breaks spans several lines.
        previous_end = reader.line_num
        for row in reader:
            row_count += 1
            if row_count <= MAX_BATCH_ROWS:  # count the rest, keep none of them
                rows.append((previous_end + 1, row))
            previous_end = reader.line_num
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise BatchFileError(
                f"The file has a cell of more than {csv.field_size_limit():,} characters "
                "(often a double quote that is never closed), so it is not a usable "
                "CSV table.") from None
        raise BatchFileError(f"The file is not a readable CSV table: {exc}.") from None
    if "prompt" not in header:
        raise BatchFileError(
            "The file needs a header row with a 'prompt' column "
            "(optional: duration, aspect_ratio, seed)."
        )
    repeated = sorted({name for name in KNOWN_COLUMNS if header.count(name) > 1})
    if repeated:
        raise BatchFileError(f"The header has more than one '{repeated[0]}' column; keep one.")
    if not rows:
        raise BatchFileError("The file has a header but no prompts.")
    if row_count > MAX_BATCH_ROWS:
        raise BatchFileError(f"The file has {row_count:,} rows; at most {MAX_BATCH_ROWS} at "
                             "once.")

    plan = BatchPlan()
    for line, row in rows:
        if row.get(None):  # DictReader's place for cells beyond the header
            plan.row_errors[line] = [
                "This row has more cells than the header. A prompt that contains commas "
                "must be in double quotes (spreadsheets do this when saving as CSV)."]
            continue
        values = {_column(k): v.strip() for k, v in row.items() if isinstance(v, str)}
        fields = {
            "prompt": values.get("prompt", ""),
            "duration": values.get("duration") or "5",
            "aspect_ratio": values.get("aspect_ratio") or "16:9",
            "seed": values.get("seed") or None,
        }
        problems = validate_request(**fields)
        if problems:
            plan.row_errors[line] = list(problems.values())
        else:
            plan.requests.append(GenerationRequest.create(**fields))
            plan.lines.append(line)
    return plan
