"""`templates.json`, the file that holds the team's templates, shared by every studio
process that uses the data directory; its last good copy; and its recovery when damaged.

Several studio processes may share one data directory: every change is a read-modify-write
under a `filelock.FileLock`, written to a temporary file that is fsynced and then renamed
over the library, so a reader never sees half a file and concurrent saves never lose each
other's templates. Reads reload the file whenever its stat signature changed.

Every save first writes the same content to `templates.json.bak` (atomically too), so the
last library the studio saved survives whatever later happens to `templates.json` (a sync
tool cutting it short, a hand edit). A file that cannot be read is *damaged*: reading goes
on with the built-ins alone (`damage()` says what is wrong), every change and a full export
refuse with `TemplateError` so the file is never written over, and the team recovers with
`restore_backup()` (the last good copy comes back) or `set_aside_damaged()` (a fresh,
empty library); both keep the damaged file, renamed `templates.damaged-<UTC time>.json`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import TemplateError
from .file_format import versions_from_json, versions_to_json
from .files import signature, write_atomically
from .records import Records
from .safe_json import Unreadable

FILE_NAME = "templates.json"
#: The last good copy, next to the library: `templates.json.bak`.
BACKUP_SUFFIX = ".bak"
#: A damaged library set aside becomes `templates.damaged-<UTC time>.json`.
DAMAGED_PREFIX = "templates.damaged-"


@dataclass(frozen=True)
class LibraryBackup:
    """The last good copy of the library: what the studio saved last."""

    path: Path
    #: The team's templates it holds.
    templates: int
    #: When it was written (UTC).
    saved_at: datetime


@dataclass(frozen=True)
class LibraryDamage:
    """Why the library file cannot be read, and what it can be recovered from."""

    path: Path
    #: A phrase that follows "The file": "is not valid JSON: ... at line 1, column 52".
    reason: str
    #: A newer Kling Studio wrote it: update this studio rather than set it aside.
    newer: bool
    #: The last good copy, when there is a readable one.
    backup: LibraryBackup | None


@dataclass(frozen=True)
class Recovery:
    """What `restore_backup` or `set_aside_damaged` did."""

    #: Where the damaged file is kept now.
    kept_as: Path
    #: Team templates brought back from the last good copy (0 when set aside).
    restored: int = 0


class LibraryFile:
    """The team's templates in `<data_dir>/templates.json`, safe to share between threads
    and between processes using the same data directory."""

    def __init__(self, data_dir: Path, *, lock_timeout: float) -> None:
        self.data_dir = data_dir
        self.path = data_dir / FILE_NAME
        #: The last good copy, rewritten before every save of the library.
        self.backup_path = data_dir / f"{FILE_NAME}{BACKUP_SUFFIX}"
        self._file_lock = FileLock(data_dir / f"{FILE_NAME}.lock", timeout=lock_timeout)
        self._mutex = threading.RLock()
        self._signature: tuple[int, ...] | None = None
        self._records: Records = {}
        self._problem: Unreadable | None = None
        self._backup_cache: tuple[tuple[int, ...], LibraryBackup | None] | None = None
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self, older_than_s: float = 3600) -> None:
        """Delete temporary files of saves whose process was killed before the rename."""
        cutoff = time.time() - older_than_s
        for temporary in self.data_dir.glob(f".{FILE_NAME}.*.tmp"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except OSError:  # another studio removed it first, or it is not ours to remove
                continue

    # -- reading ----------------------------------------------------------------------

    def read(self) -> tuple[Records, Unreadable | None]:
        """id -> versions (oldest first) of the team's templates, reloaded if the file
        changed; with why the file cannot be read, when it cannot (the records are then
        empty).

        The returned dict is shared with the cache: callers copy it before changing it.
        """
        with self._mutex:
            problem: Unreadable | None = None
            records: Records = {}
            try:
                with open(self.path, "rb") as stream:
                    found: tuple[int, ...] | None = signature(os.fstat(stream.fileno()))
                    if found == self._signature:
                        return self._records, self._problem
                    data = stream.read()
            except FileNotFoundError:
                found = ()
            except OSError as exc:  # not cached: a permission fixed is seen at once
                found = None
                problem = Unreadable(f"cannot be opened ({exc.strerror or exc})")
            else:
                try:
                    records = versions_from_json(data)
                except Unreadable as exc:
                    problem = exc
            self._signature, self._records, self._problem = found, records, problem
            return records, problem

    def readable(self, action: str | None = None) -> Records:
        """The records, or the `TemplateError` of what cannot be done while the file is
        damaged: `action` ("exported", ...) names what did not happen; None for a read."""
        records, problem = self.read()
        if problem is None:
            return records
        head = f"The template library {self.path} cannot be read: it {problem.phrase}."
        if problem.newer:
            way_out = "Update this studio to use it."
        elif action is None:
            way_out = ("The team's templates are unavailable until it is restored from its "
                       "last good copy or set aside (Templates page).")
        else:
            way_out = "Restore its last good copy or set it aside first (Templates page)."
        done = "" if action is None else f" Nothing was {action}."
        raise TemplateError(f"{head}{done} {way_out}")

    def damage(self) -> LibraryDamage | None:
        """What is wrong with the library file, or None when it reads (or does not exist)."""
        problem = self.read()[1]
        if problem is None:
            return None
        return LibraryDamage(path=self.path, reason=problem.phrase, newer=problem.newer,
                             backup=self._backup())

    def _backup(self) -> LibraryBackup | None:
        """The last good copy, if there is one and it reads; cached by its stat signature."""
        with self._mutex:
            try:
                with open(self.backup_path, "rb") as stream:
                    stat = os.fstat(stream.fileno())
                    found = signature(stat)
                    if self._backup_cache and self._backup_cache[0] == found:
                        return self._backup_cache[1]
                    data = stream.read()
            except OSError:
                return None
            try:
                backup: LibraryBackup | None = LibraryBackup(
                    self.backup_path, len(versions_from_json(data)),
                    datetime.fromtimestamp(stat.st_mtime, UTC))
            except Unreadable:
                backup = None
            self._backup_cache = (found, backup)
            return backup

    # -- changing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def editing(self) -> Iterator[Records]:
        """A private copy of the latest records; saved when the block ends normally and
        changed something.

        Holding the file lock from read to write is what keeps two processes that save at
        once from overwriting each other; an exception in the block saves nothing.
        """
        with self._locked():
            before = self.readable("saved")
            existed = bool(self._signature)
            records = dict(before)
            yield records
            if records == before:
                return
            data = versions_to_json(records)
            try:
                # The copy first: whatever later happens to the library file, the
                # last save survives in it.
                write_atomically(self.backup_path, data)
                try:
                    write_atomically(self.path, data)
                except OSError:
                    if existed:  # the copy must not hold a change that was not saved
                        with contextlib.suppress(OSError):
                            write_atomically(self.backup_path, versions_to_json(before))
                    raise
                saved = signature(os.stat(self.path))
            except OSError as exc:
                raise TemplateError(f"Could not save the template library to {self.path}: "
                                    f"{exc.strerror or exc}. Nothing was changed.") from exc
            # The lock is still held, so the file on disk is exactly what was written.
            self._signature, self._records, self._problem = saved, records, None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold this instance's mutex and the data directory's file lock."""
        with self._mutex:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._file_lock.acquire()
            except Timeout:
                raise TemplateError("Someone else is saving templates right now; try again "
                                    "in a moment.") from None
            except OSError as exc:
                raise TemplateError(f"Cannot write to {self.data_dir}: {exc.strerror}.") from None
            try:
                yield
            finally:
                self._file_lock.release()

    # -- recovering a damaged library -------------------------------------------------

    def _damaged_under_lock(self, action: str) -> bytes:
        """The damaged bytes, the damage checked again under the lock: another studio may
        have recovered the file meanwhile."""
        self._signature = None  # read the file itself, not the cache
        problem = self.read()[1]
        if problem is None:
            raise TemplateError(f"The template library can be read (another studio may have "
                                f"recovered it meanwhile); nothing was {action}.")
        if problem.newer:
            raise TemplateError(f"The template library {problem.phrase}: update this studio "
                                f"to use it. Nothing was {action}.")
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise TemplateError(f"Cannot read {self.path}: {exc.strerror or exc}. Nothing "
                                f"was {action}.") from None

    def _aside_path(self) -> Path:
        """A new `templates.damaged-<UTC time>[-n].json` (called under the lock)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        candidate = self.data_dir / f"{DAMAGED_PREFIX}{stamp}.json"
        number = 2
        while candidate.exists():
            candidate = self.data_dir / f"{DAMAGED_PREFIX}{stamp}-{number}.json"
            number += 1
        return candidate

    def set_aside_damaged(self) -> Recovery:
        """Rename the damaged library file to `templates.damaged-<UTC time>.json` (kept, in
        the data directory) so the team starts afresh with an empty library.

        The last good copy is left as it is until the next save replaces it. Raises
        `TemplateError` if the file reads (nothing to set aside), was written by a newer
        studio, or cannot be renamed; nothing changes then.
        """
        with self._locked():
            self._damaged_under_lock("moved")
            kept_as = self._aside_path()
            try:
                os.rename(self.path, kept_as)
            except OSError as exc:
                raise TemplateError(f"Could not rename {self.path}: {exc.strerror or exc}. "
                                    "Nothing was moved.") from None
            self._signature = None
        return Recovery(kept_as=kept_as)

    def restore_backup(self) -> Recovery:
        """Put the last good copy (`templates.json.bak`) back in place of the damaged
        library, keeping the damaged file as `templates.damaged-<UTC time>.json`.

        Raises `TemplateError` if the library reads, was written by a newer studio, or has
        no readable last good copy; nothing changes then.
        """
        with self._locked():
            damaged = self._damaged_under_lock("restored")
            try:
                data = self.backup_path.read_bytes()
            except FileNotFoundError:
                raise TemplateError("There is no last good copy to restore: set the damaged "
                                    "file aside to start afresh.") from None
            except OSError as exc:
                raise TemplateError(f"The last good copy cannot be read ({exc.strerror or exc});"
                                    " nothing was restored.") from None
            try:
                restored = len(versions_from_json(data))
            except Unreadable as exc:
                raise TemplateError(f"The last good copy cannot be read either: it "
                                    f"{exc.phrase}. Nothing was restored; set the damaged "
                                    "file aside to start afresh.") from None
            kept_as = self._aside_path()
            try:
                # A copy first, then the restore: at no moment is either file lost.
                write_atomically(kept_as, damaged)
                write_atomically(self.path, data)
            except OSError as exc:
                raise TemplateError(f"Could not restore the template library: "
                                    f"{exc.strerror or exc}.") from None
            self._signature = None
        return Recovery(kept_as=kept_as, restored=restored)
