"""The timeline's arithmetic: lengths add up within a frame, caption windows tile it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from kling.assembly import AssemblyError
from kling.assembly.media import ClipInfo
from kling.assembly.picture import BT601
from kling.assembly.timeline import plan


def clip(seconds: float, number: int = 1) -> ClipInfo:
    return ClipInfo(Path("clip.mp4"), f"Clip {number}", 640, 360, Fraction(24), seconds,
                    BT601, ())


@pytest.mark.parametrize("crossfade", [0, 0.1, 0.3, 0.45, 0.5, 0.77, 1.0])
@pytest.mark.parametrize("count", [2, 5, 8])
def test_length_is_the_clips_minus_the_crossfades_within_a_frame(crossfade, count):
    timeline = plan([clip(5.0)] * count, Fraction(24), crossfade, card_seconds=2.0)
    expected = 5.0 * count - crossfade * (count - 1) + 2.0
    assert abs(timeline.total / 24 - expected) <= 1 / 24
    windows = [timeline.shown(i) for i in range(count + 1)]
    assert windows[0][0] == 0 and windows[-1][1] == timeline.total
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))


def test_a_clip_too_short_for_its_crossfades_is_named():
    with pytest.raises(AssemblyError, match="Clip 2 lasts 0.8 s"):
        plan([clip(5.0, 1), clip(0.8, 2), clip(5.0, 3)], Fraction(24), 0.5)
