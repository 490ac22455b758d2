"""Figures of a set of generations: counts, success rate, timings, spend, per day and month.

Spend is confirmed spend only; possibly billed generations (`kling.billing`) are
counted apart and never as zero (see `HistoryStats`). Days and months are in the
studio's time zone (`kling.history.frame.local_timezone`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from ..billing import possibly_billed_rows
from ..timing import Expectation, measured_expectations
from .frame import local_timezone, maybe_billed


@dataclass
class HistoryStats:
    """Figures of a set of generations, as the studio and `history stats` show them.

    `success_rate` is succeeded / (succeeded + failed); pending and interrupted
    generations have no outcome yet. Spend (`spend_*`, `per_day`/`per_month["spend"]`)
    is confirmed spend: succeeded generations at the recorded or estimated price.
    Possibly billed generations (`kling.billing`) are counted apart, never as zero and
    never in spend: `possibly_billed` of them, `possibly_billed_usd` estimated, and a
    `possibly_billed` column per day and month. Days and months are in the studio's
    time zone.
    """

    total: int
    succeeded: int
    failed: int
    success_rate: float | None
    inference_p50: float | None
    inference_p95: float | None
    seconds_generated: float
    spend_total: float
    spend_today: float
    spend_this_month: float
    possibly_billed: int
    possibly_billed_usd: float
    per_day: pd.DataFrame
    per_month: pd.DataFrame
    top_templates: pd.DataFrame
    inference_times: pd.Series = field(repr=False)
    #: Measured inference times per duration (`kling.timing`), where there are enough.
    expected_times: dict[str, Expectation] = field(default_factory=dict)


@dataclass(frozen=True)
class Spend:
    """What the sidebar shows of the visible generations: confirmed spend today and this
    month, and the possibly billed ones apart (see `HistoryStats`)."""

    today: float = 0.0
    this_month: float = 0.0
    possibly_billed: int = 0
    possibly_billed_usd: float = 0.0

    @classmethod
    def of(cls, stats: HistoryStats) -> "Spend":
        return cls(stats.spend_today, stats.spend_this_month, stats.possibly_billed,
                   stats.possibly_billed_usd)


TEMPLATE_STATS_COLUMNS = ("template_id", "uses", "success_rate", "avg_rating", "last_used")


def template_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per template id: uses, success rate, average rating, last used; most used first."""
    used = frame[frame["template_id"].fillna("") != ""]
    if used.empty:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in zip(
            TEMPLATE_STATS_COLUMNS, ("str", "int64", "float64", "float64",
                                     frame["created_at"].dtype))})
    keys = used["template_id"]
    succeeded = (used["status"] == "succeeded").groupby(keys).sum()
    failed = (used["status"] == "failed").groupby(keys).sum()
    finished = succeeded + failed
    table = pd.DataFrame({
        "uses": keys.groupby(keys).size(),
        "success_rate": (succeeded / finished.where(finished > 0)).astype("float64"),
        "avg_rating": used["rating"].astype("Float64").groupby(keys).mean()
                                    .astype("float64"),
        "last_used": used["created_at"].groupby(keys).max(),
    })
    table = table.rename_axis("template_id").reset_index()
    return table.sort_values(["uses", "last_used"], ascending=False,
                             kind="stable").reset_index(drop=True)


def _seconds(duration: pd.Series) -> pd.Series:
    """Durations ("5", "10", ...) as numbers, converting each distinct text once."""
    lookup = {}
    for value in pd.unique(duration):
        try:
            lookup[value] = float(value)
        except (TypeError, ValueError):
            lookup[value] = math.nan
    return duration.map(lookup).astype("float64")


@dataclass(frozen=True)
class _Money:
    """Per row: seconds of video, confirmed spend, the estimate of a possibly billed
    generation, and the estimate of one still queued or running."""

    seconds: np.ndarray
    spend: np.ndarray
    unsure: np.ndarray
    unsure_cost: np.ndarray
    pending_cost: np.ndarray


def _money(frame: pd.DataFrame, price_per_second: float) -> _Money:
    status = frame["status"]
    succeeded = (status == "succeeded").to_numpy(dtype=bool)
    seconds = _seconds(frame["duration"]).fillna(0.0).to_numpy()
    cost = frame["cost_usd"].to_numpy(dtype=float)
    # A blank cost (a log from before costs were recorded) is estimated only where the
    # generation may have been billed; other failures cost nothing.
    blank = np.isnan(cost)
    if blank.any():
        billed = maybe_billed(frame).to_numpy(dtype=bool)
        cost = np.where(blank, np.where(billed, seconds * price_per_second, 0.0), cost)
    unsure = possibly_billed_rows(frame).to_numpy(dtype=bool)
    estimate = seconds * price_per_second
    # Never zero: a possibly billed generation costs its estimate unless more was logged.
    unsure_cost = np.where(unsure, np.where(cost > 0, cost, estimate), 0.0)
    pending = (status == "pending").to_numpy(dtype=bool)
    pending_cost = np.where(pending, np.where(cost > 0, cost, estimate), 0.0)
    return _Money(seconds, np.where(succeeded, cost, 0.0), unsure, unsure_cost, pending_cost)


def per_month_of(per_day: pd.DataFrame) -> pd.DataFrame:
    """`HistoryStats.per_month` of its `per_day` table."""
    return (per_day.assign(month=per_day["date"].dt.strftime("%Y-%m"))
            .groupby("month", as_index=False)[["spend", "possibly_billed", "seconds",
                                               "generations"]]
            .sum())


def spend_on(per_day: pd.DataFrame, today: date) -> tuple[float, float]:
    """Confirmed spend of `today` and of its month so far, of a `per_day` table."""
    today_ts, month_ts = pd.Timestamp(today), pd.Timestamp(today.replace(day=1))
    dates = per_day["date"]
    return (round(float(per_day["spend"][dates == today_ts].sum()), 2),
            round(float(per_day["spend"][(dates >= month_ts) & (dates <= today_ts)].sum()), 2))


def compute_stats(frame: pd.DataFrame, price_per_second: float = 0.28, *,
                  today: date | None = None) -> HistoryStats:
    """Statistics of the given rows (e.g. a query result)."""
    status = frame["status"]
    succeeded = (status == "succeeded").to_numpy(dtype=bool)
    failed = (status == "failed").to_numpy(dtype=bool)
    n_ok, n_failed = int(succeeded.sum()), int(failed.sum())
    times = frame["inference_s"][succeeded].dropna().reset_index(drop=True)
    money = _money(frame, price_per_second)
    seconds, spend, unsure, unsure_cost = (money.seconds, money.spend, money.unsure,
                                           money.unsure_cost)
    ok_seconds = np.where(succeeded, seconds, 0.0)
    created = frame["created_at"]
    tz = created.dt.tz or local_timezone()
    today = today or datetime.now(tz).date()
    day = created.dt.tz_localize(None).dt.normalize()

    per = pd.DataFrame({"date": day.to_numpy(), "generations": 1,
                        "succeeded": succeeded.astype(int), "failed": failed.astype(int),
                        "seconds": ok_seconds, "spend": spend,
                        "possibly_billed": unsure_cost})
    per_day = per.dropna(subset=["date"]).groupby("date", as_index=False).sum()
    spend_today, spend_this_month = spend_on(per_day, today)
    return HistoryStats(
        total=len(frame),
        succeeded=n_ok,
        failed=n_failed,
        success_rate=n_ok / (n_ok + n_failed) if n_ok + n_failed else None,
        inference_p50=float(times.quantile(0.5)) if len(times) else None,
        inference_p95=float(times.quantile(0.95)) if len(times) else None,
        seconds_generated=float(ok_seconds.sum()),
        spend_total=round(float(spend.sum()), 2),
        spend_today=spend_today,
        spend_this_month=spend_this_month,
        possibly_billed=int(unsure.sum()),
        possibly_billed_usd=round(float(unsure_cost.sum()), 2),
        per_day=per_day,
        per_month=per_month_of(per_day),
        top_templates=template_stats(frame).head(10),
        inference_times=times,
        expected_times=measured_expectations(frame["duration"][succeeded],
                                             frame["inference_s"][succeeded]),
    )


# -- people ---------------------------------------------------------------------------

#: How a generation with no name on it (from before names were kept) is listed.
NO_NAME = "(no name)"


def _people(frame: pd.DataFrame) -> np.ndarray:
    """Per row, who made it: `created_by` trimmed and lowercased ("" for nobody)."""
    return (frame["created_by"].fillna("").astype(str).str.strip().str.lower()
            .to_numpy(dtype=object))


@dataclass(frozen=True)
class Commitments:
    """What one month's generations have spent or may still cost, in USD, in all and by
    person (`created_by`, lowercased): succeeded ones at their cost, those still queued or
    running and possibly billed ones at their estimate; failures that were not billed
    cost nothing. Budgets (`kling.people.budgets`) are checked against it."""

    total_usd: float = 0.0
    by_person: Mapping[str, float] = field(default_factory=dict)


def month_commitments(frame: pd.DataFrame, price_per_second: float,
                      month: date | None = None) -> Commitments:
    """The `Commitments` of the month of `month` (default: this month), by the creation
    time of each generation in the studio's time zone. Hidden ones count: removing a
    generation from view does not give its money back."""
    created = frame["created_at"]
    tz = created.dt.tz or local_timezone()
    month = month or datetime.now(tz).date()
    money = _money(frame, price_per_second)
    committed = money.spend + money.unsure_cost + money.pending_cost
    inside = ((created.dt.year == month.year) & (created.dt.month == month.month)
              ).to_numpy(dtype=bool, na_value=False)
    if not inside.any():
        return Commitments()
    amounts = pd.Series(committed[inside], index=_people(frame)[inside])
    by_person = amounts[amounts.index != ""].groupby(level=0).sum()
    return Commitments(total_usd=round(float(amounts.sum()), 2),
                       by_person={str(k): round(float(v), 2) for k, v in by_person.items()})


def spend_by_person_month(frame: pd.DataFrame, price_per_second: float) -> pd.DataFrame:
    """Per month ("YYYY-MM", newest first) and person (most spent first): how many
    generations they made, their confirmed spend and their possibly billed estimate."""
    columns = ["month", "person", "generations", "spend_usd", "possibly_billed_usd"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    money = _money(frame, price_per_second)
    people = _people(frame)
    table = pd.DataFrame({
        "month": frame["created_at"].dt.strftime("%Y-%m").to_numpy(dtype=object),
        "person": np.where(people == "", NO_NAME, people),
        "generations": 1, "spend_usd": money.spend, "possibly_billed_usd": money.unsure_cost,
    }).dropna(subset=["month"])
    table = table.groupby(["month", "person"], as_index=False).sum()
    table[["spend_usd", "possibly_billed_usd"]] = table[
        ["spend_usd", "possibly_billed_usd"]].round(2)
    return table.sort_values(["month", "spend_usd", "person"],
                             ascending=[False, False, True], ignore_index=True)[columns]
