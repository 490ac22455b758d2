"""Assembly, checked by decoding what it writes: lengths, cuts by stream copy, crossfades,
captions, the end card, music, faststart, and plain errors for bad inputs."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from kling.assembly import AssemblyError, EndCard, assemble, frame_at, read_recipe
from kling.errors import KlingError

from .support import (RATE, SIZE, audio_levels, audio_seconds, bright_pixels,
                      decoded_seconds, decoded_video, make_clip, rgb, stream_types,
                      top_level_boxes, video_packets)

FRAME = 1 / RATE
LOWER_THIRD = slice(SIZE[1] * 2 // 3, None)
UPPER_TWO_THIRDS = slice(0, SIZE[1] * 2 // 3)


def test_cuts_of_identical_clips_are_a_stream_copy(media, out):
    result = assemble(media.clips, out)
    assert result.stream_copy and not result.has_audio
    assert video_packets(out) == [p for clip in media.clips for p in video_packets(clip)]
    assert decoded_seconds(out) == pytest.approx(3.0, abs=FRAME)
    assert result.duration == pytest.approx(3.0, abs=FRAME)
    assert [round(a, 3) for span in result.clip_spans for a in span] == [0, 1, 1, 2, 2, 3]
    assert stream_types(out) == ["video"]


@pytest.mark.parametrize("crossfade", [0.25, 0.3, 0.5])
def test_duration_is_the_clips_minus_the_crossfades(media, out, crossfade):
    result = assemble(media.clips, out, crossfade=crossfade)
    expected = 3 * 1.0 - 2 * crossfade
    assert not result.stream_copy
    assert decoded_seconds(out) == pytest.approx(expected, abs=FRAME)
    assert result.duration == pytest.approx(expected, abs=FRAME)


def test_a_crossfade_mixes_the_two_clips(media, out):
    result = assemble(media.clips[:2], out, crossfade=0.5)
    middle = rgb(frame_at(out, 0.75))[SIZE[1] // 2, SIZE[0] // 2]
    first = rgb(frame_at(out, 0.2))[SIZE[1] // 2, SIZE[0] // 2]
    second = rgb(frame_at(out, 1.3))[SIZE[1] // 2, SIZE[0] // 2]
    assert result.clip_spans[1][0] == pytest.approx(0.5, abs=FRAME)
    # Halfway through the fade, the colour is halfway between the two clips' colours.
    assert np.abs(first - second).max() >= 50
    assert np.abs(middle - (first + second) / 2).max() <= 6


def test_the_output_takes_the_first_clips_size_and_fits_the_others(media, out):
    result = assemble([media.clips[0], media.portrait], out)
    assert not result.stream_copy  # different streams cannot be copied one after another
    count, rate, size = decoded_video(out)
    assert size == SIZE and count == 2 * RATE
    portrait = rgb(frame_at(out, 1.5))
    row = portrait[SIZE[1] // 2]
    # The portrait clip is fitted inside: black bars left and right, picture in the middle.
    assert row[:40].max() < 30 and row[-40:].max() < 30
    assert abs(int(row[SIZE[0] // 2][0]) - 110) < 15


def test_captions_show_in_the_lower_third_during_their_clip_only(media, out):
    result = assemble(media.clips, out, captions=["Summer is here", None, "Shop now"])
    for index, captioned in enumerate((True, False, True)):
        start, end = result.clip_spans[index]
        frame = frame_at(out, (start + end) / 2)
        assert (bright_pixels(frame, LOWER_THIRD) > 30) is captioned, index
        assert bright_pixels(frame, UPPER_TWO_THIRDS) == 0
    # The caption stays clear of the bottom and side margins.
    picture = rgb(frame_at(out, 0.5))
    assert np.abs(picture[-10:] - picture[-10:, :1]).max() < 12
    assert np.abs(picture[:, :20] - picture[:1, :1]).max() < 12


def test_captions_with_crossfades_change_at_the_middle_of_the_fade(media, out):
    assemble(media.clips[:2], out, crossfade=0.5, captions=[None, "Second"])
    assert bright_pixels(frame_at(out, 0.6), LOWER_THIRD) == 0
    assert bright_pixels(frame_at(out, 0.9), LOWER_THIRD) > 30


def test_one_caption_per_clip(media, out):
    with pytest.raises(AssemblyError, match="2 captions for 3 clips"):
        assemble(media.clips, out, captions=["a", "b"])


def logo_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (120, 60), (255, 140, 0, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_end_card_is_appended_with_a_short_fade(media, out):
    card = EndCard("Summer Sale", "This week only", logo=logo_png(), seconds=1.5)
    result = assemble(media.clips[:2], out, crossfade=0.25, end_card=card)
    expected = 2 * 1.0 - 0.25 + 1.5
    assert decoded_seconds(out) == pytest.approx(expected, abs=FRAME)
    assert result.end_card_span[1] == pytest.approx(expected, abs=FRAME)
    shown = rgb(frame_at(out, expected - 0.2))
    # Dark card, the orange logo above the middle and white title text.
    assert shown[5, 5].max() < 50
    assert (shown[:, :, 0] > 200).sum() > 100 and (shown.min(axis=2) > 200).sum() > 30


def test_end_card_choices_are_checked(media, out, tmp_path):
    with pytest.raises(AssemblyError, match="1 to 3 seconds"):
        EndCard("Title", seconds=5)
    with pytest.raises(AssemblyError, match="needs a title"):
        EndCard("  ")
    with pytest.raises(AssemblyError, match="logo cannot be used"):
        assemble(media.clips[:1], out, end_card=EndCard("Title", logo=b"not an image"))
    assert not out.exists()


@pytest.mark.parametrize("music", ["short_music", "long_music", "mp3", "m4a"])
def test_music_is_laid_under_the_whole_spot_and_fades_out(media, out, music):
    result = assemble(media.clips, out, crossfade=0.25, music=getattr(media, music))
    video = decoded_seconds(out)
    assert result.has_audio and stream_types(out) == ["video", "audio"]
    assert audio_seconds(out) == pytest.approx(video, abs=0.05)
    levels = audio_levels(out)
    if music != "short_music":
        # The track is cut at the end of the spot with a fade-out, not stopped dead.
        assert levels[-1] < 0.2 * max(levels[: len(levels) // 3])
    else:
        # A short track ends in silence that lasts to the end of the spot.
        assert levels[len(levels) // 4] > 0.05 and levels[-1] < 1e-3


def test_without_music_there_is_no_audio_stream(media, out):
    assemble(media.clips, out, crossfade=0.25)
    assert stream_types(out) == ["video"]


@pytest.mark.parametrize("options", [{}, {"crossfade": 0.25, "captions": ["a", "b", "c"]}])
def test_outputs_are_faststart_h264_yuv420p(media, out, options):
    assemble(media.clips, out, **options)
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.name, ctx.format.name) == ("h264", "yuv420p")


def test_the_recipe_is_kept_in_the_spot(media, out):
    assemble(media.clips, out, recipe={"storyboard_id": "sb-9", "clips": [{"seed": 1}]})
    assert read_recipe(out) == {"storyboard_id": "sb-9", "clips": [{"seed": 1}]}


def test_progress_rises_to_one(media, out):
    seen: list[float] = []
    assemble(media.clips, out, crossfade=0.25, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


def test_a_stopped_assembly_leaves_nothing_behind(media, out):
    def stop(fraction: float) -> None:
        if fraction > 0.3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assemble(media.clips, out, crossfade=0.25, progress=stop)
    assert list(out.parent.iterdir()) == []


def test_bad_inputs_are_plain_errors_and_write_nothing(media, out, tmp_path):
    cases = [
        (dict(clips=[media.clips[0], media.text_file]),
         "Clip 2 cannot be read: it is not a video"),
        (dict(clips=[tmp_path / "gone.mp4"]),
         "Clip 1 cannot be read: the file does not exist"),
        (dict(clips=media.clips, music=media.png), "The music file cannot be read"),
        (dict(clips=media.clips, music=media.text_file), "not an audio file"),
        (dict(clips=[]), "no clips"),
        (dict(clips=media.clips, crossfade=1.5), "crossfade is 0 to 1 second"),
        (dict(clips=[media.clips[0], media.halves, media.clips[1]], crossfade=0.3),
         "Clip 2 lasts 0.5 s: too short"),
    ]
    for arguments, message in cases:
        clips = arguments.pop("clips")
        with pytest.raises(AssemblyError, match=message) as caught:
            assemble(clips, out, **arguments)
        assert isinstance(caught.value, KlingError)
        assert "Traceback" not in str(caught.value) and "av." not in str(caught.value)
    assert list(out.parent.iterdir()) == []


def test_a_clip_of_another_frame_rate_keeps_its_length(media, out, tmp_path):
    thirty = make_clip(tmp_path / "thirty.mp4", (60, 90, 140), rate=30)
    assemble([media.clips[0], thirty], out)
    count, rate, _ = decoded_video(out)
    assert rate == RATE and count == 2 * RATE


def test_an_output_that_cannot_be_written_is_a_plain_error(media, tmp_path):
    with pytest.raises(AssemblyError, match="The folder .* does not exist"):
        assemble(media.clips, tmp_path / "missing" / "spot.mp4")
    taken = tmp_path / "taken.mp4"
    taken.mkdir()
    with pytest.raises(AssemblyError, match="taken.mp4 could not be written"):
        assemble(media.clips, taken, crossfade=0.25)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.mp4"]
