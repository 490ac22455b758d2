"""Where each platform covers the picture with its own buttons, captions and bars, and a
preview that shows those areas over a frame of the spot.

Zones are rectangles in fractions of the frame (x, y, width, height from the top-left),
drawn from the platforms' published creative guides and rounded outward, so that
anything kept outside them stays visible: for 9:16 they are the union of TikTok, Reels
and Shorts (a top bar, the right-hand button column, the caption and sound area at the
bottom).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from .formats import DeliveryFormat, get_format
from .text import font


@dataclass(frozen=True)
class SafeZone:
    """A part of the frame a platform covers."""

    label: str
    x: float
    y: float
    width: float
    height: float

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels of a frame of that size."""
        return (round(self.x * width), round(self.y * height),
                round((self.x + self.width) * width), round((self.y + self.height) * height))


SAFE_ZONES: dict[str, tuple[SafeZone, ...]] = {
    "16:9": (
        SafeZone("YouTube: title and channel", 0.0, 0.0, 1.0, 0.10),
        SafeZone("YouTube: progress bar and controls", 0.0, 0.88, 1.0, 0.12),
    ),
    "9:16": (
        SafeZone("Top bar: tabs, search, live", 0.0, 0.0, 1.0, 0.10),
        SafeZone("Buttons: like, comment, share", 0.86, 0.30, 0.14, 0.50),
        SafeZone("Name, caption, sound", 0.0, 0.74, 1.0, 0.26),
    ),
    "4:5": (
        SafeZone("Profile grid crop (3:4)", 0.0, 0.0, 0.0625, 1.0),
        SafeZone("Profile grid crop (3:4)", 0.9375, 0.0, 0.0625, 1.0),
        SafeZone("Tags and sound icons", 0.0, 0.90, 0.20, 0.10),
    ),
    "1:1": (
        SafeZone("Profile grid crop (3:4)", 0.0, 0.0, 0.125, 1.0),
        SafeZone("Profile grid crop (3:4)", 0.875, 0.0, 0.125, 1.0),
        SafeZone("Tags and sound icons", 0.0, 0.90, 0.20, 0.10),
    ),
}

_FILL = (255, 64, 64, 80)
_EDGE = (255, 96, 96, 200)
_INK = (255, 255, 255, 230)
#: Label text height as a fraction of the frame's short side.
_LABEL_SIZE = 0.028


def safe_zones(fmt: str | DeliveryFormat) -> tuple[SafeZone, ...]:
    return SAFE_ZONES[get_format(fmt).name]


def _label(text: str, size: int) -> Image.Image:
    face = font(size)
    left, top, right, bottom = face.getbbox(text)
    image = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, font=face, fill=_INK)
    return image


def preview_with_safe_zones(frame: Image.Image, fmt: str | DeliveryFormat) -> Image.Image:
    """`frame` (RGB) with the format's safe zones drawn over it, semi-transparently and
    labelled where the label fits (once per kind, upright along a narrow zone), for a
    preview on the page."""
    base = frame.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(10, round(min(base.size) * _LABEL_SIZE))
    labelled: set[str] = set()
    for zone in safe_zones(fmt):
        left, top, right, bottom = zone.box(*base.size)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=_FILL, outline=_EDGE,
                       width=max(1, min(base.size) // 300))
        if zone.label in labelled:
            continue
        labelled.add(zone.label)
        label = _label(zone.label, size)
        if label.width > right - left:
            label = label.rotate(90, expand=True)
        if label.width <= right - left and label.height <= bottom - top:
            layer.alpha_composite(label, (left, top))
    return Image.alpha_composite(base, layer).convert("RGB")
