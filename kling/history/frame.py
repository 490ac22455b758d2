"""The loaded log: one typed row per generation, annotations merged, kept while unchanged.

* **Cheap repeated loads.** `load()` is keyed by `(inode, size, mtime_ns)` of both files
  (`kling.storage.signature`) and returns the cached frame (a copy-on-write shallow
  copy, so callers may not corrupt the cache) when neither changed; the pages call it on
  every rerun. Only a file that changed is parsed again: a new rating re-reads the short
  annotations log, never the large history.
* **Interrupted, decided on every read.** Nothing in the files changes when a writer
  dies, so which pending rows read as `interrupted` (`kling.history.store` says when) is
  decided again on every read, from the cached pending rows alone; a process seen dead
  is not asked about again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ..billing import UNKNOWN_OUTCOME, possibly_billed_rows
from ..storage.process import owner_alive
from ..storage.signature import signature
from .annotations import annotation_table, merge_annotations
from .csvformat import NOT_BLANK, encode
from .logfile import LogFile
from .parse import read_csv
from .query import search_haystack
from .schema import (
    ANNOTATION_FIELDS, FLOAT_COLUMNS, HISTORY_COLUMNS, INT_COLUMNS, STATUSES, TIME_COLUMNS,
)

log = logging.getLogger("kling.history")
T = TypeVar("T")

#: A pending row from another host (whose process we cannot inspect) is considered
#: interrupted after this long; generous because large batches queue for hours.
PENDING_TIMEOUT_S = 6 * 3600


def local_timezone() -> tzinfo:
    """The studio's time zone, which decides what "today" and "this month" mean."""
    names = []
    if os.environ.get("TZ"):
        names.append(os.environ["TZ"].lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            names.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in names:
        try:
            return ZoneInfo(name)
        except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            continue
    return datetime.now().astimezone().tzinfo or timezone.utc


def prepare(raw: pd.DataFrame, path: Path, price_per_second: float) -> pd.DataFrame:
    """Last state per id, typed and decoded, newest first (columns built once each)."""
    n = len(raw)
    blank = pd.Series(np.full(n, "", dtype=object))
    ids = raw["id"].fillna("") if "id" in raw else blank
    valid = (ids != "").to_numpy() & (
        raw["status"].isin(STATUSES).to_numpy() if "status" in raw else False)
    if not valid.all():
        log.warning("%s: %d rows with no id or an unknown status were skipped",
                    path, int((~valid).sum()))
    keep = np.flatnonzero(valid)
    keep = keep[~ids.take(keep).duplicated(keep="last").to_numpy()]
    created = pd.to_datetime(raw["created_at"].take(keep) if "created_at" in raw
                             else blank.take(keep), format="ISO8601", utc=True,
                             errors="coerce")
    # Newest first; among equal times the row written last comes first; unknown times last.
    stamp = created.to_numpy(dtype="datetime64[ns]").astype("int64")
    rank = np.lexsort((keep, stamp))[::-1]
    order = keep[rank]
    tz = local_timezone()
    columns: dict[str, pd.Series] = {}
    for name in dict.fromkeys([*HISTORY_COLUMNS, *raw.columns]):
        if name == "created_at":
            series = created.take(rank)
        elif name in raw:
            series = raw[name].take(order)
        elif name in INT_COLUMNS + FLOAT_COLUMNS or name in TIME_COLUMNS:
            series = pd.Series(np.full(len(order), np.nan))
        else:
            series = blank.take(order)
        if name in INT_COLUMNS:
            series = pd.to_numeric(series, errors="coerce").round().astype("Int64")
        elif name in FLOAT_COLUMNS:
            series = pd.to_numeric(series, errors="coerce").astype("float64")
        elif name in TIME_COLUMNS:
            if name != "created_at":
                series = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
            series = series.dt.tz_convert(tz).dt.as_unit("us")
        else:
            series = pd.Series(series.fillna("").to_numpy(dtype=object), dtype=object)
        columns[name] = series.reset_index(drop=True)
    # copy=False keeps one array per column: no costly consolidation into blocks.
    frame = pd.DataFrame(columns, copy=False)
    # Logs from before the one billing rule named an unreadable 2xx "malformed_response";
    # it is an unknown outcome like any other.
    unreadable_2xx = ((frame["error_type"] == "malformed_response")
                      & frame["http_status"].between(200, 299).fillna(False).to_numpy(bool))
    if unreadable_2xx.any():
        frame.loc[unreadable_2xx, "error_type"] = UNKNOWN_OUTCOME
    # Rows written before costs were logged get the estimate, so spend is never blank:
    # successes, and generations that may have been billed.
    missing_cost = frame["cost_usd"].isna()
    if missing_cost.any():
        missing_cost &= maybe_billed(frame)
        seconds = pd.to_numeric(frame["duration"], errors="coerce")
        frame.loc[missing_cost, "cost_usd"] = (seconds * price_per_second)[missing_cost]
    return frame


def maybe_billed(frame: pd.DataFrame) -> pd.Series:
    """Rows that cost money: successes, and generations that were possibly billed."""
    return (frame["status"] == "succeeded") | possibly_billed_rows(frame)


def _order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    first = list(HISTORY_COLUMNS) + list(ANNOTATION_FIELDS)
    return frame[first + [c for c in frame.columns if c not in first]]


class FrameCache:
    """The frame of one history and annotations log pair; safe to share between threads.

    Every frame it returns is shared with the cache: callers copy before changing one.
    """

    def __init__(self, history: LogFile, annotations: LogFile,
                 price_per_second: float) -> None:
        self._history = history
        self._annotations = annotations
        self._price_per_second = price_per_second
        self._lock = threading.RLock()
        self._history_sig: Any = None
        self._base: pd.DataFrame | None = None
        self._annotations_sig: Any = None
        self._annotation_table: pd.DataFrame | None = None
        self._merged_key: Any = None
        self._merged: pd.DataFrame | None = None
        self._pending_pos: np.ndarray | None = None
        self._pending_owner: np.ndarray | None = None
        self._pending_created: np.ndarray | None = None
        self._resolved_key: Any = None
        self._resolved: pd.DataFrame | None = None
        self._id_index: pd.Index | None = None
        self._haystack: list[str] | None = None
        self._dead_owners: set[str] = set()
        self._derived: tuple[pd.DataFrame, Any, Any] | None = None

    def current(self) -> pd.DataFrame:
        """One row per generation (its latest state), newest first, annotations merged,
        dead writers' pending rows as interrupted; parsed again only if a file changed."""
        with self._lock:
            history_sig = signature(self._history.path)
            if self._base is None or history_sig != self._history_sig:
                data = self._history.read_complete()
                report: dict[str, bool] = {}
                if not data or NOT_BLANK.search(data) is None:  # no file, or only blanks
                    data = encode(HISTORY_COLUMNS, [], header=True)
                    report["blank"] = True
                raw = read_csv(data, self._history.path,
                               numeric=INT_COLUMNS + FLOAT_COLUMNS, report=report)
                if report.get("complete") and not report.get("blank"):
                    self._history.learn_read()  # the next append need not scan the log
                elif report.get("open"):
                    self._history.repair_if_idle()  # set a torn last row aside
                self._base = prepare(raw, self._history.path, self._price_per_second)
                self._history_sig = history_sig
            annotations_sig = signature(self._annotations.path)
            if self._annotation_table is None or annotations_sig != self._annotations_sig:
                report = {}
                self._annotation_table = annotation_table(
                    self._annotations.read_complete(), self._annotations.path, report)
                if report.get("complete"):
                    self._annotations.learn_read()
                elif report.get("open"):
                    self._annotations.repair_if_idle()
                self._annotations_sig = annotations_sig
            merged_key = (self._history_sig, self._annotations_sig)
            if self._merged is None or merged_key != self._merged_key:
                merged = _order_columns(merge_annotations(self._base, self._annotation_table))
                pending = np.flatnonzero((merged["status"] == "pending").to_numpy())
                self._merged, self._merged_key = merged, merged_key
                self._pending_pos = pending
                self._pending_owner = merged["owner"].to_numpy(dtype=object)[pending]
                created = merged["created_at"].iloc[pending]
                self._pending_created = (created.dt.tz_convert("UTC").dt.tz_localize(None)
                                         .to_numpy(dtype="datetime64[ns]")
                                         .astype("int64") / 1e9)
                self._resolved, self._resolved_key, self._id_index = None, None, None
                self._haystack = None
            return self._resolve_interrupted()

    def row(self, gen_id: str) -> pd.Series | None:
        """The current row of one generation; None if unknown."""
        with self._lock:
            frame = self.current()
            if self._id_index is None:
                self._id_index = pd.Index(frame["id"])
            index = self._id_index
        try:
            position = index.get_loc(gen_id)
        except KeyError:
            return None
        if not isinstance(position, (int, np.integer)):
            return None
        return frame.iloc[int(position)]

    def searchable(self) -> tuple[pd.DataFrame, list[str]]:
        """The current frame and its `search_haystack`, built once per change of text."""
        with self._lock:
            frame = self.current()
            if self._haystack is None:
                self._haystack = search_haystack(frame)
            return frame, self._haystack

    def derived(self, key: Hashable, compute: Callable[[pd.DataFrame], T]) -> T:
        """`compute(frame)` of the current frame, kept until the frame or `key` changes
        (the statistics of a day, say)."""
        with self._lock:
            frame = self.current()
            if self._derived is None or self._derived[0] is not frame \
                    or self._derived[1] != key:
                self._derived = (frame, key, compute(frame))
            return self._derived[2]

    def _resolve_interrupted(self) -> pd.DataFrame:
        """The merged frame with dead writers' pending rows shown as interrupted."""
        assert self._merged is not None and self._pending_pos is not None
        assert self._pending_owner is not None and self._pending_created is not None
        now = time.time()
        alive: dict[str, bool | None] = {}
        for owner in set(self._pending_owner):
            # A process that died stays dead: ask about each one only once.
            verdict = False if owner in self._dead_owners else \
                owner_alive(owner) if isinstance(owner, str) else None
            if verdict is False:
                self._dead_owners.add(owner)
            alive[owner] = verdict
        # A row with no creation time counts as old.
        old = now - self._pending_created >= PENDING_TIMEOUT_S
        dead = np.array([alive[o] is False or (alive[o] is None and late)
                         for o, late in zip(self._pending_owner, old)], dtype=bool)
        key = tuple(self._pending_pos[dead])
        if self._resolved is None or key != self._resolved_key:
            if key:
                status = self._merged["status"].to_numpy(dtype=object).copy()
                status[list(key)] = "interrupted"
                resolved = self._merged.copy(deep=False)
                resolved["status"] = pd.Series(status, dtype=object)
            else:
                resolved = self._merged
            self._resolved, self._resolved_key = resolved, key
            self._id_index = None
        return self._resolved
