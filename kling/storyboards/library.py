"""The storyboards of a data folder: one JSON file each, under `data/storyboards/`.

One file per storyboard, replaced whole on every save (`kling.storage.atomic`): two people
editing two storyboards never touch the same file, a reader never sees half a file, and a
file damaged by hand costs that storyboard alone (it is listed as damaged, never
overwritten). Uploaded end-card logos sit beside it as `<id>.logo.<ext>`. Reads are cached
by each file's signature, so listing on every page run costs one `stat` per storyboard.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..errors import StoryboardError
from ..storage.atomic import replacing
from ..storage.signature import signature
from .model import MAX_TITLE_CHARS, Storyboard, problems

FOLDER = "storyboards"
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_LOGO_BYTES = 2 * 1024 * 1024
_FORMAT = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StoryboardLibrary:
    """Every storyboard of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / FOLDER
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[object, Storyboard | None]] = {}

    # -- reading ------------------------------------------------------------------------
    def _path(self, board_id: str) -> Path:
        if not board_id.startswith("sb-") or not board_id[3:].isalnum():
            raise StoryboardError(f"There is no storyboard {board_id[:40]!r}.")
        return self.folder / f"{board_id}.json"

    def _read(self, path: Path) -> Storyboard | None:
        """The storyboard in `path`; None when the file cannot be read as one."""
        sig = signature(path)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == sig:
                return cached[1]
        try:
            data = json.loads(path.read_bytes())
            board = Storyboard.from_dict(data["storyboard"])
        except FileNotFoundError:
            raise StoryboardError(f"There is no storyboard {path.stem!r}.") from None
        except (ValueError, KeyError, TypeError, RecursionError):
            board = None
        with self._lock:
            self._cache[path] = (sig, board)
        return board

    def all(self) -> list[Storyboard]:
        """Every readable storyboard, the most recently changed first."""
        boards = []
        for path in sorted(self.folder.glob("sb-*.json")):
            try:
                board = self._read(path)
            except StoryboardError:  # removed while listing
                continue
            if board is not None:
                boards.append(board)
        return sorted(boards, key=lambda b: b.updated_at, reverse=True)

    def damaged(self) -> list[str]:
        """File names of storyboards that cannot be read (kept as they are)."""
        return [path.name for path in sorted(self.folder.glob("sb-*.json"))
                if self._read_quietly(path) is None]

    def _read_quietly(self, path: Path) -> Storyboard | None:
        try:
            return self._read(path)
        except StoryboardError:
            return None

    def get(self, board_id: str) -> Storyboard:
        board = self._read(self._path(board_id))
        if board is None:
            raise StoryboardError(f"The storyboard file {board_id}.json is damaged; it is kept "
                                  "as it is. Restore it from a backup or delete it.")
        return board

    # -- writing ------------------------------------------------------------------------
    def save(self, board: Storyboard, *, by: str = "") -> Storyboard:
        """Save `board` whole (refused with every problem named if it cannot be saved), as
        changed by `by`; a save without `by` (a take picked for the spot by the studio)
        leaves `updated_by` as it was."""
        found = problems(board)
        if found:
            raise StoryboardError(" ".join(found.values()))
        path = self._path(board.id)
        by = " ".join(by.split())
        # Only the first save says who made it: a board from before people were recorded
        # stays of unknown making rather than becoming whoever saves it next.
        created_by = board.created_by or (by if not path.exists() else "")
        saved = dataclasses.replace(board, updated_at=_now(),
                                    created_at=board.created_at or _now(),
                                    created_by=created_by,
                                    updated_by=by or board.updated_by)
        document = {"format": _FORMAT, "storyboard": saved.to_dict()}
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            with replacing(path, encoding="utf-8") as out:
                json.dump(document, out, ensure_ascii=False, indent=1)
        except OSError as exc:
            raise StoryboardError(f"The storyboard could not be saved: {exc.strerror}.") from exc
        return saved

    def create(self, title: str, *, by: str = "", aspect_ratio: str = "16:9",
               style: str = "") -> Storyboard:
        return self.save(Storyboard.new(title.strip(), aspect_ratio=aspect_ratio, style=style,
                                        created_at=_now()), by=by)

    def rename(self, board_id: str, title: str, *, by: str = "") -> Storyboard:
        return self.save(dataclasses.replace(self.get(board_id), title=title.strip()), by=by)

    def duplicate(self, board_id: str, *, by: str = "") -> Storyboard:
        """A copy with the same shots and no picked takes, named "<title> (copy)", made by
        `by` (not by whoever made the original)."""
        original = self.get(board_id)
        title = f"{original.title} (copy)"[:MAX_TITLE_CHARS]
        copy = Storyboard.new(title, aspect_ratio=original.aspect_ratio, style=original.style,
                              created_at=_now())
        shots = [dataclasses.replace(s, picked=None) for s in original.shots]
        return self.save(dataclasses.replace(copy, shots=tuple(shots),
                                             crossfade=original.crossfade,
                                             end_card=original.end_card), by=by)

    def delete(self, board_id: str) -> None:
        """Remove the storyboard (its generations stay in the history)."""
        path = self._path(board_id)
        for logo in self.folder.glob(f"{board_id}.logo.*"):
            logo.unlink(missing_ok=True)
        try:
            path.unlink()
        except FileNotFoundError:
            raise StoryboardError(f"There is no storyboard {board_id!r}.") from None

    # -- the end card's logo ------------------------------------------------------------
    def save_logo(self, board_id: str, data: bytes, file_name: str) -> str:
        """Keep an uploaded logo beside the storyboard; its file name, for the end card."""
        suffix = Path(file_name).suffix.lower()
        if suffix not in LOGO_SUFFIXES:
            raise StoryboardError("The logo must be a PNG or JPEG image.")
        if len(data) > MAX_LOGO_BYTES:
            raise StoryboardError(f"The logo is {len(data) / 1e6:.1f} MB; at most "
                                  f"{MAX_LOGO_BYTES / 1e6:.0f} MB.")
        self._path(board_id)
        name = f"{board_id}.logo{suffix}"
        self.folder.mkdir(parents=True, exist_ok=True)
        with replacing(self.folder / name) as out:
            out.write(data)
        return name

    def logo_path(self, board: Storyboard) -> Path | None:
        """Where the end card's logo is, if it has one that still exists."""
        if board.end_card is None or not board.end_card.logo:
            return None
        path = self.folder / Path(board.end_card.logo).name
        return path if path.is_file() else None
