"""The history log at 100,000 rows, beside small logs measured in the same run.

(a) one append to a 100,000-row log beside one append to an empty log (goal: at most 2x,
    because an append never rewrites the file and, to find a torn last row, reads only
    what other writers appended since its own last append);
(b) a cold load of 100,000 rows (goal: under 1.5 s), beside a cold load of 100 rows;
(c) a repeated load when nothing changed (goal: served from cache, under 50 ms), beside
    the cold load;
(d) a load after another writer appended one row (a pending row, or an outcome: what a
    running job writes every second or two), beside the cold load (goal: ratio <= 0.1,
    because only the appended record is parsed and folded into the cached frame).

The large log is written directly in the log's own format (one `_encode` call: RFC 4180
CSV, one prompt in fifty on two lines), not by 100,000 appends. `write_synthetic_log` is
also meant for other benchmarks (History page).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import Figure, best_of, table
from kling.history import HISTORY_COLUMNS, HistoryLog
from kling.history.csvformat import encode as _encode
from kling.storage.process import process_owner
from kling.models import GenerationRequest, GenerationResult

SCENES = ("waves crashing on a rocky shore", "a red fox running through fresh snow",
          "neon city street at night, rain", "a chef flipping pancakes in slow motion",
          "hot air balloons rising over a valley at dawn", "a skateboarder, \"kickflip\"",
          "coffee poured into a cup, steam curling", "a paper boat on a rainy street")
CAMERAS = ("drone shot", "smooth camera pan", "tracking shot", "close-up, handheld")
PACES = ("slow motion", "fast-paced", "gentle floating", "time-lapse")
#: Where the synthetic videos "are": a loopback port nobody listens on (9, discard), so
#: the studio's start-up catch-up of missing downloads, and a browser showing the
#: gallery, fail at once instead of looking a name up on the network.
VIDEO_HOST = "http://127.0.0.1:9/bench-videos"


def synthetic_rows(count: int, *, seed: int = 7, days: int = 120,
                   video_file: str | None = None) -> list[dict]:
    """`count` plausible final-state rows: mostly succeeded, some failed, a few pending.

    `video_file`, when given, is recorded as every success's archived file (an existing
    file there tells the studio's start-up catch-up that nothing is missing)."""
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(days=days)
    owner = "bench-host:1:0-0"
    rows = []
    for i in range(count):
        created = start + timedelta(seconds=i * days * 86400 / max(count, 1))
        duration = rng.choice(("5", "10"))
        roll = rng.random()
        status = "succeeded" if roll < 0.9 else "failed" if roll < 0.98 else "pending"
        prompt = f"{rng.choice(SCENES)}, {rng.choice(CAMERAS)}, {rng.choice(PACES)}"
        if i % 50 == 0:
            prompt += "\nsecond line, with a comma"
        row = {
            "id": f"{created:%Y%m%d-%H%M%S}-{i:08x}", "created_at": created.isoformat(
                timespec="milliseconds"), "status": status, "prompt": prompt,
            "duration": duration, "aspect_ratio": rng.choice(("16:9", "9:16")),
            "seed": rng.randint(0, 2**32 - 1), "model": "kling-2-1-master",
            "template_id": rng.choice(("", "", "product-reveal", "city-night", "nature")),
            "source": rng.choice(("studio", "cli")), "owner": owner,
            "cost_usd": int(duration) * 0.28,
        }
        if status == "succeeded":
            row.update(inference_s=round(rng.uniform(10, 30), 2),
                       elapsed_s=round(rng.uniform(11, 35), 2),
                       finished_at=(created + timedelta(seconds=30)).isoformat(
                           timespec="milliseconds"),
                       video_url=f"{VIDEO_HOST}/{i}.mp4",
                       video_path=video_file or f"data/videos/{row['id']}.mp4",
                       video_width=1920, video_height=1088, video_duration=float(duration))
        elif status == "failed":
            row.update(error="Firemoon could not generate this video. Try again.",
                       error_type="generation_failed", http_status=500, cost_usd=0.0,
                       elapsed_s=round(rng.uniform(1, 20), 2))
        rows.append(row)
    return rows


def write_synthetic_log(data_dir: str | Path, count: int, *, archived: bool = False) -> Path:
    """Write a history log of `count` rows into `data_dir` in one go; its path.

    With `archived`, every success records one placeholder file (created here) as its
    archived video, so that a studio opened on this folder does not spend its first
    minute retrying downloads (each failure appends a row, and the log reloads)."""
    path = Path(data_dir) / "history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    video_file = None
    if archived:
        placeholder = path.parent / "bench-placeholder.mp4"
        placeholder.touch()
        video_file = str(placeholder.resolve())
    with open(path, "wb") as handle:
        handle.write(_encode(HISTORY_COLUMNS, synthetic_rows(count, video_file=video_file),
                             header=True))
        handle.flush()
        # On disk before timing starts, so the first append's fsync does not pay for it.
        os.fsync(handle.fileno())
    return path


def _append_time(data_dir: Path, repeat: int = 30) -> float:
    log = HistoryLog(data_dir)
    request = GenerationRequest.create("a lighthouse in a storm, drone shot", "5", "16:9", 1)
    log.record_pending(request)  # first append creates the file and the lock
    return best_of(lambda: log.record_pending(request), repeat)


def _load_after_append(data_dir: Path, repeat: int = 10) -> float:
    """Best of `repeat` loads, each after another writer appended one row: a new
    generation's pending row, then its outcome, in turn."""
    reader, writer = HistoryLog(data_dir), HistoryLog(data_dir)
    reader.load()
    request = GenerationRequest.create("a lighthouse in a storm, drone shot", "5", "16:9", 1)
    outcome = GenerationResult.parse({
        "videos": [{"url": f"{VIDEO_HOST}/lighthouse.mp4", "duration": 5, "width": 1920,
                    "height": 1088, "content_type": "video/mp4"}],
        "seed": 1, "timings": {"inference": 15.0},
    })
    times, gen_id = [], None
    for _ in range(repeat):
        if gen_id is None:
            gen_id = writer.record_pending(request)
        else:
            writer.record_success(gen_id, outcome, elapsed_s=16.0)
            gen_id = None
        start = time.perf_counter()
        reader.load()
        times.append(time.perf_counter() - start)
    return min(times)


def _cold_load(data_dir: Path, repeat: int = 3) -> float:
    # A new HistoryLog has an empty cache, so every call parses the file.
    return best_of(lambda: HistoryLog(data_dir).load(), repeat)


def run() -> list[Figure]:
    process_owner()
    with tempfile.TemporaryDirectory() as tmp:
        big, small, empty = Path(tmp, "big"), Path(tmp, "small"), Path(tmp, "empty")
        write_synthetic_log(big, 100_000)
        write_synthetic_log(small, 100)
        empty.mkdir()

        append_empty = _append_time(empty)
        append_big = _append_time(big)

        small_load = _cold_load(small)
        cold = _cold_load(big)
        log = HistoryLog(big)
        log.load()
        start = time.perf_counter()
        log.load()
        first_repeat = time.perf_counter() - start
        repeated = max(first_repeat, best_of(log.load, 20))
        after_append = _load_after_append(big)

    return [
        Figure(area="history", name="one append to a 100,000-row log", value=append_big,
               unit="s", baseline_name="append to an empty log", baseline_value=append_empty,
               goal="ratio <= 2", met=append_big <= 2 * append_empty),
        Figure(area="history", name="cold load of 100,000 rows", value=cold, unit="s",
               baseline_name="cold load of 100 rows", baseline_value=small_load,
               goal="value < 1.5 s", met=cold < 1.5),
        Figure(area="history", name="repeated load, nothing changed", value=repeated,
               unit="s", baseline_name="cold load of 100,000 rows", baseline_value=cold,
               goal="value < 50 ms", met=repeated < 0.05),
        Figure(area="history", name="load after one append to a 100,000-row log",
               value=after_append, unit="s", baseline_name="cold load of 100,000 rows",
               baseline_value=cold, goal="ratio <= 0.1", met=after_append <= 0.1 * cold),
    ]


if __name__ == "__main__":
    print(table(run()))
