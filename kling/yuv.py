"""Integer-only picture work in YUV 4:2:0, shared by the simulator's renderer and assembly.

Both compose frames directly in the encoder's own format (no colour conversion per frame):
a picture with transparency is kept per plane as `keep = 256 - alpha` and `add` = colour
premultiplied by alpha (alpha in 0..256), and blending is `(dst * keep + add) >> 8`.
"""

from __future__ import annotations

import numpy as np

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def half(plane: np.ndarray) -> np.ndarray:
    """2x2 average: full resolution to the 4:2:0 chroma grid."""
    h, w = plane.shape[0] // 2, plane.shape[1] // 2
    return plane[: 2 * h, : 2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))


def blend(planes: Planes, keep: Planes, add: Planes, x: int, y: int) -> None:
    """Blend a premultiplied picture onto `planes` (Y, U, V) in place, its top-left corner
    at the even (x, y) of the luma plane; the parts outside the frame are left out."""
    for index, plane in enumerate(planes):
        scale = 1 if index == 0 else 2
        keep_p, add_p = keep[index], add[index]
        px, py = x // scale, y // scale
        x0, y0 = max(px, 0), max(py, 0)
        x1 = min(px + keep_p.shape[1], plane.shape[1])
        y1 = min(py + keep_p.shape[0], plane.shape[0])
        if x0 >= x1 or y0 >= y1:
            continue
        src = (slice(y0 - py, y1 - py), slice(x0 - px, x1 - px))
        region = plane[y0:y1, x0:x1]
        mixed = region * keep_p[src]
        mixed += add_p[src]
        mixed >>= 8
        region[...] = mixed
