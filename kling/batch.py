"""Batch files: a CSV of prompts checked row by row before anything is queued.

Columns: `prompt` (required), optional `duration`, `aspect_ratio`, `seed`. Every row is
validated with the same rules as a single request; bad rows are reported by their line
number in the file (the header is line 1) so a person can find them in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from .models import GenerationRequest, validate_request

MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_BATCH_ROWS = 500
KNOWN_COLUMNS = ("prompt", "duration", "aspect_ratio", "seed")


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


def parse_batch(data: bytes | str) -> BatchPlan:
    """Read and check a batch CSV; raise `BatchFileError` if it is not a usable table."""
    if isinstance(data, bytes):
        if len(data) > MAX_BATCH_BYTES:
            raise BatchFileError(
                f"The file is {len(data) / 1e6:.1f} MB; a batch file may be at most "
                f"{MAX_BATCH_BYTES // (1024 * 1024)} MB."
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BatchFileError("The file is not UTF-8 text; save it as 'CSV UTF-8'.") from None
    else:
        text = data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        rows = []
        # Remember where each row starts: a prompt with line breaks spans several lines.
        previous_end = reader.line_num
        for row in reader:
            rows.append((previous_end + 1, row))
            previous_end = reader.line_num
    except csv.Error as exc:
        raise BatchFileError(f"The file is not a readable CSV table: {exc}.") from None
    if "prompt" not in header:
        raise BatchFileError(
            "The file needs a header row with a 'prompt' column "
            "(optional: duration, aspect_ratio, seed)."
        )
    if not rows:
        raise BatchFileError("The file has a header but no prompts.")
    if len(rows) > MAX_BATCH_ROWS:
        raise BatchFileError(f"The file has {len(rows)} rows; at most {MAX_BATCH_ROWS} at once.")

    plan = BatchPlan()
    for line, row in rows:
        if row.get(None):  # DictReader's place for cells beyond the header
            plan.row_errors[line] = [
                "This row has more cells than the header. A prompt that contains commas "
                "must be in double quotes (spreadsheets do this when saving as CSV)."]
            continue
        values = {(k or "").strip().lower(): v.strip() for k, v in row.items()
                  if isinstance(v, str)}
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
