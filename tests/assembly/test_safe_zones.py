"""Safe zones per platform, drawn over a frame for the preview; stills from a video."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kling.assembly import (FORMATS, SAFE_ZONES, AssemblyError, frame_at,
                            preview_with_safe_zones, safe_zones)


def test_every_format_has_zones_inside_the_frame():
    assert set(SAFE_ZONES) == set(FORMATS)
    for zones in SAFE_ZONES.values():
        assert zones
        for zone in zones:
            assert 0 <= zone.x and 0 <= zone.y and zone.width > 0 and zone.height > 0
            assert zone.x + zone.width <= 1 and zone.y + zone.height <= 1


def test_nine_sixteen_covers_the_top_the_right_buttons_and_the_bottom():
    labels = " ".join(z.label for z in safe_zones("9:16")).lower()
    assert "top" in labels and "buttons" in labels and "caption" in labels
    right = [z for z in safe_zones("9:16") if z.x > 0.5]
    assert right and all(z.x + z.width == pytest.approx(1) for z in right)


@pytest.mark.parametrize("name", list(FORMATS))
def test_the_preview_tints_the_zones_and_leaves_the_rest(name):
    fmt = FORMATS[name]
    size = fmt.size_for(360, 360)
    frame = Image.new("RGB", size, (40, 80, 120))
    preview = np.asarray(preview_with_safe_zones(frame, name), dtype=np.int16)
    assert preview.shape[:2] == (size[1], size[0])
    covered = np.zeros(preview.shape[:2], dtype=bool)
    for zone in safe_zones(name):
        left, top, right, bottom = zone.box(*size)
        covered[top:bottom, left:right] = True
    changed = np.abs(preview - np.array([40, 80, 120])).max(axis=2) > 0
    assert changed[covered].mean() > 0.95
    assert not changed[~covered].any()


def test_frame_at_gives_the_picture_at_a_time(media):
    image = frame_at(media.halves, 0.25)
    assert image.size == (320, 180) and image.mode == "RGB"
    assert frame_at(media.halves, 99).size == (320, 180)  # past the end: the last frame
    with pytest.raises(AssemblyError, match="The video cannot be read"):
        frame_at(media.text_file, 0)
