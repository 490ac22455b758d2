"""Reframing for the delivery formats: sizes, a crop that follows its focus, a blurred
fill, audio and recipe copied through."""

from __future__ import annotations

import numpy as np
import pytest

from kling.assembly import (FORMATS, AssemblyError, assemble, frame_at, get_format,
                            read_recipe, reframe)
from kling.assembly.reframe import crop_window

from .support import audio_packets, decoded_video, rgb, stream_types, top_level_boxes

RED, BLUE = np.array([220, 30, 30]), np.array([30, 30, 220])


@pytest.mark.parametrize(("source", "sizes"), [
    ((1920, 1088), {"16:9": (1920, 1080), "9:16": (1080, 1920), "4:5": (1080, 1350),
                    "1:1": (1080, 1080)}),
    ((640, 360), {"16:9": (640, 360), "9:16": (360, 640), "4:5": (360, 450),
                  "1:1": (360, 360)}),
])
def test_format_sizes_never_exceed_the_sources_short_side(source, sizes):
    assert {name: fmt.size_for(*source) for name, fmt in FORMATS.items()} == sizes


def test_an_unknown_format_is_a_plain_error():
    with pytest.raises(AssemblyError, match="no delivery format '3:2'"):
        get_format("3:2")


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("mode", ["crop", "blur"])
def test_each_format_has_its_size(media, tmp_path, name, mode):
    out = reframe(media.clips[0], tmp_path / "out.mp4", name, mode=mode)
    count, _, size = decoded_video(out)
    assert size == FORMATS[name].size_for(320, 180) and count == 24
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")


def colour_of(image) -> np.ndarray:
    """The median colour of the picture's middle row."""
    pixels = rgb(image)
    return np.median(pixels[pixels.shape[0] // 2], axis=0)


def test_the_crop_follows_its_focus(media, tmp_path):
    left = reframe(media.halves, tmp_path / "left.mp4", "9:16", focus=(0.0, 0.5))
    right = reframe(media.halves, tmp_path / "right.mp4", "9:16", focus=(1.0, 0.5))
    assert np.abs(colour_of(frame_at(left, 0.2)) - RED).max() < 20
    assert np.abs(colour_of(frame_at(right, 0.2)) - BLUE).max() < 20
    centre = rgb(frame_at(reframe(media.halves, tmp_path / "centre.mp4", "9:16"), 0.2))
    row = centre[centre.shape[0] // 2]
    assert row[5, 0] > 150 and row[-5, 2] > 150  # centred: red on the left, blue on the right


def test_crop_windows_stay_inside_the_picture():
    for focus in [(0, 0), (1, 1), (0.5, 0.5), (-3, 7)]:
        window = crop_window(1920, 1088, 1080, 1920, focus)
        assert 0 <= window.x <= 1920 - window.width and window.height == 1088


def test_blur_fits_the_whole_picture_over_a_dark_blurred_copy(media, tmp_path):
    out = reframe(media.halves, tmp_path / "blur.mp4", "9:16", mode="blur")
    picture = rgb(frame_at(out, 0.2))
    height = picture.shape[0]
    middle = picture[height // 2]
    # The whole width of the source is there: red on the left, blue on the right.
    assert middle[5, 0] > 150 and middle[-5, 2] > 150
    # Above it, a darker copy of the picture rather than black bars.
    top = picture[height // 10]
    assert 20 < top[5, 0] < 150 and 20 < top[-5, 2] < 150


def test_audio_and_recipe_are_copied_through(media, tmp_path):
    spot = tmp_path / "spot.mp4"
    assemble(media.clips, spot, crossfade=0.25, music=media.long_music,
             recipe={"storyboard_id": "sb-2"})
    out = reframe(spot, tmp_path / "square.mp4", "1:1", mode="blur")
    assert stream_types(out) == ["video", "audio"]
    assert audio_packets(out) == audio_packets(spot)
    assert read_recipe(out) == {"storyboard_id": "sb-2"}


def test_reframe_errors_are_plain(media, tmp_path):
    with pytest.raises(AssemblyError, match="crop or blur"):
        reframe(media.clips[0], tmp_path / "out.mp4", "1:1", mode="stretch")
    with pytest.raises(AssemblyError, match="The spot cannot be read"):
        reframe(media.text_file, tmp_path / "out.mp4", "1:1")
    assert list(tmp_path.iterdir()) == []
