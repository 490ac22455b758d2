"""The annotations log: favourites, ratings, review status, notes, tags and hidden.

* **Annotations in a second file.** `annotations.csv` is a log of `(id, field, value,
  annotated_at)` rows in the same format as the history (marker, quoting, torn-row
  repair, migration); the last row per (id, field) wins. Changing one rating appends one
  short record, never rewrites the large log, and two people editing different fields of
  one generation at once cannot overwrite each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .parse import read_csv
from .schema import (
    ANNOTATION_COLUMNS, ANNOTATION_FIELDS, AUTHOR_COLUMNS, REVIEW_STATUSES,
)

#: The author columns (`AUTHOR_COLUMNS`): the annotation field each one follows, and
#: which column of its latest annotation row it takes.
_AUTHORS = {"reviewed_by": ("review_status", "annotated_by"),
            "reviewed_at": ("review_status", "annotated_at"),
            "notes_by": ("notes", "annotated_by")}

MAX_NOTES_CHARS = 10_000

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


def annotation_value(name: str, value: Any) -> str:
    """The text stored for annotation `name`; `ValueError` naming what is wrong with it."""
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


def annotation_table(data: bytes | None, path: Path,
                     report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Latest value of each annotation field, indexed by id (raw text values), and who
    set the latest review status and notes, and when (`AUTHOR_COLUMNS`)."""
    return latest_annotations(annotation_rows(data, path, report))


def latest_annotations(frame: pd.DataFrame) -> pd.DataFrame:
    """`annotation_table` of annotation rows in the order written (`annotation_rows`)."""
    if frame.empty:
        return pd.DataFrame(columns=[*ANNOTATION_FIELDS, *AUTHOR_COLUMNS],
                            index=pd.Index([], name="id"))
    frame = frame.drop_duplicates(["id", "field"], keep="last")
    wide = frame.pivot(index="id", columns="field", values="value")
    wide = wide.reindex(columns=list(ANNOTATION_FIELDS))
    for column, (field, source) in _AUTHORS.items():
        latest = frame[frame["field"] == field].set_index("id")[source]
        wide[column] = latest.reindex(wide.index)
    return wide


def annotation_rows(data: bytes | None, path: Path,
                    report: dict[str, bool] | None = None) -> pd.DataFrame:
    """Every annotation row of known fields, in the order written (raw text values; an
    earlier version's rows have no author)."""
    frame = read_csv(data, path, report=report) if data else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=list(ANNOTATION_COLUMNS))
    for name in ANNOTATION_COLUMNS:
        if name not in frame:
            frame[name] = ""
    return frame[frame["field"].isin(ANNOTATION_FIELDS) & (frame["id"] != "")]


def merge_annotations(frame: pd.DataFrame, table: pd.DataFrame, tz: Any = "UTC"
                      ) -> pd.DataFrame:
    """`frame` with the annotation columns added, typed, and defaulted where none is set
    (times in `tz`)."""
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
    for column in ("reviewed_by", "notes_by"):
        names = np.full(n, "", dtype=object)
        if hit.any():
            names[hit] = [v if isinstance(v, str) else "" for v in raw(column)]
        merged[column] = pd.Series(names, dtype=object)
    at = np.full(n, None, dtype=object)
    if hit.any():
        at[hit] = raw("reviewed_at")
    merged["reviewed_at"] = (pd.to_datetime(pd.Series(at, dtype=object), format="ISO8601",
                                            utc=True, errors="coerce")
                             .dt.tz_convert(tz).dt.as_unit("us"))
    return merged
