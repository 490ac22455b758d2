"""Text for pictures: the studio's font at a size, text reduced to the glyphs it has, and
word wrapping to a pixel width.

Pillow's bundled scalable font is used, so captions and end cards look the same on every
machine without any font installed. It covers basic Latin only: other letters are
shown without their accents (é as e) and a few signs are spelled out (— as -, € as EUR)
rather than drawn as empty boxes.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from PIL import ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
ELLIPSIS = "…"


_SPELLED = {"—": "-", "–": "-", "‐": "-", "−": "-", "€": "EUR", "£": "GBP", "ß": "ss",
            "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
            "Ł": "L", "•": "·", "®": "(R)", "\u00a0": " "}
_PROBE_SIZE = 24


def font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1)
def _missing_glyph() -> bytes:
    return bytes(font(_PROBE_SIZE).getmask("\U0010fff0"))


@lru_cache(maxsize=4096)
def _has_glyph(char: str) -> bool:
    return char.isspace() or bytes(font(_PROBE_SIZE).getmask(char)) != _missing_glyph()


def _shown(char: str) -> str:
    if _has_glyph(char):
        return char
    if char in _SPELLED:
        return _SPELLED[char]
    bare = "".join(c for c in unicodedata.normalize("NFKD", char)
                   if not unicodedata.combining(c))
    return bare if bare and all(_has_glyph(c) for c in bare) else "?"


def printable(text: str) -> str:
    """`text` with every character the font cannot draw replaced by its nearest it can."""
    return "".join(_shown(char) for char in text)


def wrap(text: str, face: Font, width: float, max_lines: int) -> list[str]:
    """`text` as lines ready to draw: made `printable`, no wider than `width` pixels
    (greedily; a word too wide for a line is broken), and text beyond `max_lines` ends the
    last line with an ellipsis."""

    def fits(candidate: str) -> bool:
        return face.getlength(candidate) <= width

    lines: list[str] = []
    current = ""
    words = printable(text).split()[::-1]
    while words and len(lines) < max_lines:
        word = words.pop()
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
            words.append(word)
            continue
        cut = next((n for n in range(len(word) - 1, 0, -1) if fits(word[:n])), 1)
        lines.append(word[:cut])
        words.append(word[cut:])
    if current and len(lines) < max_lines:
        lines.append(current)
    elif current:
        words.append(current)
    if words:
        last = lines[-1]
        while last and not fits(f"{last} {ELLIPSIS}"):
            last = last[:-1]
        lines[-1] = f"{last.rstrip()} {ELLIPSIS}".strip()
    return lines
