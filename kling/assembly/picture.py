"""Frames as numpy arrays in YUV 4:2:0, and the few operations assembly needs on them.

A frame is one uint8 array of shape (height * 3 // 2, width): the Y plane, then the U and
V planes at quarter size, the layout `av.VideoFrame.to_ndarray()` gives and
`from_ndarray(..., format="yuv420p")` takes. Staying in the encoder's own format avoids
a colour conversion per frame: only still pictures (captions, the end card) are
converted, once, with the matrix the clips were made with (`ColourSpace`).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from ..yuv import blend, half

# FFmpeg's numbers for colour matrices, primaries and transfer curves (AVCOL_*).
_BT709, _BT470BG, _SMPTE170M = 1, 5, 6
#: Sources of unknown matrix at least this tall are taken as HD (BT.709), as players do.
_HD_HEIGHT = 720
#: Black in limited-range YUV.
_BLACK = (16, 128, 128)


@dataclass(frozen=True)
class ColourSpace:
    """How a clip's YUV numbers map to colours: its matrix and the tags that say so."""

    name: str
    #: FFmpeg's number for the matrix, the primaries and the transfer curve.
    tag: int
    #: RGB (0..1) to limited-range Y, U, V: rows are Y, U, V.
    matrix: tuple[tuple[float, float, float], ...]

    @classmethod
    def of(cls, colorspace: int, height: int) -> "ColourSpace":
        """The space a stream's `colorspace` tag names; untagged ones by their height."""
        if colorspace == _BT709:
            return BT709
        if colorspace in (_BT470BG, _SMPTE170M):
            return BT601
        return BT709 if height >= _HD_HEIGHT else BT601

    def to_yuv(self, rgb: np.ndarray) -> np.ndarray:
        """Y, U, V on the last axis (float, 0..255) from RGB in 0..255."""
        return rgb @ (np.array(self.matrix) / 255.0).T + np.array([16.0, 128.0, 128.0])


BT601 = ColourSpace("bt601", _SMPTE170M, (
    (65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214)))
BT709 = ColourSpace("bt709", _BT709, (
    (46.559, 156.629, 15.812), (-25.664, -86.336, 112.0), (112.0, -101.730, -10.270)))


def planes(frame: np.ndarray, width: int, height: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of a frame's Y, U and V planes (writes go to the frame)."""
    flat = frame.reshape(-1)
    luma, chroma = width * height, (width // 2) * (height // 2)
    return (flat[:luma].reshape(height, width),
            flat[luma:luma + chroma].reshape(height // 2, width // 2),
            flat[luma + chroma:].reshape(height // 2, width // 2))


def blank(width: int, height: int) -> np.ndarray:
    """A black frame."""
    frame = np.empty((height * 3 // 2, width), dtype=np.uint8)
    for plane, value in zip(planes(frame, width, height), _BLACK):
        plane[...] = value
    return frame


def pack(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One frame from three planes (copied)."""
    height, width = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(
        height * 3 // 2, width)


def paste(frame: np.ndarray, width: int, height: int, picture: np.ndarray, x: int,
          y: int) -> None:
    """Put a smaller frame `picture` into `frame` with its top-left corner at even (x, y)."""
    picture_h = picture.shape[0] * 2 // 3
    picture_w = picture.shape[1]
    for dst, src, scale in zip(planes(frame, width, height),
                               planes(picture, picture_w, picture_h), (1, 2, 2)):
        dst[y // scale: y // scale + src.shape[0], x // scale: x // scale + src.shape[1]] = src


def fitted_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The even size of a width x height picture scaled to fit inside box_w x box_h."""
    scale = min(box_w / width, box_h / height)
    return (min(box_w, max(2, 2 * round(width * scale / 2))),
            min(box_h, max(2, 2 * round(height * scale / 2))))


def centred(size: int, box: int) -> int:
    """The even offset that centres `size` in `box`."""
    return 2 * ((box - size) // 4)


def from_image(image: Image.Image, space: ColourSpace) -> np.ndarray:
    """A frame showing an RGB picture (even width and height)."""
    yuv = space.to_yuv(np.asarray(image.convert("RGB"), dtype=np.float64))
    channels = (yuv[..., 0], half(yuv[..., 1]), half(yuv[..., 2]))
    return pack(*(np.clip(np.rint(c), 0, 255).astype(np.uint8) for c in channels))


def to_video_frame(frame: np.ndarray) -> av.VideoFrame:
    """The frame as PyAV's, ready to encode."""
    return av.VideoFrame.from_ndarray(frame, format="yuv420p")


class Scaler:
    """Resizes pictures to one size (and from one colour space to another), keeping
    FFmpeg's scaler between calls: setting one up costs more than using it."""

    def __init__(self, width: int, height: int, interpolation: str = "BICUBIC",
                 source: ColourSpace | None = None, target: ColourSpace | None = None
                 ) -> None:
        self.width, self.height = width, height
        self._options = {"interpolation": interpolation}
        if source is not None and target is not None and source != target:
            self._options.update(src_colorspace=source.tag, dst_colorspace=target.tag)
        self._reformatter = VideoReformatter()

    def __call__(self, picture: av.VideoFrame | np.ndarray) -> np.ndarray:
        """The picture (a decoded frame, or a yuv420p frame array) at this size."""
        if isinstance(picture, np.ndarray):
            picture = to_video_frame(picture)
        return self._reformatter.reformat(picture, width=self.width, height=self.height,
                                          format="yuv420p", **self._options).to_ndarray()


def mix(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """`a` faded towards `b` by `weight` (0: all a, 1: all b), as a new frame."""
    # Integer weights out of 256 keep the blend in uint16 arithmetic, a few ms a frame.
    k = int(round(weight * 256))
    out = a.astype(np.uint16)
    out *= 256 - k
    out += b.astype(np.uint16) * k
    out >>= 8
    return out.astype(np.uint8)


@dataclass(frozen=True)
class Overlay:
    """A picture with transparency at an even (x, y), ready to blend onto frames.

    Per plane, the blend is `(dst * keep + add) >> 8` with `keep = 256 - alpha` and `add`
    the colour premultiplied by alpha (alpha in 0..256): integer-only work per frame.
    """

    x: int
    y: int
    keep: tuple[np.ndarray, np.ndarray, np.ndarray]
    add: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def from_image(cls, image: Image.Image, x: int, y: int,
                   space: ColourSpace) -> "Overlay":
        """`image` is RGBA with even width and height; (x, y) are even."""
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        alpha = np.rint(rgba[..., 3] * (256.0 / 255.0))
        yuv = space.to_yuv(rgba[..., :3])
        alpha_c = np.rint(half(alpha))

        def u16(a: np.ndarray) -> np.ndarray:
            return np.rint(a).astype(np.uint16)

        keep_c = u16(256.0 - alpha_c)
        return cls(x, y, (u16(256.0 - alpha), keep_c, keep_c),
                   (u16(yuv[..., 0] * alpha), u16(half(yuv[..., 1] * alpha)),
                    u16(half(yuv[..., 2] * alpha))))

    def blend(self, frame: np.ndarray, width: int, height: int) -> None:
        """Blend onto `frame` in place; parts outside the frame are left out."""
        blend(planes(frame, width, height), self.keep, self.add, self.x, self.y)
