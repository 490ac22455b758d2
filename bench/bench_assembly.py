"""Assembling spots, beside FFmpeg's own command line and a plain read of the files.

Six 5 s 1920x1088 H.264 clips (the size Kling delivers) are rendered once with PyAV, each
a moving gradient of its own colour under a drifting grain, so that they cost about what
real footage costs to decode and encode (about 20 Mbit/s). Then:

- **crossfades and captions**: `assemble` with 0.5 s crossfades and a caption per clip,
  against Debian's `ffmpeg` running the same filter graph (each clip's caption picture
  overlaid, `xfade` between the clips) on the same files, both encoding with the studio's
  x264 settings (named in the figure). Wall time and CPU time, since the machine may be
  shared. Goal: at most 1.2 times FFmpeg's.
- **cut-only**: `assemble` of the same clips with nothing added (a stream copy) against
  reading the files' bytes (goal: at most 2 times), and against FFmpeg's own stream copy
  (`-f concat -c copy`, faststart like ours; goal: at most 1.2 times).
- **memory**: the peak resident memory an assembly adds, with 6 clips against 3: it
  must not grow with the number of clips (goal: at most 1.2 times).

Each crossfade assembly runs in a child process of its own, so its peak memory is its own.
Without /usr/bin/ffmpeg the FFmpeg figures say "ffmpeg not installed" instead of failing.
`python -m bench.bench_assembly` prints the figures.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from bench.common import Figure, bench_environ, best_of, table
from kling.assembly import assemble
from kling.assembly.captions import caption_image
from kling.assembly.encoding import KEYFRAME_SECONDS, X264_CRF, X264_PRESET, X264_THREADS

WIDTH, HEIGHT, RATE, SECONDS, CLIPS = 1920, 1088, 24, 5, 6
CROSSFADE = 0.5
#: Turns each side of the FFmpeg comparison takes.
ROUNDS = 2
CAPTIONS = ["Golden hour on the coast", "Made for long summer days", "Light as air",
            "Built to last", "Now in six colours", "Find yours today"]
FFMPEG = "/usr/bin/ffmpeg"
ROOT = Path(__file__).resolve().parents[1]
SPOT = f"{CLIPS} x {SECONDS} s {WIDTH}x{HEIGHT} clips"
SETTINGS = (f"x264 {X264_PRESET} crf {X264_CRF}, key frame every {KEYFRAME_SECONDS} s, "
            f"threads {X264_THREADS or 'auto'}")
#: Amplitude of the grain: enough texture for a realistic bit rate.
_GRAIN = 24


def render_clip(path: Path, index: int) -> Path:
    """A 5 s moving gradient of its own hue under a drifting grain, H.264 yuv420p like a
    delivered clip."""
    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    stream = container.add_stream("libx264", rate=RATE)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
    frames = SECONDS * RATE
    grain = np.random.default_rng(index).integers(0, _GRAIN, (HEIGHT, WIDTH + 4 * frames),
                                                  dtype=np.uint8)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    ramp = (xx * 0.08 + yy * 0.05).astype(np.float32)
    u = np.full((HEIGHT // 2, WIDTH // 2), 128 + 14 * np.cos(index), np.uint8)
    v = np.full((HEIGHT // 2, WIDTH // 2), 128 + 14 * np.sin(index), np.uint8)
    for n in range(frames):
        luma = (40 + (ramp + n * 1.5 + index * 20) % 160).astype(np.uint8)
        luma += grain[:, 4 * n: 4 * n + WIDTH]
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([luma.ravel(), u.ravel(), v.ravel()]).reshape(-1, WIDTH),
            format="yuv420p")
        frame.pts = n
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


def _ffmpeg_command(clips: list[Path], captions: list[Path], out: Path) -> list[str]:
    """FFmpeg doing what `assemble` does: each clip's caption overlaid, then xfades."""
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
    for clip in clips:
        command += ["-i", str(clip)]
    for caption in captions:
        command += ["-i", str(caption)]
    graph = []
    for i, text in enumerate(CAPTIONS[:len(clips)]):
        _, x, y = caption_image(text, WIDTH, HEIGHT)
        graph.append(f"[{i}:v][{len(clips) + i}:v]overlay={x}:{y}:format=yuv420[c{i}]")
    last = "c0"
    for i in range(1, len(clips)):
        offset = i * (SECONDS - CROSSFADE)
        graph.append(f"[{last}][c{i}]xfade=transition=fade:duration={CROSSFADE}:"
                     f"offset={offset}[x{i}]")
        last = f"x{i}"
    return command + [
        "-filter_complex", ";".join(graph), "-map", f"[{last}]", "-an",
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-g", str(KEYFRAME_SECONDS * RATE), "-threads", str(X264_THREADS),
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]


def _child(paths: list[str], out: str) -> None:
    """In a child process: one crossfade assembly; prints its wall and CPU time and the
    peak memory it added."""

    def usage() -> tuple[float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime, own.ru_maxrss / 1024

    cpu_before, peak_before = usage()
    start = time.perf_counter()
    assemble(paths, out, crossfade=CROSSFADE, captions=CAPTIONS[:len(paths)])
    seconds = time.perf_counter() - start
    cpu_after, peak_after = usage()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_after - cpu_before,
                      "rss_growth_mb": peak_after - peak_before}))


def _assemble_in_child(clips: list[Path], out: Path) -> dict[str, float]:
    code = ("import json, sys; from bench.bench_assembly import _child; "
            "_child(json.loads(sys.argv[1]), sys.argv[2])")
    done = subprocess.run([sys.executable, "-c", code, json.dumps([str(c) for c in clips]),
                           str(out)], cwd=ROOT, env=bench_environ(), check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="kling-bench-assembly-") as tmp:
        folder = Path(tmp)
        clips = [render_clip(folder / f"clip{i}.mp4", i) for i in range(CLIPS)]
        command = _ffmpeg_command(clips, _caption_pictures(folder), folder / "ffmpeg.mp4") \
            if Path(FFMPEG).exists() else None
        # Both sides take turns and each keeps its best: a shared machine's load comes
        # and goes.
        ours, theirs = [], []
        for _ in range(ROUNDS):
            ours.append(_assemble_in_child(clips, folder / "ours.mp4"))
            if command is not None:
                theirs.append(_timed_ffmpeg(command))
        half = _assemble_in_child(clips[:CLIPS // 2], folder / "half.mp4")
        return [*_versus_ffmpeg(ours, theirs), *_cut_only(clips, folder),
                _memory(ours[0], half)]


def _caption_pictures(folder: Path) -> list[Path]:
    """The captions `assemble` draws, as pictures for FFmpeg's overlay."""
    paths = []
    for i, text in enumerate(CAPTIONS):
        image, _, _ = caption_image(text, WIDTH, HEIGHT)
        paths.append(folder / f"caption{i}.png")
        image.save(paths[-1])
    return paths


def _timed_ffmpeg(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one FFmpeg run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _versus_ffmpeg(ours: list[dict[str, float]], theirs: list[tuple[float, float]]
                   ) -> list[Figure]:
    name = f"{SPOT}, {CROSSFADE} s crossfades and captions ({SETTINGS})"
    goal = "ratio <= 1.2"
    wall, cpu = min(r["seconds"] for r in ours), min(r["cpu_s"] for r in ours)
    if not theirs:
        return [Figure("assembly", name, wall, "s", "ffmpeg not installed", 0.0, goal,
                       False)]
    their_wall, their_cpu = min(w for w, _ in theirs), min(c for _, c in theirs)
    baseline = "ffmpeg command, same graph"
    return [
        Figure("assembly", name + ", wall", wall, "s", baseline, their_wall, goal,
               wall <= 1.2 * their_wall),
        Figure("assembly", name + ", CPU", cpu, "s", baseline, their_cpu, goal,
               cpu <= 1.2 * their_cpu),
    ]


def _cut_only(clips: list[Path], folder: Path) -> list[Figure]:
    outputs = iter(folder / f"cut{n}.mp4" for n in range(100))

    def read() -> None:
        for clip in clips:
            clip.read_bytes()

    def copy() -> None:
        # A new file each time: replacing the last one would add its deletion.
        assert assemble(clips, next(outputs)).stream_copy

    read()  # both measured from a warm page cache
    copy_s, read_s = best_of(copy), best_of(read)
    name = f"cut-only assembly of {SPOT} (stream copy)"
    figures = [Figure("assembly", name, copy_s, "s", "reading the six files", read_s,
                      "ratio <= 2", copy_s <= 2 * read_s)]
    if not Path(FFMPEG).exists():
        return figures + [Figure("assembly", name, copy_s, "s", "ffmpeg not installed", 0.0,
                                 "ratio <= 1.2", False)]
    listing = folder / "clips.txt"
    listing.write_text("".join(f"file '{clip}'\n" for clip in clips))
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
               "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart"]
    theirs = min(_timed_ffmpeg(command + [str(next(outputs))])[0] for _ in range(5))
    return figures + [Figure("assembly", name, copy_s, "s", "ffmpeg -f concat -c copy",
                             theirs, "ratio <= 1.2", copy_s <= 1.2 * theirs)]


def _memory(full: dict[str, float], half: dict[str, float]) -> Figure:
    growth_full, growth_half = full["rss_growth_mb"], half["rss_growth_mb"]
    return Figure("assembly", f"peak memory added by a crossfade assembly of {CLIPS} clips",
                  growth_full, "MB", f"the same with {CLIPS // 2} clips", growth_half,
                  "ratio <= 1.2 (flat)", growth_full <= 1.2 * growth_half)


if __name__ == "__main__":
    print(table(run()))
