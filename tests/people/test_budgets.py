"""Budget caps: what fits, what does not, and the numbers a refusal names."""

from __future__ import annotations

import json

import pytest

from kling.errors import OverBudgetError, StorageError
from kling.history import Commitments
from kling.people import BudgetFile, Budgets, check_fits, status


def spent(total: float, **people: float) -> Commitments:
    return Commitments(total_usd=total, by_person={k.replace("_", "@", 1) + ".com": v
                                                   for k, v in people.items()})


def test_exactly_at_the_cap_fits_and_a_cent_more_does_not():
    caps = Budgets.checked(person_usd=10)
    check_fits(caps, spent(5.8, ana_acme=5.8), "ana@acme.com", 4.2, "this generation")
    with pytest.raises(OverBudgetError) as refused:
        check_fits(caps, spent(5.81, ana_acme=5.81), "ana@acme.com", 4.2, "this generation")
    assert str(refused.value).startswith(
        "Your monthly budget has $4.19 left this month; this generation needs $4.20.")


def test_the_team_cap_counts_everyone():
    caps = Budgets.checked(team_usd=20, person_usd=100)
    with pytest.raises(OverBudgetError, match=r"The team's monthly budget has \$4.20 left "
                                              r"this month; this batch needs \$14.00"):
        check_fits(caps, spent(15.8, bo_acme=15.8), "ana@acme.com", 14.0, "this batch")


def test_a_person_s_own_cap_wins_over_everyone_s():
    caps = Budgets.checked(person_usd=5, people={"Ana@Acme.com": 50})
    assert caps.cap_for("ana@acme.com") == 50 and caps.cap_for("bo@acme.com") == 5
    view = status(caps, spent(12, ana_acme=12), "ana@acme.com")
    assert view.person_left == 38 and view.team_left is None and view.left == 38


def test_no_caps_means_everything_fits():
    check_fits(Budgets(), spent(1e6), "ana@acme.com", 1e5, "this batch")
    assert not Budgets().any


@pytest.mark.parametrize("bad", [-1, "ten", float("nan"), 2e6, True])
def test_a_bad_amount_is_refused_with_what_to_do(bad):
    with pytest.raises(ValueError, match="The team's budget must be an amount in USD"):
        Budgets.checked(team_usd=bad)


def test_caps_survive_the_file_and_carry_who_set_them(tmp_path):
    store = BudgetFile(tmp_path)
    assert store.load() == Budgets()
    saved = store.save(Budgets.checked(team_usd="250.5", person_usd=40,
                                       people={"bo@acme.com": 0}, updated_by="ana@acme.com"))
    loaded = BudgetFile(tmp_path).load()
    assert loaded == saved
    assert (loaded.team_usd, loaded.person_usd, dict(loaded.people)) == (250.5, 40, {"bo@acme.com": 0})
    assert loaded.updated_by == "ana@acme.com" and loaded.updated_at
    assert not list(tmp_path.glob(".budgets.json.*"))  # replaced whole, nothing left over


def test_a_damaged_file_says_what_to_do(tmp_path):
    (tmp_path / "budgets.json").write_text(json.dumps({"team_usd": "lots"}))
    with pytest.raises(StorageError, match="holds a bad value"):
        BudgetFile(tmp_path).load()
