"""The team's storyboards in the team database: each is the document
`storyboard:<id>`, holding what its file would hold, and its end-card logo the document
`storyboard-logo:<name>` (base64), so every replica sees every storyboard. The rules
(who made one, copies, limits) are `kling.storyboards.library.Storyboards`'.

The end card is drawn from a file, so `logo_path` keeps a copy of the logo in the data
folder's `storyboards/`, written whole, the first time a replica needs it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoryboardError
from ..storage.atomic import replacing
from ..storyboards.library import FOLDER, Storyboards, decode_board, encode_board
from ..storyboards.model import Storyboard
from .documents import Document
from .engine import unreachable
from .tables import documents

BOARD, LOGO = "storyboard:", "storyboard-logo:"
d = documents.c


class DatabaseStoryboards(Storyboards):
    """`kling.stores.StoryboardStore` in the team database."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.folder = Path(data_dir) / FOLDER  # where logos are copied for the end card
        self._documents: dict[str, Document] = {}

    def _document(self, name: str) -> Document:
        if name not in self._documents:
            self._documents[name] = Document(self.engine, name)
        return self._documents[name]

    def _load(self, board_id: str) -> Storyboard | None:
        text = self._document(BOARD + board_id).read()
        if text is None:
            raise StoryboardError(f"There is no storyboard {board_id!r}.")
        return decode_board(text)

    def _ids(self) -> list[str]:
        try:
            with self.engine.connect() as connection:
                names = connection.execute(sa.select(d.name).where(
                    d.name.startswith(BOARD, autoescape=True), d.version > 0)
                    .order_by(d.name)).scalars().all()
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
        return [name[len(BOARD):] for name in names]

    def _has(self, board_id: str) -> bool:
        return self._document(BOARD + board_id).read() is not None

    def _keep(self, board: Storyboard) -> None:
        with self._document(BOARD + board.id).editing() as text:
            text[0] = encode_board(board)

    def _drop(self, board_id: str) -> None:
        try:
            with self.engine.begin() as connection:
                gone = connection.execute(sa.delete(documents).where(
                    d.name == BOARD + board_id, d.version > 0)).rowcount
                connection.execute(sa.delete(documents).where(
                    d.name.startswith(f"{LOGO}{board_id}.logo", autoescape=True)))
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
        if not gone:
            raise StoryboardError(f"There is no storyboard {board_id!r}.")
        for logo in self.folder.glob(f"{board_id}.logo.*"):
            logo.unlink(missing_ok=True)

    def _keep_logo(self, name: str, data: bytes) -> None:
        with self._document(LOGO + name).editing() as text:
            text[0] = base64.b64encode(data).decode("ascii")
        (self.folder / name).unlink(missing_ok=True)  # a replica's old copy

    def logo_path(self, board: Storyboard) -> Path | None:
        """The end card's logo as a file in the data folder, if the board has one."""
        if board.end_card is None or not board.end_card.logo:
            return None
        name = Path(board.end_card.logo).name
        text = self._document(LOGO + name).read()
        if text is None:
            return None
        path = self.folder / name
        data = base64.b64decode(text)
        if not path.is_file() or path.read_bytes() != data:
            self.folder.mkdir(parents=True, exist_ok=True)
            with replacing(path) as out:
                out.write(data)
        return path
