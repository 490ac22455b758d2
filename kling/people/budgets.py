"""Monthly budgets in USD, for each person and for the whole team, checked before sending.

A budget counts what is spent *or may be*: confirmed generations, generations still
queued or running (at their estimate) and possibly billed ones (`HistoryStore.commitments`).
A request that does not fit is refused before anything is sent, with the numbers. The
check and the writing of the request's pending rows happen under one lock
(`BudgetStore.reserving`), so two sessions submitting at once cannot both spend the last
dollar: the second one sees the first one's pending rows.

Amounts are compared in whole cents, so "exactly at the cap" fits however the floats fall.
`budgets.json` in the data folder keeps the caps (replaced whole, atomically).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import OverBudgetError, StorageError
from ..history.stats import Commitments
from ..storage.atomic import replacing
from ..storage.locks import LockPair, LockTimeout
from .config import normal_email

#: The largest cap an admin can set, so that a typo of zeros is caught.
MAX_BUDGET_USD = 1_000_000.0
_LOCK_TIMEOUT_S = 30.0


def cents(amount: float) -> int:
    return int(round(float(amount) * 100))


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


def check_cap(value: Any, what: str) -> float | None:
    """A cap as stored: None (no cap) or a whole number of cents from 0 to the maximum;
    `ValueError` saying what is wrong with `what`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or not 0 <= number <= MAX_BUDGET_USD:
        raise ValueError(f"{what} must be an amount in USD from 0 to {MAX_BUDGET_USD:,.0f}, "
                         f"or empty for no cap")
    return cents(number) / 100


@dataclass(frozen=True)
class Budgets:
    """The caps: the team's, each person's by default, and people's own."""

    team_usd: float | None = None
    person_usd: float | None = None
    people: Mapping[str, float] = field(default_factory=dict)
    updated_by: str = ""
    updated_at: str = ""

    def cap_for(self, email: str) -> float | None:
        """This person's monthly cap (their own, else everyone's), None without one."""
        return self.people.get(normal_email(email), self.person_usd)

    @property
    def any(self) -> bool:
        return self.team_usd is not None or self.person_usd is not None or bool(self.people)

    @classmethod
    def checked(cls, *, team_usd: Any = None, person_usd: Any = None,
                people: Mapping[str, Any] | None = None, updated_by: str = "",
                updated_at: str = "") -> "Budgets":
        """Budgets from what a person typed; `ValueError` naming the first bad amount."""
        own: dict[str, float] = {}
        for email, cap in (people or {}).items():
            address = normal_email(email)
            if "@" not in address:
                raise ValueError(f"{str(email)[:80]!r} is not an email address; a person's "
                                 "budget needs theirs, like ana@example.com")
            value = check_cap(cap, f"The budget of {address}")
            if value is not None:
                own[address] = value
        return cls(team_usd=check_cap(team_usd, "The team's budget"),
                   person_usd=check_cap(person_usd, "Each person's budget"),
                   people=own, updated_by=updated_by, updated_at=updated_at)


@dataclass(frozen=True)
class BudgetStatus:
    """One person's view of the budgets this month."""

    person_cap: float | None
    person_used: float
    team_cap: float | None
    team_used: float

    @property
    def person_left(self) -> float | None:
        return None if self.person_cap is None else max(0.0, self.person_cap - self.person_used)

    @property
    def team_left(self) -> float | None:
        return None if self.team_cap is None else max(0.0, self.team_cap - self.team_used)

    @property
    def left(self) -> float | None:
        """What this person can still spend this month (the tighter cap), None if uncapped."""
        known = [v for v in (self.person_left, self.team_left) if v is not None]
        return min(known) if known else None


def status(budgets: Budgets, commitments: Commitments, email: str) -> BudgetStatus:
    return BudgetStatus(person_cap=budgets.cap_for(email), person_used=commitments.by_person.get(normal_email(email), 0.0),
                        team_cap=budgets.team_usd, team_used=commitments.total_usd)


def check_fits(budgets: Budgets, commitments: Commitments, email: str, cost: float,
               what: str) -> None:
    """`OverBudgetError` with the numbers when `cost` (for `what`, e.g. "this batch") does
    not fit in this person's or the team's budget; an amount exactly at the cap fits."""
    view = status(budgets, commitments, email)
    for left, whose in ((view.person_left, "Your"), (view.team_left, "The team's")):
        if left is not None and cents(cost) > cents(left):
            raise OverBudgetError(
                f"{whose} monthly budget has {usd(left)} left this month; "
                f"{what} needs {usd(cost)}.")


def budgets_from_text(text: str, where: str) -> Budgets:
    """The budgets `budgets.json` holds; `StorageError` naming `where` when it cannot be
    read."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StorageError(f"The budgets file {where} cannot be read ({exc}).",
                           hint="Fix or remove it, then set the budgets again.") from None
    try:
        return Budgets.checked(team_usd=data.get("team_usd"),
                               person_usd=data.get("person_usd"),
                               people=data.get("people") or {},
                               updated_by=str(data.get("updated_by") or ""),
                               updated_at=str(data.get("updated_at") or ""))
    except (AttributeError, ValueError) as exc:
        raise StorageError(f"The budgets file {where} holds a bad value ({exc}).",
                           hint="Set the budgets again on the Team page.") from None


def stamped_text(budgets: Budgets) -> tuple[Budgets, str]:
    """`budgets` stamped with this moment, and the text `budgets.json` holds for it."""
    stamped = Budgets(team_usd=budgets.team_usd, person_usd=budgets.person_usd,
                      people=dict(budgets.people), updated_by=budgets.updated_by,
                      updated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    body = json.dumps({"team_usd": stamped.team_usd, "person_usd": stamped.person_usd,
                       "people": dict(stamped.people), "updated_by": stamped.updated_by,
                       "updated_at": stamped.updated_at}, indent=2, sort_keys=True)
    return stamped, body + "\n"


class BudgetFile:
    """The caps of one data folder, in `budgets.json`."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "budgets.json"
        self._lock = LockPair(Path(data_dir) / "budgets.lock", _LOCK_TIMEOUT_S)

    def load(self) -> Budgets:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Budgets()
        except OSError as exc:
            raise StorageError(f"The budgets file {self.path.name} cannot be read ({exc}).",
                               hint="Fix or remove it, then set the budgets again.") from None
        return budgets_from_text(text, self.path.name)

    def save(self, budgets: Budgets) -> Budgets:
        stamped, body = stamped_text(budgets)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.reserving(), replacing(self.path, encoding="utf-8") as stream:
                stream.write(body)
        except OSError as exc:
            raise StorageError(f"The budgets could not be saved ({exc.strerror}).") from None
        return stamped

    @contextmanager
    def reserving(self) -> Iterator[None]:
        """Held across a budget check and the pending rows it lets through."""
        with ExitStack() as stack:
            try:
                stack.enter_context(self._lock.hold())
            except LockTimeout:
                raise StorageError("Another request is checking the budget right now.",
                                   hint="Try again in a moment.") from None
            yield
