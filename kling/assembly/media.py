"""Reading input files: what a clip is (`ClipInfo`), and opening and reading files with
errors that name the file at fault in plain words.

Every input is opened through `open_input` and read inside `reading` (or through
`packets`), so whatever FFmpeg says about a missing, foreign or damaged file becomes one
`AssemblyError` with a sentence such as "Clip 3 cannot be read: it is not a video file."
Errors of writing are left to the output's side, so they are never blamed on an input.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
from av.container import InputContainer

from ..errors import AssemblyError
from .picture import ColourSpace

#: Frame rate assumed for a stream that does not state one.
_FALLBACK_RATE = Fraction(24)
#: Opening normally decodes a few frames to learn the pixel format and colours; at HD
#: sizes that costs more than copying the whole clip. A quick open decodes nothing.
_QUICK = {"skip_frame": "all"}


def _reason(exc: BaseException, kind: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file does not exist"
    if isinstance(exc, (IsADirectoryError, PermissionError)):
        return "the file cannot be opened"
    return f"it is not {kind} file the studio can read"


@contextmanager
def open_input(path: str | os.PathLike[str], what: str, kind: str = "a video", *,
               quick: bool = False) -> Iterator[InputContainer]:
    """Open `path` for reading; `what` names it in errors ("Clip 3", "The music file").
    `quick` learns only what the container states (enough to copy its packets)."""
    try:
        container = av.open(str(path), options=_QUICK if quick else None)
    except (OSError, av.FFmpegError) as exc:
        raise AssemblyError(f"{what} cannot be read: {_reason(exc, kind)}.") from exc
    try:
        yield container
    finally:
        container.close()


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Around demuxing or decoding `what`: FFmpeg's complaints become a plain error."""
    try:
        yield
    except av.FFmpegError as exc:
        raise AssemblyError(f"{what} cannot be read: the file is damaged.") from exc


def packets(container: InputContainer, streams: Sequence[av.stream.Stream] | av.stream.Stream,
            what: str) -> Iterator[av.Packet]:
    """The container's packets of `streams`, with the demuxer's end-of-stream markers
    (empty packets that flush a decoder); read errors name `what`."""
    with reading(what):
        yield from container.demux(streams)


@dataclass(frozen=True)
class ClipInfo:
    """One input video as the assembly needs it (its first video stream)."""

    path: Path
    #: How errors name it: "Clip 3", "The spot".
    name: str
    width: int
    height: int
    rate: Fraction
    duration: float
    space: ColourSpace
    #: Equal for two clips whose packets can follow each other in one stream unchanged
    #: (the parameter sets in `extradata` fix pixel format and colours too).
    signature: tuple

    def frames_at(self, rate: Fraction) -> int:
        """How many frames the clip lasts at `rate`."""
        return max(1, round(self.duration * rate))


def describe(container: InputContainer, path: str | os.PathLike[str], name: str
             ) -> ClipInfo:
    """The facts of the video open in `container`; AssemblyError if it is not one. Its
    colour space is only known if the container was not opened `quick`."""
    if not container.streams.video:
        raise AssemblyError(f"{name} cannot be read: it has no picture.")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = (container.duration or 0) / av.time_base
    if duration <= 0 or not ctx.width or not ctx.height:
        raise AssemblyError(f"{name} cannot be read: it holds no frames.")
    rate = stream.average_rate or stream.guessed_rate or _FALLBACK_RATE
    signature = (ctx.name, ctx.width, ctx.height, ctx.profile, bytes(ctx.extradata or b""),
                 stream.time_base, rate)
    return ClipInfo(Path(path), name, ctx.width, ctx.height, Fraction(rate), duration,
                    ColourSpace.of(stream.colorspace, ctx.height), signature)


def probe(path: str | os.PathLike[str], name: str) -> ClipInfo:
    """The facts of the video at `path` (nothing decoded but what opening needs)."""
    with open_input(path, name) as container:
        return describe(container, path, name)
