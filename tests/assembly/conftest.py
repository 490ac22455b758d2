"""Clips and files made once for all the assembly tests (each is small and quick)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from .support import make_clip, make_wav, transcode_audio


@dataclass(frozen=True)
class Media:
    """Inputs for the tests: three 1 s 320x180 clips of distinct colours with the same
    codec settings, a portrait clip, a left-red/right-blue clip, music (WAV, MP3, M4A)
    and files that are neither."""

    clips: tuple[Path, Path, Path]
    portrait: Path
    halves: Path
    short_music: Path
    long_music: Path
    mp3: Path
    m4a: Path
    text_file: Path
    png: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    clips = (make_clip(folder / "one.mp4", (110, 110, 110)),
             make_clip(folder / "two.mp4", (60, 90, 140)),
             make_clip(folder / "three.mp4", (140, 100, 60)))
    portrait = make_clip(folder / "portrait.mp4", (110, 110, 110), size=(180, 320))
    halves = make_clip(folder / "halves.mp4", (220, 30, 30), right=(30, 30, 220),
                       seconds=0.5)
    text_file = folder / "notes.mp4"
    text_file.write_text("These are my notes, not a video.\n")
    png = folder / "cover.png"
    Image.new("RGB", (64, 64), (255, 128, 0)).save(png)
    long_music = make_wav(folder / "long.wav", 6.0)
    return Media(clips, portrait, halves, make_wav(folder / "short.wav", 1.2), long_music,
                 transcode_audio(long_music, folder / "long.mp3", "libmp3lame"),
                 transcode_audio(long_music, folder / "long.m4a", "aac"), text_file, png)


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "spot.mp4"
