"""The monthly budgets, the same in both backends: caps saved and read back by another
process, and one budget check at a time across every process that shares them."""

from __future__ import annotations

import threading

import pytest

from kling.db.budgets import DatabaseBudgets
from kling.people import BudgetFile, Budgets


@pytest.fixture(params=["files", "postgres"])
def budgets(request, tmp_path):
    if request.param == "files":
        return BudgetFile(tmp_path / "data")
    return DatabaseBudgets(request.getfixturevalue("engine"))


def again(budgets):
    if isinstance(budgets, BudgetFile):
        return BudgetFile(budgets.path.parent)
    return DatabaseBudgets(budgets.engine)


def test_caps_are_kept_and_read_by_another_process(budgets):
    assert budgets.load() == Budgets()
    saved = budgets.save(Budgets.checked(team_usd=100, person_usd=20,
                                         people={"ana@acme.com": 50}, updated_by="bo@acme.com"))
    read = again(budgets).load()
    assert read == saved and read.cap_for("ana@acme.com") == 50
    assert read.updated_by == "bo@acme.com" and read.updated_at
    budgets.save(Budgets.checked(team_usd=80))
    assert again(budgets).load().team_usd == 80


def test_one_budget_check_at_a_time(budgets):
    events: list[str] = []

    def other() -> None:
        with again(budgets).reserving():
            events.append("other in")

    with budgets.reserving():
        events.append("first in")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=1.0)  # it waits for the first to leave
        assert thread.is_alive()
        events.append("first out")
    thread.join(timeout=30)
    assert events == ["first in", "first out", "other in"]
