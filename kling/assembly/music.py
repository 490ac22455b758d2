"""Music under a spot: any audio file FFmpeg reads (MP3, WAV, M4A ...), resampled to the
output's rate, trimmed to the spot's length with a fade-out, padded with silence if it is
shorter, and encoded to AAC in step with the picture.

The file is decoded as it is written, a few thousand samples at a time, so a long track
costs no more memory than a short one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.container import OutputContainer

from .encoding import AUDIO_BIT_RATE, AUDIO_CODEC, AUDIO_LAYOUT, AUDIO_RATE
from ..errors import AssemblyError
from .media import open_input, reading

#: Length of the fade at the end of the spot, in seconds (at most half the spot).
FADE_OUT_SECONDS = 1.5
_NAME = "The music file"
_NOT_AUDIO = (f"{_NAME} cannot be read: it is not an audio file the studio can read "
              "(use MP3, WAV or M4A).")
_CHANNELS = 2


def check_music(path: str | os.PathLike[str]) -> Path:
    """The path, once it is known to hold audio; AssemblyError otherwise."""
    with open_input(path, _NAME, kind="an audio") as container:
        if not container.streams.audio:
            raise AssemblyError(_NOT_AUDIO)
    return Path(path)


class MusicTrack:
    """Writes `seconds` of the music into an AAC stream of `container`."""

    def __init__(self, path: Path, container: OutputContainer, seconds: float) -> None:
        self._path = path
        self._total = round(seconds * AUDIO_RATE)
        self._fade = max(1, round(min(FADE_OUT_SECONDS, seconds / 2) * AUDIO_RATE))
        stream = container.add_stream(AUDIO_CODEC, rate=AUDIO_RATE)
        stream.layout = AUDIO_LAYOUT
        stream.bit_rate = AUDIO_BIT_RATE
        self._stream, self._container = stream, container
        self._written = 0
        self._chunks = self._decoded()
        self._left = np.zeros((_CHANNELS, 0), dtype=np.float32)

    def _decoded(self) -> Iterator[np.ndarray]:
        """The music as float32 (channels, samples) chunks at the output's rate and
        layout, then silence for ever."""
        resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        with open_input(self._path, _NAME, kind="an audio") as source, reading(_NAME):
            if not source.streams.audio:
                raise AssemblyError(_NOT_AUDIO)
            for frame in source.decode(source.streams.audio[0]):
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
        silence = np.zeros((_CHANNELS, AUDIO_RATE // 10), dtype=np.float32)
        while True:
            yield silence

    def write_until(self, seconds: float) -> None:
        target = min(self._total, round(seconds * AUDIO_RATE))
        while self._written < target:
            if not self._left.shape[1]:
                self._left = next(self._chunks)
            wanted = target - self._written
            self._encode(self._left[:, :wanted])
            self._left = self._left[:, wanted:]

    def _encode(self, chunk: np.ndarray) -> None:
        count = chunk.shape[1]
        end = np.arange(self._written, self._written + count)
        gain = np.clip((self._total - end) / self._fade, 0.0, 1.0).astype(np.float32)
        samples = np.ascontiguousarray(chunk * gain, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=AUDIO_LAYOUT)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._written
        self._container.mux(self._stream.encode(frame))
        self._written += count

    def finish(self) -> None:
        self.write_until(self._total / AUDIO_RATE)
        self._container.mux(self._stream.encode(None))
        self._chunks.close()
