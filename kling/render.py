"""Real, playable stand-in videos for the simulator, made from a prompt and a seed.

`render_video` returns an H.264 MP4 (yuv420p, faststart, 24 fps, exactly `duration * 24`
frames) that shows moving shapes and colours chosen from a hash of the prompt and the seed,
the prompt's words, the seed and a SIMULATED mark. The same inputs always give the same
bytes; another seed gives another palette, other motion and another file.

Speed matters: the test suite and demo mode render many clips, so the text is drawn once
with Pillow and every frame is composed with a few numpy slice operations directly in
YUV 4:2:0 (the encoder's own format, so no colour conversion per frame), then encoded by
x264 with the `ultrafast` preset on one thread.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .yuv import blend, half

FPS = 24
#: Bumped whenever the picture changes, so that cached renders are not mistaken for new ones.
RENDER_VERSION = 1
FRAME_SIZES: dict[str, tuple[int, int]] = {"16:9": (640, 360), "9:16": (360, 640)}

# Background margin the gradient drifts within, in pixels (even, for the chroma planes).
_MARGIN = 64
_X264_OPTIONS = {
    "preset": "ultrafast",
    "crf": "30",
    # x264's output depends on its thread count, which defaults to the number of cores:
    # one thread makes the bytes the same on every machine.
    "threads": "1",
    # BT.601 limited range, the matrix the frames are built with, so players show the
    # intended colours rather than guessing.
    "x264-params": "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m",
}
# A key frame every two seconds keeps seeking in the browser cheap.
_GOP = 2 * FPS


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of a rendered clip: 640x360 for 16:9, 360x640 for 9:16."""
    try:
        return FRAME_SIZES[aspect_ratio]
    except KeyError:
        raise ValueError(f"aspect_ratio must be '16:9' or '9:16', not {aspect_ratio!r}") from None


def _seconds(duration: str | int) -> int:
    seconds = int(duration)
    if seconds <= 0:
        raise ValueError(f"duration must be a positive whole number of seconds, not {duration!r}")
    return seconds


def render_video(prompt: str, seed: int, duration: str | int, aspect_ratio: str) -> bytes:
    """The MP4 file for these inputs, as bytes (see `render_to_file`)."""
    # The MP4 muxer's faststart pass reopens its output by name, so it needs a real file.
    with tempfile.TemporaryDirectory(prefix="kling-render-") as tmp:
        path = render_to_file(Path(tmp) / "clip.mp4", prompt, seed, duration, aspect_ratio)
        return path.read_bytes()


def render_to_file(
    path: str | os.PathLike[str],
    prompt: str,
    seed: int,
    duration: str | int,
    aspect_ratio: str,
) -> Path:
    """Write the MP4 for these inputs to `path` (overwritten) and return it as a Path.

    `duration` is whole seconds (`"5"`, `10`); the clip has exactly `duration * 24`
    frames. Raises ValueError for an unknown aspect ratio or a non-positive duration.
    """
    width, height = frame_size(aspect_ratio)
    frames = _seconds(duration) * FPS
    scene = _Scene.build(prompt, seed, width, height, frames)
    path = Path(path)
    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = _GOP
        stream.codec_context.options = dict(_X264_OPTIONS)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(scene.frame(index), format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    finally:
        container.close()
    return path


# --- picture -------------------------------------------------------------------------

def _rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range Y, U, V (last axis) from RGB in 0..1."""
    matrix = np.array([
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ])
    return rgb @ matrix.T + np.array([16.0, 128.0, 128.0])


@dataclass(frozen=True)
class _Layer:
    """A picture blended over the frame at (x, y): out = (dst * keep + add) >> 8 per plane.

    `keep` is 256 - alpha and `add` the colour premultiplied by alpha (alpha in 0..256),
    so that blending is integer-only; x, y and the size are even to match the chroma grid.
    """

    x: int
    y: int
    keep: tuple[np.ndarray, np.ndarray, np.ndarray]
    add: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def from_rgba(cls, x: int, y: int, rgba: np.ndarray) -> "_Layer":
        """`rgba` is float (h, w, 4) with colour and alpha in 0..1; h and w even."""
        alpha = np.rint(rgba[..., 3] * 256.0)
        yuv = _rgb_to_yuv(rgba[..., :3])
        keep_y = 256.0 - alpha
        add_y = yuv[..., 0] * alpha
        alpha_c = half(alpha)
        keep_c = 256.0 - np.rint(alpha_c)
        add_u, add_v = half(yuv[..., 1] * alpha), half(yuv[..., 2] * alpha)

        def u16(a: np.ndarray) -> np.ndarray:
            return np.rint(a).astype(np.uint16)

        return cls(x, y, (u16(keep_y), u16(keep_c), u16(keep_c)),
                   (u16(add_y), u16(add_u), u16(add_v)))

    def blend(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], x: int, y: int) -> None:
        """Blend in place with the top-left corner at (x, y); parts outside are clipped."""
        blend(planes, self.keep, self.add, x, y)


@dataclass(frozen=True)
class _Blob:
    """A soft disc that drifts along a Lissajous path."""

    layer: _Layer
    radius: int
    centre: tuple[float, float]
    swing: tuple[float, float]
    cycles: tuple[int, int]
    phase: tuple[float, float]

    def position(self, t: float) -> tuple[int, int]:
        """Even top-left corner at clip progress t in [0, 1)."""
        cx = self.centre[0] + self.swing[0] * math.sin(2 * math.pi * self.cycles[0] * t
                                                         + self.phase[0])
        cy = self.centre[1] + self.swing[1] * math.sin(2 * math.pi * self.cycles[1] * t
                                                         + self.phase[1])
        return 2 * round((cx - self.radius) / 2), 2 * round((cy - self.radius) / 2)


def _palette(rng: random.Random) -> list[tuple[float, float, float]]:
    """Five colours around a random base hue: two dark ones for the background, three
    bright ones for the shapes."""
    hue = rng.random()
    spread = rng.choice((0.08, 0.33, 0.5))
    colours = []
    for index, (sat, val) in enumerate([(0.7, 0.25), (0.8, 0.45), (0.65, 0.95),
                                        (0.75, 0.9), (0.5, 1.0)]):
        h = (hue + spread * index + rng.uniform(-0.03, 0.03)) % 1.0
        colours.append(colorsys.hsv_to_rgb(h, sat, val))
    return colours


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: the same glyphs on every machine, so renders stay identical.
    return ImageFont.load_default(size=size)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int,
          max_lines: int) -> list[str]:
    """Greedy word wrap to `width` pixels; too many lines end with an ellipsis."""

    def fits(candidate: str) -> bool:
        return font.getlength(candidate) <= width

    lines: list[str] = []
    current = ""
    words = text.split()[::-1]
    while words and len(lines) <= max_lines:
        word = words.pop()
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
        elif current:
            lines.append(current)
            current = ""
            words.append(word)
        else:
            # A word wider than the panel is cut at the longest prefix that fits.
            low, high = 1, len(word)
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if fits(word[:middle]) else (low, middle - 1)
            lines.append(word[:low])
            words.append(word[low:])
    if current:
        lines.append(current)
    if len(lines) > max_lines or words:
        last = lines[max_lines - 1]
        while last and not fits(last + " …"):
            last = last[:-1]
        lines = lines[: max_lines - 1] + [last.rstrip() + " …"]
    return lines


def _even(value: float) -> int:
    return 2 * int(math.ceil(value / 2))


def _text_layers(prompt: str, seed: int, width: int, height: int,
                 accent: tuple[float, float, float]) -> list[_Layer]:
    """The static overlays: SIMULATED badge, seed label and the prompt panel."""
    portrait = height > width
    pad = 16
    layers = []

    def layer_from(image: Image.Image, x: int, y: int) -> _Layer:
        return _Layer.from_rgba(x, y, np.asarray(image, dtype=np.float64) / 255.0)

    def label(text: str, size: int, fill: tuple[int, int, int, int],
              ink: tuple[int, int, int, int]) -> Image.Image:
        font = _font(size)
        left, top, right, bottom = font.getbbox(text)
        image = Image.new("RGBA", (_even(right - left + 20), _even(bottom - top + 14)),
                          (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=6, fill=fill)
        draw.text((10 - left, 7 - top), text, font=font, fill=ink)
        return image

    badge = label("SIMULATED", 22, (200, 30, 45, 235), (255, 255, 255, 255))
    layers.append(layer_from(badge, pad, pad))
    seed_label = label(f"seed {seed}", 18, (0, 0, 0, 150), (255, 255, 255, 255))
    if portrait:
        layers.append(layer_from(seed_label, pad, pad + badge.height + 8))
    else:
        layers.append(layer_from(seed_label, _even(width - pad - seed_label.width) - 2, pad))

    font = _font(20 if portrait else 22)
    line_height = 28 if portrait else 30
    panel_width = width - 2 * pad
    text = " ".join(prompt.split()) or "(empty prompt)"
    lines = _wrap(text, font, panel_width - 24, 7 if portrait else 3)
    panel = Image.new("RGBA", (panel_width, _even(len(lines) * line_height + 20)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(panel)
    draw.rounded_rectangle((0, 0, panel.width - 1, panel.height - 1), radius=10,
                           fill=(10, 10, 16, 150))
    draw.rectangle((0, 10, 3, panel.height - 11),
                   fill=tuple(int(c * 255) for c in accent) + (255,))
    for row, line in enumerate(lines):
        draw.text((14, 10 + row * line_height), line, font=font, fill=(255, 255, 255, 255))
    layers.append(layer_from(panel, pad, _even(height - pad - 10 - panel.height) - 2))
    return layers


def _disc(radius: int, colour: tuple[float, float, float]) -> _Layer:
    """A disc with a soft edge and a brighter core, as a layer of size 2*radius."""
    size = 2 * radius
    yy, xx = np.mgrid[0:size, 0:size] + 0.5 - radius
    distance = np.sqrt(xx * xx + yy * yy) / radius
    alpha = np.clip((1.0 - distance) * 3.0, 0.0, 1.0) * 0.85
    glow = np.clip(1.0 - distance, 0.0, 1.0)[..., None] * 0.35
    rgb = np.clip(np.array(colour) * (1 - glow) + glow, 0.0, 1.0)
    return _Layer.from_rgba(0, 0, np.dstack([rgb, alpha]))


@dataclass(frozen=True)
class _Scene:
    """Everything precomputed for one clip; `frame(i)` composes frame i cheaply."""

    width: int
    height: int
    frames: int
    background: tuple[np.ndarray, np.ndarray, np.ndarray]
    drift: tuple[int, int, float, float]
    blobs: tuple[_Blob, ...]
    overlays: tuple[_Layer, ...]
    bar_yuv: tuple[int, int, int]

    @classmethod
    def build(cls, prompt: str, seed: int, width: int, height: int, frames: int) -> "_Scene":
        # Lone surrogates can arrive through JSON escapes; keep them hashable and drawable.
        key = f"{prompt}\x1f{seed}".encode("utf-8", "surrogatepass")
        rng = random.Random(hashlib.sha256(key).digest())
        shown = prompt.encode("utf-8", "replace").decode("utf-8")
        palette = _palette(rng)

        big_h, big_w = height + 2 * _MARGIN, width + 2 * _MARGIN
        yy, xx = np.mgrid[0:big_h, 0:big_w].astype(np.float64)
        angle = rng.uniform(0, 2 * math.pi)
        ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / math.hypot(big_w, big_h) + 0.5
        wavelength = rng.uniform(180, 420)
        ramp += 0.18 * np.sin(2 * math.pi * (xx * math.sin(angle) - yy * math.cos(angle))
                              / wavelength + rng.uniform(0, 2 * math.pi))
        mix = np.clip(ramp, 0.0, 1.0)[..., None]
        rgb = np.array(palette[0]) * (1 - mix) + np.array(palette[1]) * mix
        yuv = _rgb_to_yuv(rgb)
        background = (
            np.rint(yuv[..., 0]).astype(np.uint8),
            np.rint(half(yuv[..., 1])).astype(np.uint8),
            np.rint(half(yuv[..., 2])).astype(np.uint8),
        )
        drift = (rng.choice((1, 2)), rng.choice((1, 2)),
                 rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))

        short = min(width, height)
        blobs = []
        for index in range(rng.randint(4, 6)):
            radius = int(short * rng.uniform(0.09, 0.2))
            blobs.append(_Blob(
                layer=_disc(radius, palette[2 + index % 3]),
                radius=radius,
                centre=(rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height),
                swing=(rng.uniform(0.15, 0.4) * width, rng.uniform(0.15, 0.4) * height),
                # Whole cycles per clip, so a clip loops without a jump.
                cycles=(rng.randint(1, 3), rng.randint(1, 3)),
                phase=(rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)),
            ))
        overlays = _text_layers(shown, seed, width, height, palette[3])
        bar = np.rint(_rgb_to_yuv(np.array(palette[4]))).astype(int)
        return cls(width, height, frames, background, drift, tuple(blobs), tuple(overlays),
                   (int(bar[0]), int(bar[1]), int(bar[2])))

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as a (height * 3 / 2, width) yuv420p array."""
        w, h = self.width, self.height
        t = index / self.frames
        fx, fy, px, py = self.drift
        ox = 2 * round(_MARGIN / 2 * (1 + math.sin(2 * math.pi * fx * t + px)))
        oy = 2 * round(_MARGIN / 2 * (1 + math.sin(2 * math.pi * fy * t + py)))

        buffer = np.empty(w * h * 3 // 2, dtype=np.uint8)
        luma = buffer[: w * h].reshape(h, w)
        u = buffer[w * h: w * h * 5 // 4].reshape(h // 2, w // 2)
        v = buffer[w * h * 5 // 4:].reshape(h // 2, w // 2)
        bg_y, bg_u, bg_v = self.background
        luma[...] = bg_y[oy: oy + h, ox: ox + w]
        u[...] = bg_u[oy // 2: (oy + h) // 2, ox // 2: (ox + w) // 2]
        v[...] = bg_v[oy // 2: (oy + h) // 2, ox // 2: (ox + w) // 2]

        planes = (luma, u, v)
        for blob in self.blobs:
            x, y = blob.position(t)
            blob.layer.blend(planes, x, y)
        for layer in self.overlays:
            layer.blend(planes, layer.x, layer.y)

        # A progress bar along the bottom shows where in the clip a frame is when seeking.
        filled = 2 * round((index + 1) / self.frames * w / 2)
        luma[h - 6:, :filled] = self.bar_yuv[0]
        u[h // 2 - 3:, : filled // 2] = self.bar_yuv[1]
        v[h // 2 - 3:, : filled // 2] = self.bar_yuv[2]
        return buffer.reshape(h * 3 // 2, w)
