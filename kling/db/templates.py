"""The team's templates in the team database: the `templates` document holds what
`templates.json` holds, and `TemplateLibrary` keeps all its rules on top of it (it
takes this in place of its file).

A save is a read-modify-write under the document's row lock, as the file's is under
its file lock. The database refuses what is not saved whole, so there is no damaged
copy to set aside or restore: only a library written by a newer studio is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine

from ..errors import TemplateError
from ..templates.file_format import versions_from_json, versions_to_json
from ..templates.library_file import LibraryDamage, Recovery
from ..templates.records import Records
from ..templates.safe_json import Unreadable
from .documents import Document

NAME = "templates"
#: How the library is named in messages (there is no file).
WHERE = Path("templates (team database)")


class LibraryRow:
    """What `TemplateLibrary` needs of where its records live, in the team database."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.document = Document(engine, NAME)
        self.data_dir = Path(data_dir)
        self.path = self.backup_path = WHERE
        self._lock = threading.Lock()
        self._parsed: tuple[str, Records, Unreadable | None] | None = None

    def _parse(self, text: str | None) -> tuple[Records, Unreadable | None]:
        if text is None:
            return {}, None
        with self._lock:
            if self._parsed is not None and self._parsed[0] == text:
                return self._parsed[1], self._parsed[2]
        try:
            records, problem = versions_from_json(text.encode("utf-8")), None
        except Unreadable as exc:
            records, problem = {}, exc
        with self._lock:
            self._parsed = (text, records, problem)
        return records, problem

    def read(self) -> tuple[Records, Unreadable | None]:
        """id -> versions of the team's templates (shared: copy before changing), with
        why they cannot be read, when they cannot."""
        return self._parse(self.document.read())

    def readable(self, action: str | None = None) -> Records:
        records, problem = self.read()
        if problem is None:
            return records
        done = "" if action is None else f" Nothing was {action}."
        raise TemplateError(f"The team's template library cannot be read: it "
                            f"{problem.phrase}.{done} Update this studio to use it.")

    def damage(self) -> LibraryDamage | None:
        problem = self.read()[1]
        if problem is None:
            return None
        return LibraryDamage(path=WHERE, reason=problem.phrase, newer=problem.newer,
                             backup=None)

    @contextmanager
    def editing(self) -> Iterator[Records]:
        """A private copy of the latest records; saved when the block ends normally and
        changed something."""
        with self.document.editing() as text:
            before, problem = self._parse(text[0])
            if problem is not None:
                self.readable("saved")
            records = dict(before)
            yield records
            if records != before:
                text[0] = versions_to_json(records).decode("utf-8")

    def set_aside_damaged(self) -> Recovery:
        raise TemplateError("The team's template library is kept in the team database, "
                            "so there is no file to set aside.")

    restore_backup = set_aside_damaged
