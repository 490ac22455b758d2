"""Where the simulator keeps its videos: one file per set of inputs, rendered once.

A video's name is a hash of what it was rendered from, so the same prompt, seed,
duration and ratio always give the same URL and a directory shared between simulators
(the tests' render cache) renders each clip once. Only names of that form are ever
served, so no other file of the directory, or outside it, can be reached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..render import RENDER_VERSION, render_to_file

__all__ = ["VideoShelf", "video_name"]

_FILE_NAME = re.compile(r"[0-9a-f]{32}\.mp4")


def video_name(prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
    """File name (without `.mp4`) of the render of these inputs: 32 hex digits."""
    key = json.dumps([RENDER_VERSION, prompt, seed, str(duration), aspect_ratio])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class VideoShelf:
    """The directory of rendered videos; None makes a temporary one that `remove()`
    deletes (a given directory is kept)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._own = directory is None
        self.directory = (Path(tempfile.mkdtemp(prefix="kling-sim-videos-")) if self._own
                          else Path(directory))
        self.directory.mkdir(parents=True, exist_ok=True)

    def render(self, prompt: str, seed: int, duration: str, aspect_ratio: str) -> str:
        """Render into the directory unless already there; return the video name."""
        name = video_name(prompt, seed, duration, aspect_ratio)
        target = self.directory / f"{name}.mp4"
        if not target.exists():
            # Render under a unique name and move it into place in one step, so that a
            # concurrent identical request never sees, or serves, a half-written file.
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}-",
                                            suffix=".part")
            os.close(handle)
            try:
                render_to_file(temp, prompt, seed, duration, aspect_ratio)
                os.replace(temp, target)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        return name

    def find(self, file_name: str) -> Path | None:
        """The file `file_name` (`<name>.mp4`) if it is a finished video of this shelf."""
        if not _FILE_NAME.fullmatch(file_name):
            return None
        path = self.directory / file_name
        return path if path.is_file() else None

    def remove(self) -> None:
        """Delete a temporary directory with its videos; a given one stays."""
        if self._own:
            shutil.rmtree(self.directory, ignore_errors=True)
