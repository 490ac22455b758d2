"""Captions burned in as clean lower-third text.

White text with a soft shadow on a rounded, translucent dark box, centred, wrapped to the
frame's width inside safe margins (`CAPTION_MARGIN` of the frame from the bottom and from
each side), sized from the frame's short side so a caption reads the same in 16:9 and
9:16. A caption is drawn once per clip with Pillow and blended onto each frame.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter

from .picture import ColourSpace, Overlay
from .text import font, wrap

#: Distance kept free from the bottom edge (fraction of the height) and from each side
#: (fraction of the width): outside the areas players and feeds cover.
CAPTION_MARGIN = 0.08
#: Text height as a fraction of the frame's short side.
CAPTION_TEXT_SIZE = 0.05
CAPTION_MAX_LINES = 3
_MIN_TEXT_PX = 12
_BOX_FILL = (0, 0, 0, 150)
_SHADOW = (0, 0, 0, 200)
_INK = (255, 255, 255, 255)


def _even(value: float) -> int:
    return 2 * int(round(value / 2))


def caption_image(text: str, width: int, height: int) -> tuple[Image.Image, int, int] | None:
    """The caption as an RGBA picture and its even top-left corner in a `width` x
    `height` frame; None for a blank caption."""
    words = " ".join(text.split())
    if not words:
        return None
    size = max(_MIN_TEXT_PX, round(min(width, height) * CAPTION_TEXT_SIZE))
    face = font(size)
    pad_x, pad_y, line_gap = size * 0.6, size * 0.35, size * 0.25
    room = width * (1 - 2 * CAPTION_MARGIN)
    lines = wrap(words, face, room - 2 * pad_x, CAPTION_MAX_LINES)
    ascent, descent = face.getmetrics()
    line_height = ascent + descent
    text_width = max(face.getlength(line) for line in lines)
    box_w = _even(min(room, text_width + 2 * pad_x))
    box_h = _even(len(lines) * line_height + (len(lines) - 1) * line_gap + 2 * pad_y)

    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    ImageDraw.Draw(image).rounded_rectangle((0, 0, box_w - 1, box_h - 1),
                                            radius=round(size * 0.35), fill=_BOX_FILL)
    shadow = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ink = Image.new("RGBA", image.size, (0, 0, 0, 0))
    offset = max(1, round(size / 16))
    for row, line in enumerate(lines):
        x = (box_w - face.getlength(line)) / 2
        y = pad_y + row * (line_height + line_gap)
        ImageDraw.Draw(shadow).text((x + offset, y + offset), line, font=face, fill=_SHADOW)
        ImageDraw.Draw(ink).text((x, y), line, font=face, fill=_INK)
    image = Image.alpha_composite(image, shadow.filter(ImageFilter.GaussianBlur(offset)))
    image = Image.alpha_composite(image, ink)
    x = _even((width - box_w) / 2)
    y = _even(height * (1 - CAPTION_MARGIN) - box_h)
    return image, x, y


def caption_overlay(text: str | None, width: int, height: int,
                    space: ColourSpace) -> Overlay | None:
    """The caption ready to blend onto frames of this size; None for no caption."""
    drawn = caption_image(text or "", width, height)
    if drawn is None:
        return None
    image, x, y = drawn
    return Overlay.from_image(image, x, y, space)
