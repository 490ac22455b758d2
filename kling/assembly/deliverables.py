"""Deliverables: one file per delivery format from an assembled spot, named by campaign
and platform (`<campaign>_<platform>_<width>x<height>.mp4`), and one zip holding them.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

from .encoding import Progress
from ..errors import AssemblyError
from .formats import DeliveryFormat, get_format
from .media import probe
from .output import atomic_output
from .reframe import reframe

#: How one format is made: ("crop" or "blur", (focus x, focus y) in 0-1).
Framing = tuple[str, tuple[float, float]]
_FALLBACK_SLUG = "spot"


def slug(text: str) -> str:
    """`text` as a file-name part: lowercase ASCII letters, digits and dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or _FALLBACK_SLUG


def deliverable_name(campaign: str, fmt: str | DeliveryFormat, size: tuple[int, int]) -> str:
    return f"{slug(campaign)}_{get_format(fmt).slug}_{size[0]}x{size[1]}.mp4"


def deliver(spot: str | os.PathLike[str], out_dir: str | os.PathLike[str], campaign: str,
            formats: Mapping[str | DeliveryFormat, Framing],
            progress: Progress | None = None) -> list[Path]:
    """Reframe `spot` once per format into `out_dir`; the paths written, in the order of
    `formats`. `progress(fraction)` covers all of them, with 1.0 last."""
    if not formats:
        raise AssemblyError("Choose at least one delivery format.")
    chosen = [(get_format(fmt), framing) for fmt, framing in formats.items()]
    info = probe(spot, "The spot")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index, (fmt, (mode, focus)) in enumerate(chosen):
        path = folder / deliverable_name(campaign, fmt, fmt.size_for(info.width, info.height))

        def part(fraction: float, index: int = index) -> None:
            if progress is not None:
                progress((index + fraction) / len(chosen))

        paths.append(reframe(spot, path, fmt, mode=mode, focus=focus, progress=part))
    return paths


def zip_deliverables(paths: Sequence[str | os.PathLike[str]],
                     dest: str | os.PathLike[str] | None = None) -> bytes | Path:
    """A zip holding each file under its own name: its bytes, or written to `dest`
    (atomically) and `dest` returned. The videos are stored, not compressed again."""
    names = [Path(p).name for p in paths]
    if len(set(names)) != len(names):
        raise AssemblyError("Two deliverables have the same file name; the zip needs one "
                            "of each.")

    def write(target: io.BufferedIOBase | Path) -> None:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in paths:
                try:
                    archive.write(path, arcname=Path(path).name)
                except OSError as exc:
                    raise AssemblyError(f"The deliverable {Path(path).name} cannot be read "
                                        "for the zip.") from exc

    if dest is None:
        buffer = io.BytesIO()
        write(buffer)
        return buffer.getvalue()
    with atomic_output(dest) as temporary:
        write(temporary)
    return Path(dest)
