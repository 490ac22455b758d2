"""The storyboards: the rules every library of them keeps (`Storyboards`), and the data
folder's (`StoryboardLibrary`), one JSON file each, under `data/storyboards/`.

One file per storyboard, replaced whole on every save (`kling.storage.atomic`): two people
editing two storyboards never touch the same file, a reader never sees half a file, and a
file damaged by hand costs that storyboard alone (it is listed as damaged, never
overwritten). Uploaded end-card logos sit beside it as `<id>.logo.<ext>`. Reads are cached
by each file's signature, so listing on every page run costs one `stat` per storyboard.
A team's storyboards are documents of its database (`kling.db.storyboards`), kept by the
same rules.
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


def check_board_id(board_id: str) -> str:
    """`board_id` if it is one of ours (`sb-` and letters or digits); else the
    `StoryboardError` of a storyboard that does not exist."""
    if not board_id.startswith("sb-") or not board_id[3:].isalnum():
        raise StoryboardError(f"There is no storyboard {board_id[:40]!r}.")
    return board_id


def encode_board(board: Storyboard) -> str:
    """A storyboard as its file (or document) holds it."""
    return json.dumps({"format": _FORMAT, "storyboard": board.to_dict()}, ensure_ascii=False,
                      indent=1)


def decode_board(data: bytes | str) -> Storyboard | None:
    """The storyboard a file (or document) holds; None when it cannot be read as one."""
    try:
        return Storyboard.from_dict(json.loads(data)["storyboard"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


class Storyboards:
    """The rules of a library of storyboards, whatever keeps them: who made one and who
    saved it last, copies, names, logos' limits. A subclass keeps them: it reads one
    (`_load`), lists (`_ids`), writes one whole (`_keep`), removes one with its logos
    (`_drop`), keeps a logo (`_keep_logo`) and says where a logo's file is (`logo_path`).
    """

    def _load(self, board_id: str) -> Storyboard | None:
        """The storyboard; None when damaged; `StoryboardError` when there is none."""
        raise NotImplementedError

    def _ids(self) -> list[str]:
        raise NotImplementedError

    def _has(self, board_id: str) -> bool:
        raise NotImplementedError

    def _keep(self, board: Storyboard) -> None:
        raise NotImplementedError

    def _drop(self, board_id: str) -> None:
        raise NotImplementedError

    def _keep_logo(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def logo_path(self, board: Storyboard) -> Path | None:
        raise NotImplementedError

    def _label(self, board_id: str) -> str:
        """How a damaged storyboard is named to a person."""
        return board_id

    # -- reading ------------------------------------------------------------------------
    def _load_quietly(self, board_id: str) -> Storyboard | None:
        try:
            return self._load(board_id)
        except StoryboardError:  # removed while listing
            return None

    def all(self) -> list[Storyboard]:
        """Every readable storyboard, the most recently changed first."""
        boards = [board for board in map(self._load_quietly, self._ids()) if board]
        return sorted(boards, key=lambda b: b.updated_at, reverse=True)

    def damaged(self) -> list[str]:
        """Storyboards that cannot be read (kept as they are)."""
        return [self._label(i) for i in self._ids() if self._load_quietly(i) is None]

    def get(self, board_id: str) -> Storyboard:
        board = self._load(check_board_id(board_id))
        if board is None:
            raise StoryboardError(f"The storyboard {self._label(board_id)} is damaged; it is "
                                  "kept as it is. Restore it from a backup or delete it.")
        return board

    # -- writing ------------------------------------------------------------------------
    def save(self, board: Storyboard, *, by: str = "") -> Storyboard:
        """Save `board` whole (refused with every problem named if it cannot be saved), as
        changed by `by`; a save without `by` (a take picked for the spot by the studio)
        leaves `updated_by` as it was."""
        found = problems(board)
        if found:
            raise StoryboardError(" ".join(found.values()))
        check_board_id(board.id)
        by = " ".join(by.split())
        # Only the first save says who made it: a board from before people were recorded
        # stays of unknown making rather than becoming whoever saves it next.
        created_by = board.created_by or (by if not self._has(board.id) else "")
        saved = dataclasses.replace(board, updated_at=_now(),
                                    created_at=board.created_at or _now(),
                                    created_by=created_by,
                                    updated_by=by or board.updated_by)
        self._keep(saved)
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

    def keep_as_saved(self, board: Storyboard, logo: bytes | None = None) -> bool:
        """Keep a storyboard exactly as another library saved it, with its logo's bytes
        (moving a data folder in or out); False, changing nothing, when this library has
        one of that id already."""
        if self._has(check_board_id(board.id)):
            return False
        if logo is not None and board.end_card is not None and board.end_card.logo:
            self._keep_logo(Path(board.end_card.logo).name, logo)
        self._keep(board)
        return True

    def delete(self, board_id: str) -> None:
        """Remove the storyboard and its logo (its generations stay in the history)."""
        self._drop(check_board_id(board_id))

    # -- the end card's logo ------------------------------------------------------------
    def save_logo(self, board_id: str, data: bytes, file_name: str) -> str:
        """Keep an uploaded logo with the storyboard; its name, for the end card."""
        suffix = Path(file_name).suffix.lower()
        if suffix not in LOGO_SUFFIXES:
            raise StoryboardError("The logo must be a PNG or JPEG image.")
        if len(data) > MAX_LOGO_BYTES:
            raise StoryboardError(f"The logo is {len(data) / 1e6:.1f} MB; at most "
                                  f"{MAX_LOGO_BYTES / 1e6:.0f} MB.")
        name = f"{check_board_id(board_id)}.logo{suffix}"
        self._keep_logo(name, data)
        return name


class StoryboardLibrary(Storyboards):
    """Every storyboard of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / FOLDER
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[object, Storyboard | None]] = {}

    def _path(self, board_id: str) -> Path:
        return self.folder / f"{check_board_id(board_id)}.json"

    def _label(self, board_id: str) -> str:
        return f"{board_id}.json"

    def _load(self, board_id: str) -> Storyboard | None:
        """The storyboard in its file (cached by the file's signature)."""
        path = self._path(board_id)
        sig = signature(path)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == sig:
                return cached[1]
        try:
            board = decode_board(path.read_bytes())
        except FileNotFoundError:
            raise StoryboardError(f"There is no storyboard {board_id!r}.") from None
        with self._lock:
            self._cache[path] = (sig, board)
        return board

    def _ids(self) -> list[str]:
        return [path.stem for path in sorted(self.folder.glob("sb-*.json"))]

    def _has(self, board_id: str) -> bool:
        return self._path(board_id).exists()

    def _keep(self, board: Storyboard) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            with replacing(self._path(board.id), encoding="utf-8") as out:
                out.write(encode_board(board))
        except OSError as exc:
            raise StoryboardError(f"The storyboard could not be saved: {exc.strerror}.") from exc

    def _drop(self, board_id: str) -> None:
        for logo in self.folder.glob(f"{board_id}.logo.*"):
            logo.unlink(missing_ok=True)
        try:
            self._path(board_id).unlink()
        except FileNotFoundError:
            raise StoryboardError(f"There is no storyboard {board_id!r}.") from None

    def _keep_logo(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with replacing(self.folder / name) as out:
            out.write(data)

    def logo_path(self, board: Storyboard) -> Path | None:
        """Where the end card's logo is, if it has one that still exists."""
        if board.end_card is None or not board.end_card.logo:
            return None
        path = self.folder / Path(board.end_card.logo).name
        return path if path.is_file() else None
