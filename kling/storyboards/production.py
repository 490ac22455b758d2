"""Making a storyboard: queueing its takes, finding them in the history, picking one per
shot, and assembling the picked takes into a spot and its delivery formats.

Takes are ordinary generations: they go through the job queue (so budgets, pacing and the
possibly-billed rule apply as everywhere) with `storyboard_id` and the shot's key, and the
history is where they are found again, by any page or process. Assembly and delivery are
video work that takes seconds to minutes, so `SpotMaker` runs them on a background thread
of its own and the pages follow its `SpotTask` snapshots; a worker thread never touches
Streamlit.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..assembly import AssemblyError, EndCard, assemble, deliver, read_recipe
from ..assembly.reframe import MODES
from ..billing import possibly_billed
from ..errors import KlingError, StoryboardError
from ..history.schema import ASSEMBLED_SOURCE, new_id
from ..models import MAX_SEED, MODEL_NAME, STUDIO_VERSION
from ..stores import HistoryStore, JobRunner, StoryboardStore, VideoStore
from .model import Shot, Storyboard, problems

log = logging.getLogger("kling.storyboards")

#: Where a storyboard's delivery files are written, under the data folder.
DELIVERIES_FOLDER = "deliveries"
#: One framing per delivery format: ("crop", (x, y)) with a movable focus, or ("blur", ...).
Framing = tuple[str, tuple[float, float]]


@dataclass(frozen=True)
class Take:
    """One generation made for a shot, as the history has it now."""

    id: str
    status: str
    seed: int | None
    rating: int | None
    approved: bool
    possibly_billed: bool
    created_at: Any

    @property
    def usable(self) -> bool:
        return self.status == "succeeded"


def takes_by_shot(history: pd.DataFrame, board: Storyboard) -> dict[str, list[Take]]:
    """Every take of `board`'s shots in `history` (a loaded frame), newest first per shot."""
    found: dict[str, list[Take]] = {shot.key: [] for shot in board.shots}
    if "storyboard_id" not in history:
        return found
    rows = history[(history["storyboard_id"] == board.id) &
                   (history["source"] != ASSEMBLED_SOURCE)]
    for row in rows.itertuples(index=False):
        if row.shot not in found:
            continue  # a shot removed since: its takes stay in the history
        rating = None if pd.isna(row.rating) else int(row.rating)
        seed = None if pd.isna(row.seed) else int(row.seed)
        found[row.shot].append(Take(
            id=row.id, status=row.status, seed=seed, rating=rating,
            approved=row.review_status == "approved",
            possibly_billed=possibly_billed(row.status, row.error_type),
            created_at=row.created_at))
    return found


def pick(shot: Shot, takes: list[Take]) -> str | None:
    """The take used for `shot`: the one a person picked while it is usable, else the best
    usable take (approved first, then the best rated, then the newest)."""
    usable = [t for t in takes if t.usable]
    if shot.picked and any(t.id == shot.picked for t in usable):
        return shot.picked
    if not usable:
        return None
    best = max(usable, key=lambda t: (t.approved, t.rating or 0, str(t.created_at)))
    return best.id


def queue_takes(board: Storyboard, queue: JobRunner, owner: str, *,
                shots: list[Shot] | None = None, rng: random.Random | None = None) -> list:
    """Queue every take of `shots` (default: all) as ordinary generations; the jobs.

    Each shot's takes get consecutive seeds from a random start, so close variations of a
    good take can be made again. Nothing is queued when any shot cannot be sent.
    """
    chosen = list(board.shots if shots is None else shots)
    found = problems(board, for_generation=True)
    if found:
        raise StoryboardError(" ".join(found.values()))
    rng = rng or random.SystemRandom()
    plans = [(shot, board.requests_for(shot, rng.randint(0, MAX_SEED))) for shot in chosen]
    # One submission, so that a budget takes or refuses the storyboard's takes together.
    return queue.submit_each(
        [(request, {"source": "storyboard", "template_id": shot.template_id,
                    "template_version": shot.template_version, "storyboard_id": board.id,
                    "shot": shot.key})
         for shot, requests in plans for request in requests], owner=owner)


@dataclass(frozen=True)
class SpotTask:
    """A snapshot of one assembly or delivery running in the background."""

    id: str
    board_id: str
    kind: str  # "assemble" or "deliver"
    progress: float = 0.0
    status: str = "running"  # then "done" or "failed"
    error: str | None = None
    #: For "assemble": the history id of the spot made.
    spot_id: str | None = None
    #: For "deliver": the files written, one per format.
    paths: tuple[Path, ...] = ()
    started_at: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.status != "running"


class SpotMaker:
    """Assembles storyboards into spots and spots into delivery formats, one at a time,
    in the background (video work is CPU-bound: one at a time keeps the pages quick)."""

    def __init__(self, history: HistoryStore, archive: VideoStore,
                 storyboards: StoryboardStore, data_dir: Path) -> None:
        self._history, self._archive, self._storyboards = history, archive, storyboards
        self._deliveries = Path(data_dir) / DELIVERIES_FOLDER
        self._tasks: dict[str, SpotTask] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kling-spot")

    # -- following ----------------------------------------------------------------------
    def task(self, task_id: str) -> SpotTask | None:
        with self._lock:
            return self._tasks.get(task_id)

    def latest(self, board_id: str, kind: str) -> SpotTask | None:
        """The newest task of this kind for this storyboard, if any ran in this process."""
        with self._lock:
            mine = [t for t in self._tasks.values() if t.board_id == board_id and t.kind == kind]
        return max(mine, key=lambda t: t.started_at, default=None)

    def busy(self) -> bool:
        with self._lock:
            return any(not t.finished for t in self._tasks.values())

    def _update(self, task_id: str, **changes: Any) -> None:
        with self._lock:
            self._tasks[task_id] = dataclasses.replace(self._tasks[task_id], **changes)

    def _start(self, board: Storyboard, kind: str, work) -> SpotTask:
        task = SpotTask(id=uuid.uuid4().hex[:10], board_id=board.id, kind=kind)
        with self._lock:
            self._tasks[task.id] = task

        def run() -> None:
            try:
                self._update(task.id, status="done", progress=1.0,
                             **work(lambda f: self._update(task.id, progress=min(f, 0.99))))
            except KlingError as exc:
                self._update(task.id, status="failed", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - a task must end, and say so
                log.exception("%s of %s failed", kind, board.id)
                self._update(task.id, status="failed",
                             error=f"Something went wrong while making the video ({type(exc).__name__}).")

        self._pool.submit(run)
        return task

    # -- assembling ---------------------------------------------------------------------
    def clips_for(self, board: Storyboard, takes: dict[str, list[Take]]) -> list[str]:
        """The generation ids of the picked take of every shot, in order; StoryboardError
        naming the first shot without a usable, archived take."""
        ids = []
        for number, shot in enumerate(board.shots, start=1):
            chosen = pick(shot, takes.get(shot.key, []))
            if chosen is None:
                raise StoryboardError(f"Shot {number} has no finished take yet: generate it "
                                      "first, or wait for its takes.")
            if not self._archive.exists(chosen):
                raise StoryboardError(f"Shot {number}'s take is not in the video archive yet; "
                                      "try again in a moment.")
            ids.append(chosen)
        return ids

    def assemble(self, board: Storyboard, takes: dict[str, list[Take]], *,
                 music: bytes | None = None, music_name: str = "",
                 created_by: str | None = None) -> SpotTask:
        """Start assembling the picked takes (captions, crossfades, end card, music);
        the spot's history row names `created_by`."""
        clip_ids = self.clips_for(board, takes)
        paths = [self._archive.path_for(gen_id) for gen_id in clip_ids]
        card = self._end_card(board)
        spot_id = new_id()
        recipe = {"id": spot_id, "prompt": board.title, "style": board.style,
                  "model": MODEL_NAME,
                  "aspect_ratio": board.aspect_ratio, "storyboard_id": board.id,
                  "studio_version": STUDIO_VERSION,
                  "clips": [read_recipe(p) or {"id": gen_id} for p, gen_id in zip(paths, clip_ids)]}

        def work(progress) -> dict[str, Any]:
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="kling-spot-") as scratch:
                music_path = None
                if music:
                    music_path = Path(scratch) / ("music" + Path(music_name).suffix.lower())
                    music_path.write_bytes(music)
                result = assemble(paths, self._archive.path_for(spot_id),
                                  crossfade=board.crossfade,
                                  captions=[s.caption or None for s in board.shots],
                                  end_card=card, music=music_path, progress=progress,
                                  recipe=recipe)
            self._archive.keep(spot_id, result.path)  # into the bucket, where there is one
            self._history.record_assembled(
                gen_id=spot_id, title=board.title, aspect_ratio=board.aspect_ratio,
                seconds=round(result.duration, 3), width=result.width, height=result.height,
                video_path=str(result.path), storyboard_id=board.id,
                elapsed_s=time.monotonic() - started, created_by=created_by)
            self._storyboards.save(dataclasses.replace(self._storyboards.get(board.id),
                                                       assembled=spot_id),
                                   by=created_by or "")
            return {"spot_id": spot_id}

        return self._start(board, "assemble", work)

    def _end_card(self, board: Storyboard) -> EndCard | None:
        card = board.end_card
        if card is None or not card.title.strip():
            return None
        try:
            return EndCard(title=card.title, tagline=card.tagline or None,
                           logo=self._storyboards.logo_path(board), seconds=card.seconds)
        except AssemblyError as exc:
            raise StoryboardError(str(exc)) from None

    # -- delivering ---------------------------------------------------------------------
    def deliver(self, board: Storyboard, formats: dict[str, Framing]) -> SpotTask:
        """Start writing the assembled spot in each format (file names by campaign)."""
        if not board.assembled or not self._archive.exists(board.assembled):
            raise StoryboardError("Assemble the spot first: the formats are made from it.")
        for mode, _ in formats.values():
            if mode not in MODES:
                raise StoryboardError(f"Reframe by one of {', '.join(MODES)}, not {mode!r}.")
        spot = self._archive.path_for(board.assembled)
        folder = self._deliveries / board.id

        def work(progress) -> dict[str, Any]:
            return {"paths": tuple(deliver(spot, folder, board.title, formats,
                                           progress=progress))}

        return self._start(board, "deliver", work)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
