"""The one error of video assembly, reframing and delivery: `AssemblyError`.

Its message names the file at fault in words a marketing person understands
("Clip 3 cannot be read: it is not a video file."); nothing else is needed to act on it.
"""

from __future__ import annotations

from ..errors import KlingError


class AssemblyError(KlingError):
    """A spot, a deliverable or a recipe could not be made or read from these inputs."""

    kind = "assembly"
    default_message = "The video could not be put together."
    # The message always says which file is at fault and why; a generic hint adds nothing.
    default_hint = ""
