"""The simulator's videos are real, playable, exact and deterministic (`kling.render`)."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from kling.render import FPS, frame_size, render_to_file, render_video

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "A red fox runs through a snowy forest at dawn, smooth tracking shot"


@pytest.fixture(scope="module")
def clips() -> dict[tuple[str, str], bytes]:
    return {
        ("5", "16:9"): render_video(PROMPT, 42, "5", "16:9"),
        ("10", "9:16"): render_video(PROMPT, 42, 10, "9:16"),
    }


def decode(data: bytes, keep: tuple[int, ...] = (0, 48, 60, 119)) -> tuple[dict, dict]:
    """Stream facts (with the decoded frame count) and the RGB frames numbered `keep`."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rate": stream.average_rate,
            "declared_frames": stream.frames,
            "stream_duration": float(stream.duration * stream.time_base),
            "container_duration": container.duration / 1_000_000,
        }
        frames, count = {}, 0
        for count, frame in enumerate(container.decode(stream), start=1):
            if count - 1 in keep:
                frames[count - 1] = frame.to_ndarray(format="rgb24")
        facts["decoded_frames"] = count
    return facts, frames


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


@pytest.mark.parametrize("duration, aspect_ratio", [("5", "16:9"), ("10", "9:16")])
def test_clip_is_h264_yuv420p_with_exact_frames_and_orientation(clips, duration, aspect_ratio):
    facts, frames = decode(clips[(duration, aspect_ratio)])
    width, height = frame_size(aspect_ratio)
    seconds = int(duration)
    assert facts["codec"] == "h264"
    assert facts["pix_fmt"] == "yuv420p"
    assert (facts["width"], facts["height"]) == (width, height)
    assert width % 2 == 0 and height % 2 == 0
    assert (width > height) == (aspect_ratio == "16:9")
    assert facts["rate"] == FPS
    assert facts["decoded_frames"] == facts["declared_frames"] == seconds * FPS
    assert facts["stream_duration"] == pytest.approx(seconds, abs=1e-6)
    assert facts["container_duration"] == pytest.approx(seconds, abs=0.05)
    assert frames[0].shape == (height, width, 3)


def test_moov_comes_before_mdat_so_browsers_start_playing_at_once(clips):
    for data in clips.values():
        boxes = top_level_boxes(data)
        assert boxes[0] == "ftyp"
        assert boxes.index("moov") < boxes.index("mdat")


def test_same_inputs_give_identical_bytes_in_another_process(clips):
    assert render_video(PROMPT, 42, "5", "16:9") == clips[("5", "16:9")]
    code = ("import hashlib, sys; from kling.render import render_video; "
            f"sys.stdout.write(hashlib.sha256(render_video({PROMPT!r}, 42, '5', '16:9'))"
            ".hexdigest())")
    # Another interpreter (another hash seed, fresh caches) must agree byte for byte.
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, check=True, env={"PYTHONHASHSEED": "123"})
    assert other.stdout == hashlib.sha256(clips[("5", "16:9")]).hexdigest()


def test_another_seed_gives_other_bytes_and_a_visibly_different_picture(clips):
    other = render_video(PROMPT, 43, "5", "16:9")
    assert other != clips[("5", "16:9")]
    _, ours = decode(clips[("5", "16:9")])
    _, theirs = decode(other)
    for index in (0, 60, 119):
        difference = np.abs(ours[index].astype(int) - theirs[index].astype(int)).mean()
        assert difference > 10, f"frame {index} differs by only {difference:.1f}"


def test_picture_moves_and_shows_the_simulated_mark(clips):
    _, frames = decode(clips[("5", "16:9")], keep=(0, 48, 119))
    motion = np.abs(frames[0].astype(int) - frames[48].astype(int)).mean()
    assert motion > 3
    # The SIMULATED badge is a red label in the top-left corner on every frame.
    for frame in (frames[0], frames[119]):
        badge = frame[20:36, 24:120].reshape(-1, 3).mean(axis=0)
        assert badge[0] > 120 and badge[0] > badge[1] + 60 and badge[0] > badge[2] + 40


@pytest.mark.parametrize("prompt", [
    "", "   ", "🦊 雪の森を走る狐 — ünïcödé", "lone surrogate \ud800 here",
    "word " * 600, "x" * 400,
])
def test_any_prompt_text_renders(tmp_path, prompt):
    path = render_to_file(tmp_path / "clip.mp4", prompt, 0, 1, "9:16")
    facts, _ = decode(path.read_bytes(), keep=())
    assert facts["decoded_frames"] == FPS
    assert (facts["width"], facts["height"]) == (360, 640)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="aspect_ratio"):
        render_video("x", 1, "5", "1:1")
    with pytest.raises(ValueError, match="duration"):
        render_video("x", 1, 0, "16:9")
