"""Output files: an MP4 appears whole or not at all, with its index (moov) first.

Every file the assembly writes goes through `atomic_output` (a hidden temporary file in
the destination's folder, renamed over the destination only once it is complete) and is
opened with `open_mp4` (the MP4 muxer with `movflags=+faststart`, so a browser can start
playing before the whole file has arrived).
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import av
from av.container import OutputContainer

from ..errors import AssemblyError

#: Where the recipe (and any other container-level text) is kept in an MP4.
RECIPE_TAG = "comment"


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on any error
    it is removed and `path` is left as it was. A failure to write (a full disk, say)
    becomes an AssemblyError naming the file."""
    final = Path(path)
    if not final.parent.is_dir():
        raise AssemblyError(f"The folder {final.parent} does not exist.")
    # A fresh name rather than mkstemp's file, so the output gets the usual permissions.
    temporary = final.parent / f".{final.stem}-{uuid.uuid4().hex[:12]}.part{final.suffix}"
    try:
        yield temporary
        os.replace(temporary, final)
    except (OSError, av.FFmpegError) as exc:
        raise AssemblyError(f"{final.name} could not be written: "
                            f"{getattr(exc, 'strerror', None) or exc}.") from exc
    finally:
        temporary.unlink(missing_ok=True)


def open_mp4(path: Path) -> OutputContainer:
    """An MP4 output container whose index is moved to the front when it is closed."""
    # The format is named because the temporary file's suffix does not say it; the
    # faststart pass reopens the file by name, which is why outputs are real files.
    return av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
