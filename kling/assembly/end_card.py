"""The end card: a still closing card with the title, an optional tagline and logo.

`EndCard` is what the person chooses; `end_card_image` draws it at the output's size:
logo, title and tagline stacked and centred on a deep, slightly graded background, sized
from the frame's short side so it looks the same in every aspect ratio.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, UnidentifiedImageError

from ..errors import AssemblyError
from .text import font, wrap

END_CARD_MIN_SECONDS, END_CARD_MAX_SECONDS = 1.0, 3.0
_LOGO_FORMATS = ("PNG", "JPEG")
_TOP, _BOTTOM = (24, 27, 38), (8, 9, 14)
_TITLE_INK, _TAGLINE_INK = (255, 255, 255), (196, 202, 214)
#: Sizes as fractions of the frame's short side.
_TITLE_SIZE, _TAGLINE_SIZE = 0.085, 0.045
#: The logo's box as fractions of the frame's width and height.
_LOGO_BOX = (0.45, 0.26)
_SIDE_MARGIN = 0.1
#: Space between logo, title and tagline, as a fraction of the short side.
_GAP = 0.05


@dataclass(frozen=True)
class EndCard:
    """What the end card says; `logo` is the path or the bytes of a PNG or JPEG."""

    title: str
    tagline: str | None = None
    logo: str | os.PathLike[str] | bytes | None = None
    seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise AssemblyError("The end card needs a title.")
        if not END_CARD_MIN_SECONDS <= self.seconds <= END_CARD_MAX_SECONDS:
            raise AssemblyError(
                f"The end card lasts {END_CARD_MIN_SECONDS:g} to {END_CARD_MAX_SECONDS:g} "
                f"seconds, not {self.seconds:g}.")

    def logo_image(self) -> Image.Image | None:
        """The logo as RGBA; AssemblyError if it is not a PNG or JPEG."""
        if self.logo is None:
            return None
        source = io.BytesIO(self.logo) if isinstance(self.logo, bytes) else Path(self.logo)
        try:
            with Image.open(source) as image:
                if image.format not in _LOGO_FORMATS:
                    raise AssemblyError("The logo cannot be used: it is not a PNG or JPEG "
                                        "image.")
                return image.convert("RGBA")
        except (OSError, UnidentifiedImageError) as exc:
            raise AssemblyError("The logo cannot be used: it is not a PNG or JPEG "
                                "image.") from exc


def _background(width: int, height: int) -> Image.Image:
    column = Image.linear_gradient("L").resize((1, height))
    top, bottom = Image.new("RGB", (1, height), _TOP), Image.new("RGB", (1, height), _BOTTOM)
    return Image.composite(bottom, top, column).resize((width, height))


def _text_block(text: str, size: int, width: float, max_lines: int,
                ink: tuple[int, int, int]) -> Image.Image:
    """Centred lines of text as a transparent picture `width` wide at most."""
    face = font(size)
    lines = wrap(text, face, width, max_lines)
    ascent, descent = face.getmetrics()
    line_height = round((ascent + descent) * 1.15)
    block = Image.new("RGBA", (round(width), line_height * len(lines)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(block)
    for row, line in enumerate(lines):
        draw.text(((block.width - face.getlength(line)) / 2, row * line_height), line,
                  font=face, fill=ink)
    return block


def end_card_image(card: EndCard, width: int, height: int) -> Image.Image:
    """The card drawn at `width` x `height`, as RGB."""
    short = min(width, height)
    room = width * (1 - 2 * _SIDE_MARGIN)
    pieces: list[Image.Image] = []
    logo = card.logo_image()
    if logo is not None:
        scale = min(_LOGO_BOX[0] * width / logo.width, _LOGO_BOX[1] * height / logo.height)
        size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
        pieces.append(logo.resize(size, Image.LANCZOS))
    pieces.append(_text_block(card.title, round(short * _TITLE_SIZE), room, 2, _TITLE_INK))
    if card.tagline and card.tagline.strip():
        pieces.append(_text_block(card.tagline, round(short * _TAGLINE_SIZE), room, 3,
                                  _TAGLINE_INK))
    gap = round(short * _GAP)
    image = _background(width, height)
    y = (height - sum(p.height for p in pieces) - gap * (len(pieces) - 1)) // 2
    for piece in pieces:
        image.paste(piece, ((width - piece.width) // 2, y), piece)
        y += piece.height + gap
    return image
