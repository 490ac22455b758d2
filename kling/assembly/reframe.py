"""A spot reframed for another delivery format: `reframe(spot, out, fmt, mode=..., focus=...)`.

- `crop`: the largest window of the format's shape that fits in the picture, placed by
  `focus` (x, y in 0-1: 0 puts the window against the left/top edge, 1 against the
  right/bottom, 0.5 centres it), scaled to the format's size.
- `blur`: the whole picture fitted inside the format, the rest filled with a blurred,
  darkened copy of the picture (the window `crop` would take, enlarged), as feeds do.

The blur is computed on a picture a sixteenth of the output's size and enlarged again,
which looks the same as a wide blur at full size for a tiny part of the work. The audio
is copied through untouched, and the recipe kept in the spot goes with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageFilter

from .encoding import Progress, VideoSink, add_video_stream
from ..errors import AssemblyError
from .formats import DeliveryFormat, get_format
from .media import ClipInfo, open_input, packets, probe, reading
from .output import RECIPE_TAG, atomic_output, open_mp4
from .picture import Scaler, centred, fitted_size, pack, paste, planes

MODES = ("crop", "blur")
_BLUR_SHRINK = 16
#: Gaussian blur radius on the shrunk picture, in its pixels (16 times that at full size).
_BLUR_RADIUS = 2
#: How much of the background's brightness and colour is kept.
_BACKGROUND_LUMA, _BACKGROUND_CHROMA = 0.5, 0.7


def _even(value: float) -> int:
    return 2 * int(round(value / 2))


@dataclass(frozen=True)
class Window:
    """A rectangle of the source picture, in pixels (even numbers)."""

    x: int
    y: int
    width: int
    height: int


def crop_window(source_w: int, source_h: int, out_w: int, out_h: int,
                focus: tuple[float, float] = (0.5, 0.5)) -> Window:
    """The largest window of shape out_w:out_h inside the source, placed by `focus`."""
    fx, fy = (min(1.0, max(0.0, float(f))) for f in focus)
    width = min(source_w, _even(source_h * out_w / out_h))
    height = min(source_h, _even(source_w * out_h / out_w))
    return Window(_even(fx * (source_w - width)), _even(fy * (source_h - height)),
                  width, height)


def _cut(frame: np.ndarray, source_w: int, source_h: int, window: Window) -> np.ndarray:
    y, u, v = planes(frame, source_w, source_h)
    x0, y0, w, h = window.x, window.y, window.width, window.height
    return pack(y[y0:y0 + h, x0:x0 + w], u[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2],
                v[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2])


def _blur(plane: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(plane).filter(ImageFilter.GaussianBlur(_BLUR_RADIUS)),
                      dtype=np.float32)


class _Framer:
    """Turns each frame of the spot into a frame of one format, in one mode."""

    def __init__(self, info: ClipInfo, out_w: int, out_h: int, mode: str,
                 focus: tuple[float, float]) -> None:
        # 4:2:0 needs even sizes; an odd source loses its last row or column.
        self.source_w, self.source_h = info.width // 2 * 2, info.height // 2 * 2
        self.out_w, self.out_h, self.mode = out_w, out_h, mode
        self.window = crop_window(self.source_w, self.source_h, out_w, out_h, focus)
        self._normalise = Scaler(self.source_w, self.source_h)
        self._to_output = Scaler(out_w, out_h)
        self._inner = Scaler(*fitted_size(self.source_w, self.source_h, out_w, out_h))
        self._shrink = Scaler(max(2, _even(out_w / _BLUR_SHRINK)),
                              max(2, _even(out_h / _BLUR_SHRINK)), "AREA")
        self._enlarge = Scaler(out_w, out_h, "BILINEAR")

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if (frame.width, frame.height, frame.format.name) == (self.source_w, self.source_h,
                                                              "yuv420p"):
            picture = frame.to_ndarray()
        else:
            picture = self._normalise(frame)
        window = _cut(picture, self.source_w, self.source_h, self.window)
        if self.mode == "crop":
            return self._to_output(window)
        return self._blurred(picture, window)

    def _blurred(self, picture: np.ndarray, window: np.ndarray) -> np.ndarray:
        small = self._shrink(window)
        y, u, v = (_blur(p) for p in planes(small, self._shrink.width, self._shrink.height))
        y = 16 + (y - 16) * _BACKGROUND_LUMA
        u, v = (128 + (c - 128) * _BACKGROUND_CHROMA for c in (u, v))
        small = pack(*(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)))
        out = self._enlarge(small)
        paste(out, self.out_w, self.out_h, self._inner(picture),
              centred(self._inner.width, self.out_w), centred(self._inner.height, self.out_h))
        return out


def reframe(spot: str | os.PathLike[str], out: str | os.PathLike[str],
            fmt: str | DeliveryFormat, *, mode: str = "crop",
            focus: tuple[float, float] = (0.5, 0.5),
            progress: Progress | None = None) -> Path:
    """Write `spot` reframed to `fmt` ("9:16", or a DeliveryFormat) as the MP4 `out`.

    Same output rules as assembly: H.264 yuv420p, index first, written whole or not at
    all. `progress(fraction)` is called as frames are written, with 1.0 last.
    """
    delivery = get_format(fmt)
    if mode not in MODES:
        raise AssemblyError(f"Reframing is {' or '.join(MODES)}, not {mode!r}.")
    info = probe(spot, "The spot")
    out_w, out_h = delivery.size_for(info.width, info.height)
    framer = _Framer(info, out_w, out_h, mode, focus)
    total = info.frames_at(info.rate)
    with atomic_output(out) as temporary:
        with open_input(spot, "The spot") as source, open_mp4(temporary) as container:
            if RECIPE_TAG in source.metadata:
                container.metadata[RECIPE_TAG] = source.metadata[RECIPE_TAG]
            video = source.streams.video[0]
            video.thread_type = "AUTO"
            stream = add_video_stream(container, out_w, out_h, info.rate, info.space)
            audio = source.streams.audio[0] if source.streams.audio else None
            audio_out = container.add_stream_from_template(audio) if audio else None
            sink = VideoSink(container, stream, info.rate, total, progress)
            for packet in packets(source, [s for s in (video, audio) if s], "The spot"):
                if packet.stream is video:
                    # The end-of-stream packet decodes to the frames the decoder still holds.
                    with reading("The spot"):
                        frames = packet.decode()
                    for frame in frames:
                        sink.write(framer(frame))
                elif packet.dts is not None:
                    packet.stream = audio_out
                    container.mux(packet)
            sink.finish()
    if progress is not None:
        progress(1.0)
    return Path(out)
