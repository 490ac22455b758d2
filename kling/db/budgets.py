"""The monthly budgets of a team in its database, shared by every replica.

The caps are the `budgets` document (what `budgets.json` holds). `reserving` is a
PostgreSQL advisory lock: held by whichever replica checks a budget until its pending
rows are committed, so that two people on two replicas cannot both spend the last
dollar (a file lock only covers the processes of one machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import StorageError
from ..people.budgets import Budgets, budgets_from_text, stamped_text
from .documents import Document
from .engine import unreachable

NAME = "budgets"
#: The advisory lock's key: any number the team's other programs do not use.
LOCK_KEY = 0x6B6C6E67_62756467  # "klngbudg"
LOCK_TIMEOUT_S = 10


class DatabaseBudgets:
    """`kling.stores.BudgetStore` in the team database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._document = Document(engine, NAME)

    def load(self) -> Budgets:
        text = self._document.read()
        return Budgets() if text is None else budgets_from_text(text, "in the team database")

    def save(self, budgets: Budgets) -> Budgets:
        stamped, body = stamped_text(budgets)
        with self.reserving(), self._document.editing() as text:
            text[0] = body
        return stamped

    @contextmanager
    def reserving(self) -> Iterator[None]:
        """Held across a budget check and the pending rows it lets through, by one
        replica at a time."""
        try:
            connection = self.engine.connect()
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
        with connection:
            try:
                connection.execute(sa.text(f"set lock_timeout = '{LOCK_TIMEOUT_S}s'"))
                connection.execute(sa.select(sa.func.pg_advisory_lock(LOCK_KEY)))
                connection.commit()
            except OperationalError:
                raise StorageError("Another request is checking the budget right now.",
                                   hint="Try again in a moment.") from None
            except SQLAlchemyError as exc:
                raise unreachable(self.engine, exc) from exc
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
                connection.commit()
