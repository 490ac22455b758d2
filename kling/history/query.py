"""Questions asked of the loaded log: filters, text search and sort orders.

`HistoryQuery` is a plain, hashable value (so a page can cache by it); `apply_query`
answers it from a frame with vectorised masks. Text search is a case-insensitive
substring test over prompts, notes, tags and ids, never a regular expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..billing import possibly_billed_rows

SORTS = ("newest", "oldest", "inference_fast", "inference_slow", "rating")
#: A value of `HistoryQuery.statuses` that is not a status of the log but the billing
#: rule over two of them (`kling.billing`): it adds the possibly billed generations.
POSSIBLY_BILLED_STATUS = "possibly_billed"


def _as_tuple(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split(",")
    return tuple(str(v).strip() for v in values if str(v).strip())


@dataclass(frozen=True)
class HistoryQuery:
    """Which generations to show, and in which order. Empty filters match everything.

    `date_from`/`date_to` are inclusive days in the studio's time zone. `text` matches
    prompts, notes, tags and ids, ignoring case. `statuses` may hold
    `POSSIBLY_BILLED_STATUS` beside the log's statuses.
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
    #: Who made them (`created_by`), ignoring case.
    people: tuple[str, ...] = ()
    #: The storyboards they are takes or spots of.
    storyboards: tuple[str, ...] = ()
    sort: str = "newest"

    def __post_init__(self) -> None:
        # Lists from widgets become tuples, so a query is hashable (cacheable).
        for name in ("statuses", "aspect_ratios", "durations", "template_ids",
                     "review_statuses", "people", "storyboards"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")

    @property
    def unfiltered(self) -> bool:
        """True when it lets every visible generation through (in whatever order)."""
        return self == HistoryQuery(sort=self.sort)


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
    if q.statuses:
        statuses = frame["status"].isin(q.statuses)
        if POSSIBLY_BILLED_STATUS in q.statuses:
            statuses |= possibly_billed_rows(frame)
        mask &= statuses.to_numpy(dtype=bool)
    for name, wanted in (("aspect_ratio", q.aspect_ratios), ("duration", q.durations),
                         ("template_id", q.template_ids), ("review_status", q.review_statuses),
                         ("storyboard_id", q.storyboards)):
        if wanted:
            mask &= frame[name].isin(wanted).to_numpy(dtype=bool)
    if q.people:
        makers = frame["created_by"].fillna("").astype(str).str.strip().str.casefold()
        mask &= makers.isin([p.casefold() for p in q.people]).to_numpy(dtype=bool)
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
