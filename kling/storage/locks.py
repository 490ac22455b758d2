"""The lock every writer of a shared file holds: a thread lock and a file lock together.

A `filelock.FileLock` serialises processes, but threads of one process that each hold
their own `FileLock` object on the same path would not wait for one another (two stores
opened on one data directory, say), so a thread lock is taken first, then the file lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock


class LockTimeout(Exception):
    """The lock stayed taken for longer than the timeout.

    `by_process`: another process held the file lock (else a thread of this process
    held the thread lock).
    """

    def __init__(self, by_process: bool) -> None:
        super().__init__(f"held by another {'process' if by_process else 'thread'}")
        self.by_process = by_process


class LockPair:
    """A thread lock and a file lock (at `path`) taken together: threads, then processes."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._timeout = timeout
        self._thread = threading.Lock()
        self._file = filelock.FileLock(str(path), timeout=timeout)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Both locks, waiting up to the timeout for each; `LockTimeout` if it runs out."""
        if not self._thread.acquire(timeout=self._timeout):
            raise LockTimeout(by_process=False)
        try:
            try:
                self._file.acquire()
            except filelock.Timeout:
                raise LockTimeout(by_process=True) from None
            try:
                yield
            finally:
                self._file.release()
        finally:
            self._thread.release()

    @contextmanager
    def try_hold(self) -> Iterator[bool]:
        """Take both locks only if free right now; yields whether they were taken."""
        if not self._thread.acquire(blocking=False):
            yield False
            return
        try:
            try:
                self._file.acquire(timeout=0)
            except filelock.Timeout:
                yield False
                return
            try:
                yield True
            finally:
                self._file.release()
        finally:
            self._thread.release()
