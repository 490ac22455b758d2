"""How the studio encodes what it writes: H.264 yuv420p by x264, AAC audio, settings
written once here (the benchmark hands the same ones to FFmpeg's command line).

`VideoSink` encodes frames in order into an open output, keeps any audio in step with the
picture and reports progress as frames are written.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Protocol

import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream

from .picture import ColourSpace, to_video_frame

#: x264's speed/size trade-off: fast enough to assemble a 30 s HD spot in well under a
#: minute on a laptop, at a quality (CRF) that holds up on a phone and a TV.
X264_PRESET = "veryfast"
X264_CRF = 20
#: 0 lets x264 choose its thread count from the machine's cores.
X264_THREADS = 0
#: A key frame every two seconds keeps seeking in a browser quick.
KEYFRAME_SECONDS = 2
AUDIO_CODEC = "aac"
AUDIO_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AUDIO_BIT_RATE = 192_000

Progress = Callable[[float], None]


def x264_options() -> dict[str, str]:
    """The encoder options every video the studio writes is made with."""
    return {"preset": X264_PRESET, "crf": str(X264_CRF), "threads": str(X264_THREADS)}


def add_video_stream(container: OutputContainer, width: int, height: int, rate: Fraction,
                     space: ColourSpace) -> VideoStream:
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    ctx = stream.codec_context
    ctx.gop_size = max(1, round(KEYFRAME_SECONDS * rate))
    ctx.options = x264_options()
    # PyAV asks encoders for slice threads, which makes x264 cut every frame into slices
    # (bigger files for no gain here); frame threads are x264's and FFmpeg's default.
    ctx.thread_type = "FRAME"
    # The YUV numbers are passed through from the clips: tag them with the matrix they
    # were made with, so players show the intended colours.
    ctx.colorspace = ctx.color_primaries = ctx.color_trc = space.tag
    stream.time_base = 1 / rate
    return stream


class AudioTrack(Protocol):
    """Audio written alongside the picture, up to a point in time."""

    def write_until(self, seconds: float) -> None: ...

    def finish(self) -> None: ...


class VideoSink:
    """Encodes frames in order; `total` frames are expected, for progress."""

    def __init__(self, container: OutputContainer, stream: VideoStream, rate: Fraction,
                 total: int, progress: Progress | None = None,
                 audio: AudioTrack | None = None) -> None:
        self._container, self._stream, self._rate = container, stream, float(rate)
        self._total, self._progress, self._audio = max(1, total), progress, audio
        self.written = 0

    def write(self, frame: np.ndarray) -> None:
        video_frame = to_video_frame(frame)
        video_frame.pts = self.written
        self._container.mux(self._stream.encode(video_frame))
        self.written += 1
        if self._audio is not None:
            # Audio goes in step with the picture, so the file interleaves well.
            self._audio.write_until(self.written / self._rate)
        if self._progress is not None:
            self._progress(min(1.0, self.written / self._total))

    def finish(self) -> None:
        self._container.mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish()
