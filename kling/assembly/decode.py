"""Frames out of a video, one at a time: a clip conformed to the output's size and frame
rate (`clip_frames`), and a single still for previews (`frame_at`).

Only one decoded frame is held at a time, so memory does not grow with a clip's length.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from PIL import Image

from ..errors import AssemblyError
from .media import ClipInfo, open_input, reading
from .picture import ColourSpace, Scaler, blank, centred, fitted_size, paste


class Fitter:
    """Turns a clip's decoded frames into `width` x `height` yuv420p frames in `space`:
    as they are when they match, otherwise scaled to fit inside, with black bars if the
    shape differs."""

    def __init__(self, width: int, height: int, space: ColourSpace,
                 source_space: ColourSpace) -> None:
        self.width, self.height = width, height
        self.space, self.source_space = space, source_space
        self._scalers: dict[tuple[int, int], Scaler] = {}

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        size = (frame.width, frame.height)
        if size == (self.width, self.height) and frame.format.name == "yuv420p" \
                and self.source_space == self.space:
            return frame.to_ndarray()
        if size not in self._scalers:
            inner = fitted_size(*size, self.width, self.height)
            self._scalers[size] = Scaler(*inner, source=self.source_space, target=self.space)
        scaler = self._scalers[size]
        scaled = scaler(frame)
        if (scaler.width, scaler.height) == (self.width, self.height):
            return scaled
        out = blank(self.width, self.height)
        paste(out, self.width, self.height, scaled, centred(scaler.width, self.width),
              centred(scaler.height, self.height))
        return out


def clip_frames(info: ClipInfo, width: int, height: int, space: ColourSpace,
                rate: Fraction, count: int) -> Iterator[np.ndarray]:
    """Exactly `count` frames of the clip at `rate`, fitted to the size. A source of
    another rate is conformed by taking, for each output frame, the source frame nearest
    before it; a short source repeats its last frame, so a frame may come more than once
    and must not be changed in place."""
    step = 1 / float(rate)
    emitted = 0
    pending: np.ndarray | None = None
    fit = Fitter(width, height, space, info.space)
    with open_input(info.path, info.name) as container, reading(info.name):
        stream = container.streams.video[0]
        # Frame threads decode ahead while this thread composes and encodes.
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float((frame.pts - start) * stream.time_base)
            while pending is not None and emitted < count and (emitted + 0.5) * step <= t:
                yield pending
                emitted += 1
            if emitted >= count:
                return
            pending = fit(frame)
    if pending is None:
        raise AssemblyError(f"{info.name} cannot be read: it holds no frames.")
    for _ in range(count - emitted):
        yield pending


def frame_at(path: str | os.PathLike[str], t: float) -> Image.Image:
    """The picture shown at `t` seconds (the last one if `t` is past the end), as RGB."""
    with open_input(path, "The video") as container, reading("The video"):
        if not container.streams.video:
            raise AssemblyError("The video cannot be read: it has no picture.")
        stream = container.streams.video[0]
        start = stream.start_time or 0
        target = max(0.0, t)
        if target > 0:
            container.seek(start + int(target / stream.time_base), stream=stream,
                           backward=True)
        rate = stream.average_rate or 24
        chosen = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if chosen is not None and float((frame.pts - start) * stream.time_base) \
                    > target + 0.5 / float(rate):
                break
            chosen = frame
        if chosen is None:
            raise AssemblyError("The video cannot be read: it holds no frames.")
        return chosen.to_image()
