"""Replacing a file whole: readers see the old file or the new one, never a mix.

The new content goes to a temporary file beside the target (same file system, so the
rename is atomic), is fsync'd, renamed over the target with `os.replace`, and then the
directory is fsync'd too: only then does the rename itself survive a power cut. A failure
at any point removes the temporary file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(directory: Path) -> None:
    """Make a file created, renamed or removed in `directory` durable (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path, *, prefix: str | None = None, suffix: str = ".tmp",
              mode: int | None = None, encoding: str | None = None,
              errors: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """A stream for the new content of `path`, renamed into place when the block ends.

    The temporary file is `<prefix><8 hex digits><suffix>` in the same directory (prefix
    `.<name>.` by default), so a store can recognise and sweep the leftovers of a process
    killed mid-write. It is created with the usual permissions (umask applies) unless
    `mode` is given. With `encoding` the stream is text, else binary.
    """
    directory = path.parent
    start = f".{path.name}." if prefix is None else prefix
    temporary = directory / f"{start}{uuid.uuid4().hex[:8]}{suffix}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        stream = os.fdopen(fd, "w" if encoding else "wb", encoding=encoding, errors=errors,
                           newline=newline)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    try:
        with stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_dir(directory)
