"""Where every frame of a spot comes from: the clips one after another, each overlapping
the next by the crossfade, then the end card.

Times are counted in output frames. Each transition's length is rounded so that the
*cumulative* overlap stays exact, so a spot lasts the sum of its clips minus its
crossfades to within one frame however many clips it has; the end card adds exactly its
own length (its fade-in overlaps the last clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..errors import AssemblyError
from .media import ClipInfo

MAX_CROSSFADE_SECONDS = 1.0
#: The fade into the end card: the crossfade, but never longer than this.
END_CARD_FADE_SECONDS = 0.5


@dataclass(frozen=True)
class Timeline:
    """`lengths[i]` frames of source i (clips, then the end card), overlapping source
    i + 1 by `fades[i]` frames."""

    rate: Fraction
    lengths: tuple[int, ...]
    fades: tuple[int, ...]

    @property
    def starts(self) -> tuple[int, ...]:
        """The output frame at which each source begins."""
        starts = [0]
        for length, fade in zip(self.lengths, self.fades):
            starts.append(starts[-1] + length - fade)
        return tuple(starts)

    @property
    def total(self) -> int:
        return self.starts[-1] + self.lengths[-1]

    def fade_in(self, index: int) -> int:
        return self.fades[index - 1] if index > 0 else 0

    def fade_out(self, index: int) -> int:
        return self.fades[index] if index < len(self.fades) else 0

    def shown(self, index: int) -> tuple[int, int]:
        """The output frames [first, end) during which source `index` is the one on
        screen: its span, each overlap split at its middle (where captions change)."""
        starts = self.starts

        def middle(i: int) -> int:
            return starts[i + 1] + (self.fades[i] + 1) // 2

        return (middle(index - 1) if index > 0 else 0,
                middle(index) if index < len(self.fades) else self.total)

    def spans(self) -> tuple[tuple[float, float], ...]:
        """(start, end) in seconds of each source, overlaps included."""
        rate = float(self.rate)
        return tuple((start / rate, (start + length) / rate)
                     for start, length in zip(self.starts, self.lengths))


def check_crossfade(crossfade: float) -> None:
    if not 0 <= crossfade <= MAX_CROSSFADE_SECONDS:
        raise AssemblyError(f"The crossfade is 0 to {MAX_CROSSFADE_SECONDS:g} second, "
                            f"not {crossfade:g}.")


def plan(clips: Sequence[ClipInfo], rate: Fraction, crossfade: float,
         card_seconds: float | None = None) -> Timeline:
    """The timeline of these clips at `rate`; AssemblyError if a clip is too short for
    its crossfades."""
    check_crossfade(crossfade)
    lengths = [clip.frames_at(rate) for clip in clips]
    fades = [round((i + 1) * crossfade * rate) - round(i * crossfade * rate)
             for i in range(len(clips) - 1)]
    if card_seconds is not None:
        card_fade = round(min(crossfade, END_CARD_FADE_SECONDS) * rate)
        lengths.append(round(card_seconds * rate) + card_fade)
        fades.append(card_fade)
    timeline = Timeline(rate, tuple(lengths), tuple(fades))
    for index, clip in enumerate(clips):
        if timeline.fade_in(index) + timeline.fade_out(index) > lengths[index]:
            raise AssemblyError(f"{clip.name} lasts {clip.duration:.1f} s: too short for "
                                f"a {crossfade:g} s crossfade at each end.")
    return timeline
