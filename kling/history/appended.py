"""Records appended to the log, folded into the frame already loaded instead of a new parse.

* **Only what was appended.** While jobs run the log grows every second or two, and a
  full parse of 100,000 rows costs most of a second. When the file is the one last read,
  only grown by whole records (`LogFile.read_appended` says so: same inode, larger, the
  same header and the same 4 KiB before the end of the last read), the appended records
  are parsed alone, behind the file's own header line (so the same reader, `read_csv`,
  handles quoting, NUL and the pandas fast path; `as_log`), typed and merged with the
  annotations alone, and folded in here.
* **Identical to a full parse.** Every step of a load after choosing each id's last valid
  row is row by row (types, the cost estimate, the annotations), so the appended rows
  come out as a full parse would type them. What depends on other rows is redone here
  with the same rule: a newer row of an id replaces the older one (the last row is the
  state), and the order is `prepare`'s: newest `created_at` first, among equal times the
  row written last first, unknown times last. That needs each row's creation time and
  its record's position in the log, which `Loaded` keeps beside the frame.
* **Anything unusual is a full parse.** The caller parses the whole log again whenever
  the fold would have to guess: another file, a file rewritten, shrunk or migrated, an
  escaped (earlier) log, a tail torn, damaged or with a row to skip (anything pandas
  does not read cleanly in one go), a last full read that pandas could not read in one
  go (where a damaged record ends may depend on what follows it), times that needed
  nanoseconds (`Loaded`), or another time zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def as_log(header: bytes, width: int, records: bytes) -> bytes:
    """Appended `records` as a log that `read_csv` reads as it reads them in the whole
    file: `header` (the file's, of `width` cells), one record of blank cells, the records.

    The blank record is there because pandas lets the first record after a header have
    more cells than the header (it keeps that record cut short, and then every record as
    wide), where a record in the middle of a file with more cells is skipped. With it,
    every appended record is read as in the middle of the file. `appended_rows` drops it.
    """
    return header + b'""' + b"," * (width - 1) + b"\r\n" + records


def appended_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The rows `read_csv` read from `as_log(...)`: without the blank record."""
    return raw.iloc[1:].reset_index(drop=True)


@dataclass(frozen=True)
class Loaded:
    """A loaded frame (one row per id, newest first) and each row's sort keys:
    `stamps`, its `created_at` as int64 nanoseconds (NaT as the smallest), and
    `positions`, where its record is among the log's records.

    `nanoseconds`: a time column needed them. pandas then reads every time of that
    column at that resolution, and one past 2262 as unknown, so rows read apart could
    differ from rows read together: such a frame is never folded into or from.
    """

    frame: pd.DataFrame
    stamps: np.ndarray
    positions: np.ndarray
    nanoseconds: bool = False


def fold(old: Loaded, new: Loaded) -> tuple[Loaded, list[tuple[bool, int, int]]]:
    """`old` with the rows of `new` (read from records after all of `old`'s) folded in,
    and the runs it was spliced from (`splice` folds values kept beside the frame)."""
    n, k = len(old.frame), len(new.frame)
    replaced = old.frame["id"].isin(new.frame["id"]).to_numpy(dtype=bool)
    kept = np.concatenate((np.flatnonzero(~replaced), np.arange(n, n + k)))
    stamps = np.concatenate((old.stamps, new.stamps))[kept]
    positions = np.concatenate((old.positions, new.positions))[kept]
    # `prepare`'s order: by time, then by position, both descending.
    rank = np.lexsort((positions, stamps))[::-1]
    runs = _runs(kept[rank], n)
    # Slices joined by pd.concat keep one array per column, as `prepare` builds them,
    # and copy each old row once: cheaper than reordering every column.
    frame = pd.concat([(new if is_new else old).frame.iloc[start:stop]
                       for is_new, start, stop in runs], ignore_index=True)
    return Loaded(frame, stamps[rank], positions[rank]), runs


def splice(old: np.ndarray, new: np.ndarray, runs: list[tuple[bool, int, int]]
           ) -> np.ndarray:
    """Values kept row by row beside `old`'s frame (a search haystack, say) for the frame
    `fold` made, given those of `new`'s rows and the runs it returned."""
    return np.concatenate([(new if is_new else old)[start:stop]
                           for is_new, start, stop in runs])


def _runs(order: np.ndarray, n: int) -> list[tuple[bool, int, int]]:
    """`order` (positions in `old`'s rows followed by `new`'s) as runs of consecutive
    rows of one side: (from `new`, start, stop)."""
    breaks = np.flatnonzero((np.diff(order) != 1) | (order[1:] == n)) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(order)]))
    runs = []
    for start, stop in zip(starts.tolist(), stops.tolist()):
        first = int(order[start])
        is_new = first >= n
        offset = first - n if is_new else first
        runs.append((is_new, offset, offset + stop - start))
    return runs
