"""Deliverables: one file per format named by campaign and platform, and one zip."""

from __future__ import annotations

import io
import zipfile

import pytest

from kling.assembly import AssemblyError, deliver, deliverable_name, zip_deliverables
from kling.assembly.deliverables import slug

from .support import decoded_video

FORMATS = {"16:9": ("crop", (0.5, 0.5)), "9:16": ("blur", (0.5, 0.5)),
           "4:5": ("crop", (0.2, 0.5)), "1:1": ("blur", (0.5, 0.5))}


def test_one_file_per_format_named_by_campaign_and_platform(media, tmp_path):
    seen: list[float] = []
    paths = deliver(media.clips[0], tmp_path / "out", "Été 2025: Sunny Sale!", FORMATS,
                    progress=seen.append)
    assert [p.name for p in paths] == [
        "ete-2025-sunny-sale_youtube_320x180.mp4",
        "ete-2025-sunny-sale_tiktok-reels-shorts_180x320.mp4",
        "ete-2025-sunny-sale_instagram-feed_180x224.mp4",
        "ete-2025-sunny-sale_square_180x180.mp4",
    ]
    assert [decoded_video(p)[2] for p in paths] == [(320, 180), (180, 320), (180, 224),
                                                   (180, 180)]
    assert seen == sorted(seen) and seen[-1] == 1.0

    archive = zipfile.ZipFile(io.BytesIO(zip_deliverables(paths)))
    assert archive.namelist() == [p.name for p in paths]
    assert all(archive.read(p.name) == p.read_bytes() for p in paths)

    written = zip_deliverables(paths, tmp_path / "spot.zip")
    assert zipfile.ZipFile(written).namelist() == [p.name for p in paths]


def test_names_are_safe_file_names():
    assert slug("  Summer / Sale — 50%  ") == "summer-sale-50"
    assert slug("日本") == "spot"
    assert deliverable_name("Q3 Launch", "1:1", (1080, 1080)) == "q3-launch_square_1080x1080.mp4"


def test_delivery_errors_are_plain(media, tmp_path):
    with pytest.raises(AssemblyError, match="at least one"):
        deliver(media.clips[0], tmp_path, "c", {})
    with pytest.raises(AssemblyError, match="no delivery format"):
        deliver(media.clips[0], tmp_path, "c", {"2:1": ("crop", (0.5, 0.5))})
    twice = [media.clips[0], media.clips[0]]
    with pytest.raises(AssemblyError, match="same file name"):
        zip_deliverables(twice)
