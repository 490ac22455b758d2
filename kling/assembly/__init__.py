"""Video assembly: clips into spots, spots into delivery formats. Plain Python on PyAV
(FFmpeg inside; no system ffmpeg), numpy and Pillow.

    assemble(clips, out, crossfade=0.5, captions=[...], end_card=EndCard(...), music=...)
    reframe(spot, out, "9:16", mode="crop" | "blur", focus=(x, y))
    deliver(spot, out_dir, campaign, {"9:16": ("crop", (0.5, 0.5)), ...}); zip_deliverables(paths)
    write_recipe(src, dst, recipe); read_recipe(path)
    preview_with_safe_zones(frame_at(path, t), "9:16")

Every output is H.264 yuv420p MP4 with its index first, written to a temporary file and
renamed, so no half-written file is ever seen. Every failure is an `AssemblyError`.
"""

from .assemble import AssemblyResult, assemble
from .decode import frame_at
from .deliverables import deliver, deliverable_name, zip_deliverables
from .end_card import EndCard
from ..errors import AssemblyError
from .formats import FORMATS, DeliveryFormat, get_format
from .recipe import RECIPE_FIELDS, read_recipe, write_recipe
from .reframe import MODES, reframe
from .safe_zones import SAFE_ZONES, SafeZone, preview_with_safe_zones, safe_zones

__all__ = [
    "FORMATS", "MODES", "RECIPE_FIELDS", "SAFE_ZONES", "AssemblyError", "AssemblyResult",
    "DeliveryFormat", "EndCard", "SafeZone", "assemble", "deliver", "deliverable_name",
    "frame_at", "get_format", "preview_with_safe_zones", "read_recipe", "reframe",
    "safe_zones", "write_recipe", "zip_deliverables",
]
