"""A file's signature: enough to tell, with one `stat`, that it changed since last read.

`(inode, size, mtime_ns)`: an append changes the size and the time, a rename into place
changes the inode, so a reader may keep what it parsed while the signature holds.
"""

from __future__ import annotations

import os
from pathlib import Path

Signature = tuple[int, int, int]


def signature(path: Path) -> Signature | None:
    """The signature of the file at `path`; None if there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
