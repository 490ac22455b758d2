"""`HistoryLog`: the generation history of one data directory, as the studio uses it.

The studio's pages, the job queue and the command line all read and write through it.
It writes `data/history.csv` (the log, `kling.history.logfile`) and `data/annotations.csv`
(`kling.history.annotations`), and reads both as one frame (`kling.history.frame`) that
queries, statistics and exports work on.

* **Nothing lost.** `record_pending` is appended and fsync'd before the request is sent;
  the outcome is appended after. Each pending row carries `owner` =
  `host:pid:<boot id>-<process start ticks>` (`kling.storage.process`). On load, a
  pending row whose owner process on this host is gone (or is another process that
  reuses the pid) is shown as `interrupted`, prompt and seed intact; pending rows from
  other hosts become interrupted after `PENDING_TIMEOUT_S`. This process's own in-flight
  generations stay pending.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..models import MODEL_NAME, GenerationRequest, GenerationResult
from ..storage.locks import LockPair
from .annotations import annotation_rows, annotation_value, split_tags
from .changes import (
    assembled_row, failure_changes, now_iso, pending_row, success_changes, video_path_changes,
)
from .frame import FrameCache, local_timezone
from .logfile import LOCK_TIMEOUT_S, LogFile
from .query import HistoryQuery, apply_query
from .schema import (
    ANNOTATION_COLUMNS, ANNOTATION_FIELDS, AUTHOR_COLUMNS, HISTORY_COLUMNS, check_id,
)
from ..timing import Expectation
from .stats import (
    Commitments, HistoryStats, Spend, compute_stats, month_commitments, spend_by_person_month,
    template_stats,
)
from .trail import TrailEvent, trail_of

log = logging.getLogger("kling.history")

#: Outcomes of this many recent generations are remembered so the outcome row can repeat
#: the pending row without reading the log.
_REMEMBERED_ROWS = 10_000


class HistoryLog:
    """The generation log of one data directory. Safe to share between threads."""

    def __init__(self, data_dir: str | Path, *, price_per_second: float = 0.28) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "history.csv"
        self.annotations_path = self.data_dir / "annotations.csv"
        self.price_per_second = float(price_per_second)
        lock = LockPair(self.data_dir / "history.lock", LOCK_TIMEOUT_S)
        self._history = LogFile(self.path, HISTORY_COLUMNS, lock)
        self._annotations = LogFile(self.annotations_path, ANNOTATION_COLUMNS, lock)
        self.torn_path = self._history.torn_path
        self._rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rows_lock = threading.Lock()
        self._frames = FrameCache(self._history, self._annotations, self.price_per_second)

    # -- writing ------------------------------------------------------------------------
    def record_pending(self, request: GenerationRequest, *, gen_id: str | None = None,
                       **fields: Any) -> str:
        """Log a generation about to be sent (durably, before sending); return its id.
        Fields are `kling.history.changes.pending_row`'s: where it came from (`source`,
        template, batch, a storyboard's take and shot) and `created_by`, who asked for
        it (an email, or the computer's user)."""
        row = pending_row(request, price_per_second=self.price_per_second, gen_id=gen_id,
                          **fields)
        self._write(row)
        return row["id"]

    def record_assembled(self, **fields: Any) -> str:
        """Log a spot assembled from a storyboard's picked takes
        (`kling.history.changes.assembled_row`); returns its id."""
        row = assembled_row(**fields)
        self._write(row)
        return row["id"]

    def record_success(self, gen_id: str, result: GenerationResult, *, elapsed_s: float,
                       video_path: str | None = None) -> None:
        """Log that the video was made."""
        row = self._state(gen_id)
        row.update(success_changes(row.get("duration"), result, elapsed_s=elapsed_s,
                                   video_path=video_path,
                                   price_per_second=self.price_per_second))
        self._write(row)

    def record_failure(self, gen_id: str, error: BaseException, *, elapsed_s: float) -> None:
        """Log that the generation failed, with the plain-language reason."""
        row = self._state(gen_id)
        row.update(failure_changes(row.get("duration"), error, elapsed_s=elapsed_s,
                                   price_per_second=self.price_per_second))
        self._write(row)

    def record_video_path(self, gen_id: str, video_path: str | None, *,
                          archive_error: str | None = None) -> None:
        """Log where the video was archived, or why it could not be (retried later)."""
        row = self._state(gen_id)
        row.update(video_path_changes(video_path, archive_error))
        self._write(row)

    def annotate(self, gen_ids: str | Iterable[str], *, by: str = "", **fields: Any) -> None:
        """Set annotations of one or several generations in one append, `by` someone.

        Fields: `favourite`/`hidden` (bool), `rating` (1-5 or None), `review_status`
        (one of `REVIEW_STATUSES`), `notes` (text), `tags` (list or comma text).
        Every value is checked before anything is written (`ValueError`).
        """
        ids = [gen_ids] if isinstance(gen_ids, str) else list(gen_ids)
        for gen_id in ids:
            check_id(gen_id)
        values = {name: annotation_value(name, value) for name, value in fields.items()}
        if not ids or not values:
            return
        now = now_iso()
        self._annotations.append([
            {"id": gen_id, "field": name, "value": value, "annotated_at": now,
             "annotated_by": by}
            for gen_id in ids for name, value in values.items()
        ])

    def _write(self, row: dict[str, Any]) -> None:
        self._history.append([row])
        with self._rows_lock:
            self._rows[row["id"]] = row
            self._rows.move_to_end(row["id"])
            while len(self._rows) > _REMEMBERED_ROWS:
                self._rows.popitem(last=False)

    def _state(self, gen_id: str) -> dict[str, Any]:
        """The latest full row of a generation, to repeat in its next row."""
        check_id(gen_id)
        with self._rows_lock:
            row = self._rows.get(gen_id)
        if row is not None:
            return dict(row)
        # Started by another process (or long ago): read it from the log.
        found = self.get(gen_id)
        if found is None:
            log.warning("history has no row for %s; logging its outcome alone", gen_id)
            return {"id": gen_id, "created_at": now_iso(), "model": MODEL_NAME}
        row = {k: v for k, v in found.items()
               if k not in ANNOTATION_FIELDS and k not in AUTHOR_COLUMNS}
        if isinstance(row.get("template_vars"), dict):
            row["template_vars"] = json.dumps(row["template_vars"], ensure_ascii=False)
        return row

    # -- reading ------------------------------------------------------------------------
    def load(self) -> pd.DataFrame:
        """One row per generation (its latest state), newest first, annotations merged.

        Columns: `HISTORY_COLUMNS`, then `ANNOTATION_FIELDS` and `AUTHOR_COLUMNS`
        (`reviewed_at` a time like `created_at`), then any columns the file
        has that this code does not know. Text is `str` ("" when blank; `duration` is
        text like the API's "5"), whole numbers are nullable `Int64`, `created_at` and
        `finished_at` are zone-aware in the studio's time zone, `favourite`/`hidden` are
        bool, `rating` is `Int64` (NA when unrated) and `tags` is comma text ("a, b").
        Pending rows whose writer died read as `interrupted`.

        Served from a cache while neither file changed (one `stat` per file); the frame
        is a copy-on-write view of the cache, so changing it never changes what the next
        caller gets.
        """
        return self._frames.current().copy(deep=False)

    def get(self, gen_id: str) -> dict[str, Any] | None:
        """Everything about one generation, as plain Python values; None if unknown."""
        row = self._frames.row(gen_id)
        return None if row is None else plain_row(row)

    def query(self, q: HistoryQuery | None = None) -> pd.DataFrame:
        """The generations matching `q` (default: everything visible), in its sort order."""
        q = q or HistoryQuery()
        if q.text.strip():
            frame, haystack = self._frames.searchable()
            return apply_query(frame, q, haystack)
        return apply_query(self._frames.current(), q)

    def count(self, q: HistoryQuery | None = None, *, at_most: int | None = None) -> int:
        """How many generations match `q` (default: everything visible); past `at_most`,
        `at_most + 1` (a page need not count a hundred thousand matches)."""
        found = len(self.query(q))
        return found if at_most is None else min(found, at_most + 1)

    def page(self, q: HistoryQuery, offset: int, limit: int) -> pd.DataFrame:
        """`limit` generations matching `q` from the `offset`-th on, in its sort order."""
        return self.query(q).iloc[offset:offset + limit]

    def template_stats(self) -> pd.DataFrame:
        """Per template: uses, success rate, average rating, last use
        (`kling.history.stats.template_stats`), of every generation."""
        return template_stats(self._frames.current())

    def template_ids(self) -> list[str]:
        """The template ids generations were made from, sorted."""
        used = self._frames.current()["template_id"]
        return sorted({str(t) for t in used.unique() if isinstance(t, str) and t})

    def stats(self, df: pd.DataFrame | None = None, *, query: HistoryQuery | None = None,
              today: date | None = None) -> HistoryStats:
        """Statistics of `df`, or of the generations `query` matches (default: every
        visible generation; cached while unchanged)."""
        if df is None and query is not None and not query.unfiltered:
            df = self.query(query)
        if df is not None:
            return compute_stats(df, self.price_per_second, today=today)
        day = today or datetime.now(local_timezone()).date()

        def visible_stats(frame: pd.DataFrame) -> HistoryStats:
            visible = frame[~frame["hidden"].to_numpy(dtype=bool)]
            return compute_stats(visible, self.price_per_second, today=day)

        return self._frames.derived(day, visible_stats)

    def spend(self, today: date | None = None) -> Spend:
        """Confirmed spend today and this month, possibly billed apart (`stats`)."""
        return Spend.of(self.stats(today=today))

    def expected_times(self) -> dict[str, Expectation]:
        """Measured inference times per duration (`kling.timing`)."""
        return self.stats().expected_times

    # -- people -------------------------------------------------------------------------
    def people(self) -> list[str]:
        """Everyone a generation names as its maker (`created_by`), sorted."""
        frame = self._frames.current()
        return sorted({str(v).strip() for v in frame["created_by"].unique()
                       if isinstance(v, str) and v.strip()}, key=str.casefold)

    def commitments(self, month: date | None = None) -> Commitments:
        """What this month's (or `month`'s) generations spent or may still cost, in all
        and by person (`kling.history.stats.Commitments`); cached while unchanged."""
        tz = local_timezone()
        month = month or datetime.now(tz).date()
        key = ("commitments", month.year, month.month)
        return self._frames.derived(
            key, lambda frame: month_commitments(frame, self.price_per_second, month))

    def spend_by_person_month(self, df: pd.DataFrame | None = None, *,
                              query: HistoryQuery | None = None) -> pd.DataFrame:
        """Generations, spend and possibly billed estimate per month and person, of `df`
        or of what `query` matches (default: every visible generation)."""
        if df is None and query is not None:
            df = self.query(query)
        if df is None:
            frame = self._frames.current()
            df = frame[~frame["hidden"].to_numpy(dtype=bool)]
        return spend_by_person_month(df, self.price_per_second)

    def trail(self, gen_id: str) -> list[TrailEvent]:
        """Who did what to one generation and when, oldest first; [] if unknown."""
        row = self.get(check_id(gen_id))
        if row is None:
            return []
        rows = self.annotation_log()
        return trail_of(row, rows[rows["id"] == gen_id], local_timezone())

    def annotation_log(self) -> pd.DataFrame:
        """Every annotation row, in the order written (`annotation_rows`)."""
        return annotation_rows(self._annotations.read_complete(), self.annotations_path)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def plain_row(row: pd.Series) -> dict[str, Any]:
    """One row of a loaded frame as plain Python values: tags a list, template_vars a dict."""
    result = {name: _plain(value) for name, value in row.items()}
    result["tags"] = split_tags(result.get("tags") or "")
    text = result.get("template_vars")
    try:
        result["template_vars"] = json.loads(text) if text else None
    except ValueError:
        result["template_vars"] = None
    return result
