"""The delivery formats a spot is published in, and the size of each for a given source.

Full sizes are the platforms' recommended uploads. For a smaller source they are scaled
down proportionally so that the output's short side is never longer than the source's
short side: a 640x360 demo spot gives 640x360, 360x640, 360x450 and 360x360 (nothing is
blown up beyond what the source holds), a 1920x1088 Kling spot gives the full sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AssemblyError


@dataclass(frozen=True)
class DeliveryFormat:
    name: str
    #: Who shows it, for people ("TikTok, Instagram Reels, YouTube Shorts").
    platforms: tuple[str, ...]
    #: For file names.
    slug: str
    width: int
    height: int

    @property
    def label(self) -> str:
        return f"{self.name} ({', '.join(self.platforms)})"

    def size_for(self, source_width: int, source_height: int) -> tuple[int, int]:
        """(width, height) of this format for a source of that size (even numbers)."""
        scale = min(1.0, min(source_width, source_height) / min(self.width, self.height))
        return (2 * round(self.width * scale / 2), 2 * round(self.height * scale / 2))


FORMATS: dict[str, DeliveryFormat] = {f.name: f for f in (
    DeliveryFormat("16:9", ("YouTube",), "youtube", 1920, 1080),
    DeliveryFormat("9:16", ("TikTok", "Instagram Reels", "YouTube Shorts"),
                   "tiktok-reels-shorts", 1080, 1920),
    DeliveryFormat("4:5", ("Instagram feed", "Facebook feed"), "instagram-feed", 1080, 1350),
    DeliveryFormat("1:1", ("Instagram", "Facebook", "LinkedIn"), "square", 1080, 1080),
)}


def get_format(fmt: str | DeliveryFormat) -> DeliveryFormat:
    """The format named `fmt` ("9:16"), or `fmt` itself."""
    if isinstance(fmt, DeliveryFormat):
        return fmt
    try:
        return FORMATS[fmt]
    except KeyError:
        raise AssemblyError(f"There is no delivery format {fmt!r}: choose one of "
                            f"{', '.join(FORMATS)}.") from None
