"""Cut-only assembly without re-encoding: the clips' packets one after another in one
stream, their timestamps moved along by the length of everything before them.

This is only correct for clips whose streams are interchangeable (same codec, size,
profile, parameter sets, time base and frame rate: `ClipInfo.signature`), which is what
`can_stream_copy` checks; the picture then stays bit for bit what the model delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from av.container import InputContainer

from .encoding import Progress
from .media import ClipInfo, packets
from .output import RECIPE_TAG, open_mp4


def can_stream_copy(clips: Sequence[ClipInfo]) -> bool:
    return len({clip.signature for clip in clips}) == 1


def concatenate(clips: Sequence[ClipInfo], sources: Sequence[InputContainer], path: Path,
                recipe_text: str | None = None, progress: Progress | None = None
                ) -> tuple[tuple[float, float], ...]:
    """Write the video packets of the clips (open in `sources`), rebased, into a new MP4
    at `path`; return each clip's (start, end) in seconds."""
    spans: list[tuple[float, float]] = []
    total = sum(clip.duration for clip in clips)
    with open_mp4(path) as out:
        if recipe_text is not None:
            out.metadata[RECIPE_TAG] = recipe_text
        target = None
        offset = 0  # in the clips' common time base
        for clip, source in zip(clips, sources):
            stream = source.streams.video[0]
            if target is None:
                target = out.add_stream_from_template(stream)
            time_base = stream.time_base
            frame_ticks = round(1 / (clip.rate * time_base))
            shift = offset - (stream.start_time or 0)
            end = offset
            for packet in packets(source, stream, clip.name):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.dts += shift
                packet.pts += shift
                end = max(end, packet.pts + (packet.duration or frame_ticks))
                packet.stream = target
                out.mux(packet)
                if progress is not None:
                    progress(min(1.0, float(packet.pts * time_base) / total))
            spans.append((float(offset * time_base), float(end * time_base)))
            offset = end
    return tuple(spans)
