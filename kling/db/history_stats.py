"""The history's figures (`HistoryStats`) aggregated in SQL, so a team's History page and
sidebar never read a million rows to show a few numbers.

Every figure follows `kling.history.stats.compute_stats` (the contract tests compare the
two on the same generations): spend is confirmed spend of succeeded generations;
possibly billed ones (`kling.billing`) are counted apart at their logged cost or, when
none, the estimate; days are the studio's time zone's; percentiles interpolate as
pandas' `quantile` does (`percentile_cont`). Only the inference times behind the
histogram are read as values, a sample of at most `HISTOGRAM_SAMPLE` of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..billing import UNKNOWN_OUTCOME
from ..history.stats import (
    TEMPLATE_STATS_COLUMNS, HistoryStats, Spend, per_month_of, spend_on,
)
from ..timing import MIN_SAMPLES, Expectation
from .history_query import JOINED
from .tables import annotation_latest, generations

g, a = generations.c, annotation_latest.c
HISTOGRAM_SAMPLE = 50_000

_SUCCEEDED = g.status == "succeeded"
_FAILED = g.status == "failed"
_UNSURE = sa.or_(g.status == "interrupted",
                 sa.and_(g.status == "failed", g.error_type == UNKNOWN_OUTCOME))
#: "5", "10", "22.5" as seconds; anything else as nothing.
_SECONDS = sa.case((g.duration.regexp_match(r"^[0-9]+(\.[0-9]+)?$"),
                    sa.cast(g.duration, sa.Float)))


def _sum(condition: sa.ColumnElement, value: sa.ColumnElement | int = 1) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


def _money(price_per_second: float) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """A succeeded generation's spend, and a possibly billed one's estimate."""
    estimate = sa.func.coalesce(_SECONDS, 0) * price_per_second
    return (sa.func.coalesce(g.cost_usd, estimate),
            sa.case((g.cost_usd > 0, g.cost_usd), else_=estimate))


def _day(tz: tzinfo) -> sa.ColumnElement:
    zone = getattr(tz, "key", None) or "UTC"
    return sa.cast(sa.func.timezone(zone, g.created_at), sa.Date)


def sql_spend(connection: Connection, conditions: Iterable[sa.ColumnElement[bool]],
              price_per_second: float, today: date, tz: tzinfo) -> Spend:
    """`Spend` of the generations meeting `conditions`: this month's rows (by the time
    index) and the possibly billed ones (by the status index), not the whole history."""
    conditions = list(conditions)
    spend, unsure_cost = _money(price_per_second)
    month_start = datetime(today.year, today.month, 1, tzinfo=tz)
    this_month, on_today = connection.execute(
        sa.select(_sum(_SUCCEEDED, spend), _sum(sa.and_(_SUCCEEDED, _day(tz) == today), spend))
        .select_from(JOINED).where(*conditions, g.created_at >= month_start,
                                   _day(tz) <= today)).one()
    count, usd = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(unsure_cost), 0))
        .select_from(JOINED).where(*conditions, g.status.in_(("interrupted", "failed")),
                                   _UNSURE)).one()
    return Spend(today=round(float(on_today), 2), this_month=round(float(this_month), 2),
                 possibly_billed=int(count), possibly_billed_usd=round(float(usd), 2))


def sql_expected(connection: Connection, conditions: Iterable[sa.ColumnElement[bool]]
                 ) -> dict[str, Expectation]:
    """Measured inference times per duration of the generations meeting `conditions`."""
    return _expected(connection, [*conditions, _SUCCEEDED, g.inference_s.is_not(None)])


def sql_stats(connection: Connection, conditions: Iterable[sa.ColumnElement[bool]],
              price_per_second: float, today: date, tz: tzinfo) -> HistoryStats:
    """The figures of the generations meeting `conditions`."""
    conditions = list(conditions)
    spend, unsure_cost = _money(price_per_second)
    day = _day(tz).label("date")
    rows = connection.execute(
        sa.select(day, sa.func.count().label("generations"),
                  _sum(_SUCCEEDED).label("succeeded"), _sum(_FAILED).label("failed"),
                  _sum(_SUCCEEDED, sa.func.coalesce(_SECONDS, 0)).label("seconds"),
                  _sum(_SUCCEEDED, spend).label("spend"),
                  _sum(_UNSURE, unsure_cost).label("possibly_billed"),
                  _sum(_UNSURE).label("unsure"))
        .select_from(JOINED).where(*conditions).group_by(day).order_by(day)).all()
    days = pd.DataFrame(rows, columns=["date", "generations", "succeeded", "failed",
                                       "seconds", "spend", "possibly_billed", "unsure"])
    days = days.astype({"generations": "int64", "succeeded": "int64", "failed": "int64",
                        "seconds": "float64", "spend": "float64",
                        "possibly_billed": "float64", "unsure": "int64"})
    per_day = days[days["date"].notna()].drop(columns="unsure").reset_index(drop=True)
    per_day["date"] = pd.to_datetime(per_day["date"])
    n_ok, n_failed = int(days["succeeded"].sum()), int(days["failed"].sum())
    timed = [*conditions, _SUCCEEDED, g.inference_s.is_not(None)]
    p50, p95, timed_count = connection.execute(
        sa.select(sa.func.percentile_cont(0.5).within_group(g.inference_s),
                  sa.func.percentile_cont(0.95).within_group(g.inference_s),
                  sa.func.count()).select_from(JOINED).where(*timed)).one()
    spend_today, spend_this_month = spend_on(per_day, today)
    return HistoryStats(
        total=int(days["generations"].sum()),
        succeeded=n_ok,
        failed=n_failed,
        success_rate=n_ok / (n_ok + n_failed) if n_ok + n_failed else None,
        inference_p50=None if p50 is None else float(p50),
        inference_p95=None if p95 is None else float(p95),
        seconds_generated=float(days["seconds"].sum()),
        spend_total=round(float(days["spend"].sum()), 2),
        spend_today=spend_today,
        spend_this_month=spend_this_month,
        possibly_billed=int(days["unsure"].sum()),
        possibly_billed_usd=round(float(days["possibly_billed"].sum()), 2),
        per_day=per_day,
        per_month=per_month_of(per_day),
        top_templates=template_table(connection, conditions, tz, limit=10),
        inference_times=_inference_sample(connection, timed, timed_count),
        expected_times=_expected(connection, timed),
    )


def template_table(connection: Connection, conditions: list, tz: tzinfo,
                   limit: int | None = None) -> pd.DataFrame:
    """`kling.history.stats.template_stats` of the generations meeting `conditions`, the
    most used first (the first `limit`)."""
    used = [*conditions, g.template_id != ""]
    succeeded, failed = _sum(_SUCCEEDED), _sum(_FAILED)
    rows = connection.execute(
        sa.select(g.template_id, sa.func.count().label("uses"), succeeded, failed,
                  sa.func.avg(a.rating), sa.func.max(g.created_at).label("last_used"))
        .select_from(JOINED).where(*used).group_by(g.template_id)
        .order_by(sa.desc("uses"), sa.desc("last_used")).limit(limit)).all()
    table = pd.DataFrame({
        "template_id": pd.Series([r[0] for r in rows], dtype=object),
        "uses": pd.Series([r[1] for r in rows], dtype="int64"),
        "success_rate": pd.Series([r[2] / (r[2] + r[3]) if r[2] + r[3] else np.nan
                                   for r in rows], dtype="float64"),
        "avg_rating": pd.Series([np.nan if r[4] is None else float(r[4]) for r in rows],
                                dtype="float64"),
        "last_used": pd.to_datetime(pd.Series([r[5] for r in rows], dtype=object),
                                    utc=True).dt.tz_convert(tz).dt.as_unit("us"),
    })
    return table[list(TEMPLATE_STATS_COLUMNS)]


def _inference_sample(connection: Connection, timed: list, count: int) -> pd.Series:
    statement = sa.select(g.inference_s).select_from(JOINED).where(*timed)
    if count > HISTOGRAM_SAMPLE:  # every n-th by id: spread over the whole history
        step = -(-count // HISTOGRAM_SAMPLE)
        numbered = statement.add_columns(
            sa.func.row_number().over(order_by=g.id).label("n")).subquery()
        statement = sa.select(numbered.c.inference_s).where(numbered.c.n % step == 0)
    values = connection.execute(statement).scalars().all()
    return pd.Series(values, dtype="float64")


def _expected(connection: Connection, timed: list) -> dict[str, Expectation]:
    rows = connection.execute(
        sa.select(g.duration, sa.func.count(),
                  sa.func.percentile_cont(0.5).within_group(g.inference_s),
                  sa.func.percentile_cont(0.9).within_group(g.inference_s))
        .select_from(JOINED).where(*timed).group_by(g.duration)).all()
    return {str(duration): Expectation(float(p50), float(p90), int(n))
            for duration, n, p50, p90 in rows if n >= MIN_SAMPLES}
