"""What the assembly tests share: small synthetic clips and music made on the spot with
PyAV and numpy, and ways of looking into the files the assembly writes."""

from __future__ import annotations

import struct
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 24
SIZE = (320, 180)
GREY = (110, 110, 110)


def make_clip(path: Path, colour: tuple[int, int, int] = GREY, *, seconds: float = 1.0,
              size: tuple[int, int] = SIZE, rate: int = RATE,
              right: tuple[int, int, int] | None = None) -> Path:
    """An H.264 MP4 of one colour (RGB), or `colour` on the left half and `right` on the
    right half; a thin bar moves along the top so consecutive frames differ."""
    width, height = size
    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.options = {"preset": "ultrafast", "crf": "18", "threads": "1"}
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[...] = colour
    if right is not None:
        picture[:, width // 2:] = right
    frames = round(seconds * rate)
    for index in range(frames):
        image = picture.copy()
        x = index * width // frames
        image[:4, x:x + 8] = 255 - np.array(colour, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


def make_wav(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """A mono 16-bit WAV of a steady 440 Hz tone."""
    t = np.arange(round(seconds * rate)) / rate
    samples = (0.4 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def transcode_audio(wav: Path, path: Path, codec: str) -> Path:
    """The WAV re-encoded with `codec` into `path` (MP3 or M4A, by its suffix)."""
    with av.open(str(wav)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=44_100)
        stream.layout = "mono"
        for frame in source.decode(audio=0):
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0])
                if p.size]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def decoded_video(path: Path) -> tuple[int, Fraction, tuple[int, int]]:
    """(frames decoded, frame rate, (width, height)) of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, stream.average_rate, (stream.width, stream.height)


def decoded_seconds(path: Path) -> float:
    count, rate, _ = decoded_video(path)
    return count / float(rate)


def audio_seconds(path: Path) -> float:
    """Length of the decoded audio (every sample counted)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


def audio_levels(path: Path, window: float = 0.1) -> list[float]:
    """RMS level of each `window` seconds of the decoded audio."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray()[0] for frame in container.decode(stream)]
        rate = stream.rate
    samples = np.concatenate(chunks)
    step = round(window * rate)
    return [float(np.sqrt(np.mean(samples[i:i + step] ** 2)))
            for i in range(0, len(samples) - step + 1, step)]


def stream_types(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [s.type for s in container.streams]


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def rgb(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def bright_pixels(image, rows: slice = slice(None)) -> int:
    """How many pixels in `rows` of the image are near white (caption text)."""
    pixels = rgb(image)[rows]
    return int(np.count_nonzero(pixels.min(axis=2) > 200))
