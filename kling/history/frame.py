"""The loaded log: one typed row per generation, annotations merged, kept while unchanged.

* **Cheap repeated loads.** `load()` is keyed by `(inode, size, mtime_ns)` of both files
  (`kling.storage.signature`) and returns the cached frame (a copy-on-write shallow
  copy, so callers may not corrupt the cache) when neither changed; the pages call it on
  every rerun. Only a file that changed is read again: a new rating re-reads the short
  annotations log, never the large history.
* **Cheap loads while jobs run.** A history that only grew by whole records has just
  those records parsed and folded into the cached frame (`kling.history.appended`), and
  the search haystack is folded the same way; anything unusual parses the whole log.
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
from dataclasses import replace
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
from .appended import Loaded, appended_rows, as_log, fold, splice
from .csvformat import NOT_BLANK, encode, header_span, is_marked
from .logfile import LogFile
from .parse import read_csv
from .query import search_haystack
from .schema import (
    ANNOTATION_FIELDS, AUTHOR_COLUMNS, FLOAT_COLUMNS, HISTORY_COLUMNS, INT_COLUMNS, STATUSES,
    TIME_COLUMNS,
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


def prepare(raw: pd.DataFrame, path: Path, price_per_second: float, tz: tzinfo) -> Loaded:
    """Last state per id, typed and decoded, newest first (columns built once each),
    times in `tz`; with each row's sort keys (`positions` count `raw`'s rows)."""
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
    columns: dict[str, pd.Series] = {}
    units: set[str] = set()  # of the times as pandas read them
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
            units.add(series.dt.unit)
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
    return Loaded(frame, stamp[rank], order, "ns" in units)


def maybe_billed(frame: pd.DataFrame) -> pd.Series:
    """Rows that cost money: successes, and generations that were possibly billed."""
    return (frame["status"] == "succeeded") | possibly_billed_rows(frame)


def _haystack(frame: pd.DataFrame) -> np.ndarray:
    """`search_haystack` as an array, so that appended rows can be spliced in."""
    return np.array(search_haystack(frame), dtype=object)


def _order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    first = [*HISTORY_COLUMNS, *ANNOTATION_FIELDS, *AUTHOR_COLUMNS]
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
        #: The merged frame, with the sort keys that let appended rows be folded in.
        self._loaded: Loaded | None = None
        #: How many rows (valid or not) `read_csv` gave for the loaded log: where the
        #: positions of appended rows start.
        self._records = 0
        #: (where the last read ended, (offset, raw line) of the header, its width, time
        #: zone) when the next read may be of the appended records alone.
        self._resume: tuple[Any, tuple[int, bytes], int, tzinfo] | None = None
        self._annotations_sig: Any = None
        self._annotation_table: pd.DataFrame | None = None
        self._pending_pos: np.ndarray | None = None
        self._pending_owner: np.ndarray | None = None
        self._pending_created: np.ndarray | None = None
        self._resolved_key: Any = None
        self._resolved: pd.DataFrame | None = None
        self._id_index: pd.Index | None = None
        self._haystack: np.ndarray | None = None
        self._dead_owners: set[str] = set()
        #: Figures computed from one frame (`derived`), by key, and that frame.
        self._derived_frame: pd.DataFrame | None = None
        self._derived: dict[Hashable, Any] = {}

    def current(self) -> pd.DataFrame:
        """One row per generation (its latest state), newest first, annotations merged,
        dead writers' pending rows as interrupted; read again only if a file changed."""
        with self._lock:
            remerge = self._read_annotations() and self._loaded is not None
            history_sig = signature(self._history.path)
            changed = self._loaded is None or history_sig != self._history_sig
            if changed:
                if not self._fold_appended():
                    self._read_history()  # merged with the new annotations already
                    remerge = False
                self._history_sig = history_sig
            if remerge:
                assert self._loaded is not None
                # Merging replaces every annotation column, so the merged frame serves
                # as the frame to merge.
                self._loaded = replace(self._loaded, frame=self._merge(self._loaded.frame))
                self._haystack = None  # notes and tags are searched
            if changed or remerge:
                self._frame_changed()
            return self._resolve_interrupted()

    def _read_annotations(self) -> bool:
        """Read the annotations log again if it changed; whether it did."""
        annotations_sig = signature(self._annotations.path)
        if self._annotation_table is not None and annotations_sig == self._annotations_sig:
            return False
        report: dict[str, bool] = {}
        self._annotation_table = annotation_table(
            self._annotations.read_complete(), self._annotations.path, report)
        if report.get("complete"):
            self._annotations.learn_read()
        elif report.get("open"):
            self._annotations.repair_if_idle()
        self._annotations_sig = annotations_sig
        return True

    def _read_history(self) -> None:
        """Parse the whole history log."""
        data = self._history.read_complete()
        report: dict[str, bool] = {}
        if not data or NOT_BLANK.search(data) is None:  # no file, or only blanks
            data = encode(HISTORY_COLUMNS, [], header=True)
            report["blank"] = True
        raw = read_csv(data, self._history.path,
                       numeric=INT_COLUMNS + FLOAT_COLUMNS, report=report)
        tz = local_timezone()
        loaded = prepare(raw, self._history.path, self._price_per_second, tz)
        self._resume = None
        if report.get("complete") and not report.get("blank"):
            self._history.learn_read()  # the next append need not scan the log
            span = header_span(data) or (0, 0)
            header = data[span[0]: span[1]]
            if ("id" in raw and is_marked(header) and not loaded.nanoseconds
                    and self._history.last_read is not None):
                self._resume = (self._history.last_read, (span[0], header),
                                len(raw.columns), tz)
        elif report.get("open"):
            self._history.repair_if_idle()  # set a torn last row aside
        self._loaded = replace(loaded, frame=self._merge(loaded.frame))
        self._records = len(raw)
        self._haystack = None

    def _fold_appended(self) -> bool:
        """Parse only the records appended since the last read and fold them in (see
        `kling.history.appended`); False, with nothing changed, where that is not safe."""
        if self._resume is None or self._loaded is None:
            return False
        since, header, width, tz = self._resume
        if local_timezone() != tz:
            return False
        data = self._history.read_appended(since, header)
        if data is None:
            return False
        report: dict[str, bool] = {}
        raw = read_csv(as_log(header[1], width, data), self._history.path,
                       numeric=INT_COLUMNS + FLOAT_COLUMNS, report=report, clean_only=True)
        if not report.get("complete"):
            return False  # damaged: the whole log is read the careful way
        raw = appended_rows(raw)
        appended = prepare(raw, self._history.path, self._price_per_second, tz)
        if appended.nanoseconds:
            return False
        self._history.learn_read()
        self._resume = (self._history.last_read, header, width, tz)
        if len(appended.frame):
            frame = self._merge(appended.frame)
            new = Loaded(frame, appended.stamps, appended.positions + self._records)
            self._loaded, runs = fold(self._loaded, new)
            if self._haystack is not None:
                self._haystack = splice(self._haystack, _haystack(frame), runs)
        self._records += len(raw)
        return True

    def _merge(self, frame: pd.DataFrame) -> pd.DataFrame:
        assert self._annotation_table is not None
        return _order_columns(merge_annotations(frame, self._annotation_table,
                                                local_timezone()))

    def _frame_changed(self) -> None:
        """Note what the interrupted rows are decided from, in the new merged frame."""
        assert self._loaded is not None
        merged = self._loaded.frame
        pending = np.flatnonzero(merged["status"].to_numpy(dtype=object) == "pending")
        self._pending_pos = pending
        self._pending_owner = merged["owner"].to_numpy(dtype=object)[pending]
        created = merged["created_at"].iloc[pending]
        self._pending_created = (created.dt.tz_convert("UTC").dt.tz_localize(None)
                                 .to_numpy(dtype="datetime64[ns]")
                                 .astype("int64") / 1e9)
        self._resolved, self._resolved_key, self._id_index = None, None, None

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

    def searchable(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The current frame and its `search_haystack`, built once per change of text
        (appended rows are folded into it)."""
        with self._lock:
            frame = self.current()
            if self._haystack is None:
                self._haystack = _haystack(frame)
            return frame, self._haystack

    def derived(self, key: Hashable, compute: Callable[[pd.DataFrame], T]) -> T:
        """`compute(frame)` of the current frame, kept by `key` until the frame changes
        (the statistics of a day, the commitments of a month)."""
        with self._lock:
            frame = self.current()
            if self._derived_frame is not frame:
                self._derived_frame, self._derived = frame, {}
            if key not in self._derived:
                self._derived[key] = compute(frame)
            return self._derived[key]

    def _resolve_interrupted(self) -> pd.DataFrame:
        """The merged frame with dead writers' pending rows shown as interrupted."""
        assert self._loaded is not None and self._pending_pos is not None
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
            merged = self._loaded.frame
            if key:
                status = merged["status"].to_numpy(dtype=object).copy()
                status[list(key)] = "interrupted"
                resolved = merged.copy(deep=False)
                resolved["status"] = pd.Series(status, dtype=object)
            else:
                resolved = merged
            self._resolved, self._resolved_key = resolved, key
            self._id_index = None
        return self._resolved
