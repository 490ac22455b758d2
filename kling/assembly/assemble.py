"""One spot from several clips: `assemble(clips, out, ...)`.

The inputs are checked first (every clip opened, the music opened, the captions counted),
so a bad input fails before anything is written. Then either

- cut-only clips with interchangeable streams and nothing added are stream-copied
  (`concat`: no decoding, the picture untouched), or
- every frame is decoded, fitted to the first clip's size, given its clip's caption,
  crossfaded into the next clip as the `timeline` says, followed by the end card, and
  encoded (`encoding`) with the music under it.

Frames are streamed: at most two clips are open at once (during a crossfade) and one frame
of each is held, so memory does not grow with the number or length of the clips.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .captions import caption_overlay
from .concat import can_stream_copy, concatenate
from .decode import clip_frames
from .encoding import Progress, VideoSink, add_video_stream
from .end_card import EndCard, end_card_image
from ..errors import AssemblyError
from .media import ClipInfo, describe, open_input, probe
from .music import MusicTrack, check_music
from .output import RECIPE_TAG, atomic_output, open_mp4
from .picture import Overlay, from_image, mix
from .recipe import encode_recipe
from .timeline import Timeline, check_crossfade, plan

Source = Callable[[], Iterator[np.ndarray]]


@dataclass(frozen=True)
class AssemblyResult:
    """What was written: where, how long, how big, and how."""

    path: Path
    duration: float
    width: int
    height: int
    #: True when the clips' packets were copied as they were (no re-encoding).
    stream_copy: bool
    has_audio: bool
    #: (start, end) in seconds of each clip in the spot, crossfades included.
    clip_spans: tuple[tuple[float, float], ...]
    end_card_span: tuple[float, float] | None = None


def _caption_texts(captions: Sequence[str | None] | None, count: int) -> list[str | None]:
    if captions is None:
        return [None] * count
    if len(captions) != count:
        raise AssemblyError(f"There are {len(captions)} captions for {count} clips: give "
                            "one per clip (empty for none).")
    return [text if text and text.strip() else None for text in captions]


def assemble(
    clips: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    crossfade: float = 0.0,
    captions: Sequence[str | None] | None = None,
    end_card: EndCard | None = None,
    music: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    recipe: dict[str, Any] | None = None,
) -> AssemblyResult:
    """Assemble `clips` (MP4 paths, in order) into the MP4 `out`.

    `crossfade` is 0 (cuts) to 1 second; `captions` one text (or None) per clip, burned
    in during that clip; `end_card` is appended after the clips; `music` is an audio
    file laid under the whole spot with a fade-out (without it the spot is silent: the
    clips' own sound, which Kling clips do not have, is not kept);
    `recipe` is kept in the file's metadata. `progress(fraction)` is called as frames
    are written, with 1.0 last once the file is in place; an exception it raises stops
    the assembly and leaves nothing behind. Raises AssemblyError for inputs that cannot
    be used, naming the one at fault.
    """
    if not clips:
        raise AssemblyError("There are no clips to assemble.")
    check_crossfade(crossfade)
    names = [f"Clip {number}" for number in range(1, len(clips) + 1)]
    with ExitStack() as opened:
        # Quick opens are enough to check the clips and to copy them; a stream copy reads
        # its packets from these same files.
        sources = [opened.enter_context(open_input(path, name, quick=True))
                   for path, name in zip(clips, names)]
        infos = [describe(source, path, name)
                 for source, path, name in zip(sources, clips, names)]
        texts = _caption_texts(captions, len(infos))
        music_path = check_music(music) if music is not None else None
        recipe_text = encode_recipe(recipe) if recipe is not None else None
        cut_only = crossfade == 0 and not any(texts) and end_card is None and music is None
        if cut_only and can_stream_copy(infos):
            with atomic_output(out) as temporary:
                spans = concatenate(infos, sources, temporary, recipe_text, progress)
            result = AssemblyResult(Path(out), spans[-1][1], infos[0].width,
                                    infos[0].height, True, False, spans)
            if progress is not None:
                progress(1.0)
            return result
    # Re-encoding needs each clip's colours, and opens each clip again when its turn
    # comes, so only the ones being mixed are open at once.
    infos = [probe(path, name) for path, name in zip(clips, names)]
    with atomic_output(out) as temporary:
        result = _encode(infos, Path(out), temporary, crossfade, texts, end_card,
                         music_path, recipe_text, progress)
    if progress is not None:
        progress(1.0)
    return result


def _encode(infos: list[ClipInfo], out: Path, temporary: Path, crossfade: float,
            texts: list[str | None], end_card: EndCard | None, music: Path | None,
            recipe_text: str | None, progress: Progress | None) -> AssemblyResult:
    first = infos[0]
    # 4:2:0 needs even sizes; an odd one loses its last row or column.
    width, height, space, rate = first.width // 2 * 2, first.height // 2 * 2, \
        first.space, first.rate
    timeline = plan(infos, rate, crossfade, end_card.seconds if end_card else None)
    sources: list[Source] = [partial(clip_frames, info, width, height, space, rate, length)
                             for info, length in zip(infos, timeline.lengths)]
    overlays = [caption_overlay(text, width, height, space) for text in texts]
    if end_card is not None:
        card = from_image(end_card_image(end_card, width, height), space)
        sources.append(partial(repeat, card, timeline.lengths[-1]))

    seconds = timeline.total / rate
    with open_mp4(temporary) as container:
        if recipe_text is not None:
            container.metadata[RECIPE_TAG] = recipe_text
        stream = add_video_stream(container, width, height, rate, space)
        audio = MusicTrack(music, container, float(seconds)) if music else None
        sink = VideoSink(container, stream, rate, timeline.total, progress, audio)
        _compose(sources, timeline, _Captions(timeline, overlays, width, height), sink)
        sink.finish()
    spans = timeline.spans()
    return AssemblyResult(out, float(seconds), width, height, False, audio is not None,
                          spans[:len(infos)], spans[-1] if end_card is not None else None)


class _Captions:
    """Burns each clip's caption onto the output frames where that clip is on screen."""

    def __init__(self, timeline: Timeline, overlays: list[Overlay | None], width: int,
                 height: int) -> None:
        self._windows = [(timeline.shown(i), overlay) for i, overlay in enumerate(overlays)
                         if overlay is not None]
        self._width, self._height = width, height

    def apply(self, frame: np.ndarray, index: int, owned: bool) -> np.ndarray:
        """`frame` as output frame `index`; a frame not `owned` is copied before it is
        drawn on (a clip may hand out the same frame twice)."""
        for (first, end), overlay in self._windows:
            if first <= index < end:
                frame = frame if owned else frame.copy()
                overlay.blend(frame, self._width, self._height)
                break
        return frame


def _compose(sources: list[Source], timeline: Timeline, captions: _Captions,
             sink: VideoSink) -> None:
    """Write every source's frames in turn, mixing each one's tail into the next's head."""
    current = sources[0]()
    incoming: Iterator[np.ndarray] | None = None
    try:
        for index, length in enumerate(timeline.lengths):
            fade = timeline.fade_out(index)
            for _ in range(length - timeline.fade_in(index) - fade):
                sink.write(captions.apply(next(current), sink.written, owned=False))
            if index + 1 == len(sources):
                break
            incoming = sources[index + 1]()
            for step in range(fade):
                mixed = mix(next(current), next(incoming), (step + 1) / (fade + 1))
                sink.write(captions.apply(mixed, sink.written, owned=True))
            _close(current)
            current, incoming = incoming, None
    finally:
        _close(current)
        _close(incoming)


def _close(frames: Iterator[np.ndarray] | None) -> None:
    """Stop a clip's decoding early, closing its file."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()
