"""The Analysis view: what the team made, how reliably, how fast, and what it cost.

Figures come from the core (`HistoryLog.stats`). Charts are drawn from its small
aggregates (per day, per month, per template), never from raw rows, so a hundred thousand
generations send a few hundred points to the browser; the inference times are binned
here for the same reason.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from kling.billing import POSSIBLY_BILLED
from kling.history import HistoryQuery, HistoryStats
from kling.services import Studio
from kling.ui.history_detail import template_names
from kling.ui.history_export import spreadsheet_safe

_HISTOGRAM_BINS = 30
_READY = "#2e9e5b"
_OUTCOME_COLOURS = alt.Scale(domain=["Ready", "Failed", "Unfinished"],
                             range=[_READY, "#d64545", "#9aa0a6"])
_HEIGHT = 260
#: Axis labels in dollars; cents only where a tick needs them (no "$1, $1, $2").
_DOLLARS = "$,.2~f"
#: Readable on the dark and the light theme.
_MARKER = "#f2b134"
#: A chart of only a few bars keeps them this wide rather than filling its width.
_FEW_BARS, _BAR_SIZE = 8, 44
#: Up to this many days, each day is its own labelled bar (or point).
_DISCRETE_DAYS = 45
#: "Most used templates": pixels per template row, bar thickness, longest name shown.
_TEMPLATE_ROW_PX, _TEMPLATE_BAR_PX, _TEMPLATE_LABEL_PX = 40, 22, 220
#: Counts beside the bars: readable on the dark and the light theme.
_COUNT_TEXT = "#9aa0a6"


def _per_day_outcomes(stats: HistoryStats) -> pd.DataFrame:
    day = stats.per_day
    unfinished = day["generations"] - day["succeeded"] - day["failed"]
    wide = pd.DataFrame({"date": day["date"], "Ready": day["succeeded"],
                         "Failed": day["failed"], "Unfinished": unfinished})
    return wide.melt("date", var_name="outcome", value_name="generations")


def _bars(chart: alt.Chart, count: int, **style: object) -> alt.Chart:
    """Bars for up to a few weeks of points (not too wide when there are only a few);
    beyond, a stepped area, because months of daily bars become a wall of slivers."""
    if count > _DISCRETE_DAYS:
        return chart.mark_area(interpolate="step-after", **style)
    return chart.mark_bar(**style, **({"size": _BAR_SIZE} if count <= _FEW_BARS else {}))


def _day_axis(days: int) -> alt.X:
    """Whole-day bars for a few weeks; a continuous time axis for longer spans."""
    if days <= _DISCRETE_DAYS:
        return alt.X("yearmonthdate(date):O", title=None,
                     axis=alt.Axis(format="%d %b", labelAngle=0, labelOverlap=True))
    return alt.X("yearmonthdate(date):T", title=None, axis=alt.Axis(format="%d %b"))


def _generations_chart(stats: HistoryStats) -> alt.Chart:
    days = len(stats.per_day)
    return _bars(alt.Chart(_per_day_outcomes(stats), height=_HEIGHT), days).encode(
        x=_day_axis(days),
        y=alt.Y("sum(generations):Q", title="Generations"),
        color=alt.Color("outcome:N", scale=_OUTCOME_COLOURS, title=None,
                        legend=alt.Legend(orient="top")),
        order=alt.Order("outcome:N", sort="descending"),
        tooltip=[alt.Tooltip("yearmonthdate(date):T", title="Day"), "outcome:N",
                 alt.Tooltip("sum(generations):Q", title="Generations")],
    )


def _success_chart(stats: HistoryStats) -> alt.Chart:
    day = stats.per_day
    finished = day["succeeded"] + day["failed"]
    frame = pd.DataFrame({"date": day["date"],
                          "rate": day["succeeded"] / finished.where(finished > 0)}).dropna()
    points = alt.OverlayMarkDef(color=_READY) if len(frame) <= _DISCRETE_DAYS else False
    return alt.Chart(frame, height=_HEIGHT).mark_line(point=points, color=_READY).encode(
        x=_day_axis(len(frame)),
        y=alt.Y("rate:Q", title="Succeeded", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("yearmonthdate(date):T", title="Day"),
                 alt.Tooltip("rate:Q", title="Success rate", format=".0%")],
    )


def inference_histogram(times: pd.Series, bins: int = _HISTOGRAM_BINS) -> pd.DataFrame:
    """Counts of inference times in equal bins (start, end, count) for the chart."""
    counts, edges = np.histogram(times.to_numpy(dtype=float), bins=bins)
    return pd.DataFrame({"start": edges[:-1], "end": edges[1:], "count": counts})


def _inference_chart(stats: HistoryStats) -> alt.LayerChart:
    bars = alt.Chart(inference_histogram(stats.inference_times), height=_HEIGHT).mark_bar(
        color="#4c78a8").encode(
        x=alt.X("start:Q", bin="binned", title="Inference time (s)"),
        x2="end:Q",
        y=alt.Y("count:Q", title="Generations"),
        tooltip=[alt.Tooltip("start:Q", format=".1f", title="From (s)"),
                 alt.Tooltip("end:Q", format=".1f", title="To (s)"), "count:Q"],
    )
    marks = pd.DataFrame({"label": ["p50", "p95"],
                          "seconds": [stats.inference_p50, stats.inference_p95]})
    rules = alt.Chart(marks).mark_rule(strokeDash=[4, 3], color=_MARKER,
                                       strokeWidth=2).encode(x="seconds:Q")
    labels = alt.Chart(marks).mark_text(align="left", dx=4, dy=-6, color=_MARKER,
                                        fontWeight="bold").encode(
        x="seconds:Q", y=alt.value(10),
        text=alt.Text("label:N"))
    return bars + rules + labels


def _money_and_seconds(frame: pd.DataFrame, axis: alt.X) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Seconds of video generated**")
        st.altair_chart(_bars(alt.Chart(frame, height=_HEIGHT), len(frame),
                              color="#4c78a8").encode(
            x=axis, y=alt.Y("seconds:Q", title="Seconds"),
            tooltip=[alt.Tooltip("seconds:Q", format=",.0f")],
        ), width="stretch")
    with right:
        st.markdown("**Estimated spend**")
        st.altair_chart(_bars(alt.Chart(frame, height=_HEIGHT), len(frame),
                              color="#f58518").encode(
            x=axis, y=alt.Y("spend:Q", title="USD", axis=alt.Axis(format=_DOLLARS)),
            tooltip=[alt.Tooltip("spend:Q", format="$,.2f"),
                     alt.Tooltip("possibly_billed:Q", title=POSSIBLY_BILLED, format="$,.2f")],
        ), width="stretch")


def templates_chart(table: pd.DataFrame) -> alt.LayerChart:
    """One labelled bar per template (`template`, `uses`, ...), most used on top, "3 videos"
    at its end. Streamlit fits the whole chart into its height, so the height is set per
    bar: two templates draw two readable bars, ten draw ten, never slivers."""
    table = table.assign(videos=[f"{uses:,} video{'s' if uses != 1 else ''}"
                                 for uses in table["uses"]])
    base = alt.Chart(table).encode(
        y=alt.Y("template:N", sort="-x", title=None,
                axis=alt.Axis(labelLimit=_TEMPLATE_LABEL_PX, labelFontSize=13, ticks=False,
                              domain=False, labelPadding=8)),
        tooltip=[alt.Tooltip("template:N", title="Template"),
                 alt.Tooltip("uses:Q", title="Generations"),
                 alt.Tooltip("success_rate:Q", format=".0%", title="Succeeded"),
                 alt.Tooltip("avg_rating:Q", format=".1f", title="Average rating")],
    )
    bars = base.mark_bar(color="#72b7b2", size=_TEMPLATE_BAR_PX, cornerRadiusEnd=3).encode(
        x=alt.X("uses:Q", title=None, axis=None, scale=alt.Scale(domainMin=0, nice=False)))
    counts = base.mark_text(align="left", dx=6, fontSize=13, color=_COUNT_TEXT).encode(
        x="uses:Q", text="videos:N")
    return (bars + counts).properties(height=_TEMPLATE_ROW_PX * len(table))


def _templates(studio: Studio, stats: HistoryStats) -> None:
    top = stats.top_templates
    if top.empty:
        st.caption("No generation used a template yet.")
        return
    names = template_names(studio)
    table = top.assign(template=top["template_id"].map(lambda t: names.get(t, t)))
    st.altair_chart(templates_chart(table), width="stretch")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def stats_for(studio: Studio, query: HistoryQuery) -> HistoryStats:
    """The figures of what the filters let through (the core's cached figures when
    nothing is filtered)."""
    return studio.history.stats(query=query)


def render_analysis(studio: Studio, stats: HistoryStats) -> None:
    """Figures and charts of the generations the filters let through."""
    if stats.total == 0:
        st.info("Nothing to analyse: no generations match these filters.",
                icon=":material/analytics:")
        return
    figures = st.columns(6)
    figures[0].metric("Generations", f"{stats.total:,}",
                      help=f"{stats.succeeded:,} ready, {stats.failed:,} failed")
    figures[1].metric("Success rate", "—" if stats.success_rate is None
                      else f"{stats.success_rate:.0%}",
                      help="Ready ÷ (ready + failed); unfinished ones are not counted.")
    figures[2].metric("Inference p50", _seconds(stats.inference_p50),
                      help="Half of the videos took less than this.")
    figures[3].metric("Inference p95", _seconds(stats.inference_p95),
                      help="95 in 100 videos took less than this.")
    figures[4].metric("Seconds generated", f"{stats.seconds_generated:,.0f} s")
    figures[5].metric("Estimated spend", f"${stats.spend_total:,.2f}",
                      help="Videos that were made, at the configured price per second of "
                           "video. Possibly billed ones are counted apart.")
    if stats.possibly_billed:
        st.warning(f"**{POSSIBLY_BILLED.capitalize()}: ${stats.possibly_billed_usd:,.2f}** "
                   f"for {stats.possibly_billed:,} generation(s) that were sent but whose "
                   "answer never came. Firemoon may have made and charged them; they are "
                   "not in the spend above. Check your Firemoon account.",
                   icon=":material/account_balance_wallet:")

    per_day, success = st.columns(2)
    with per_day:
        st.markdown("**Generations per day**")
        st.altair_chart(_generations_chart(stats), width="stretch")
    with success:
        st.markdown("**Success rate per day**")
        st.altair_chart(_success_chart(stats), width="stretch")

    timing, templates = st.columns(2)
    with timing:
        st.markdown("**Inference time**")
        if stats.inference_times.empty:
            st.caption("No finished videos yet.")
        else:
            st.altair_chart(_inference_chart(stats), width="stretch")
    with templates:
        st.markdown("**Most used templates**")
        _templates(studio, stats)

    period = st.segmented_control("Spend and seconds", ("By day", "By month"),
                                  default="By month", required=True, key="spend_period")
    if period == "By day":
        _money_and_seconds(stats.per_day, _day_axis(len(stats.per_day)))
    else:
        _money_and_seconds(stats.per_month, alt.X("month:O", title=None,
                                                  axis=alt.Axis(labelAngle=0)))


def render_people_spend(studio: Studio, query: HistoryQuery) -> None:
    """Spend by person and by month, of the generations the filters let through."""
    st.markdown("**Spend by person and month**")
    table = studio.history.spend_by_person_month(query=query)
    if table.empty:
        st.caption("Nothing was spent on these generations.")
        return
    chart, figures = st.columns([3, 2])
    with chart:
        st.altair_chart(alt.Chart(table, height=_HEIGHT).mark_bar().encode(
            x=alt.X("month:O", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("spend_usd:Q", title="USD", axis=alt.Axis(format=_DOLLARS)),
            color=alt.Color("person:N", title="Made by"),
            tooltip=["month:O", alt.Tooltip("person:N", title="Made by"),
                     alt.Tooltip("spend_usd:Q", title="Spend", format="$,.2f"),
                     alt.Tooltip("possibly_billed_usd:Q", title=POSSIBLY_BILLED,
                                 format="$,.2f")],
        ), width="stretch")
    with figures:
        st.dataframe(spreadsheet_safe(table), hide_index=True, width="stretch", column_config={
            "month": "Month", "person": "Made by", "generations": "Generations",
            "spend_usd": st.column_config.NumberColumn("Spend", format="dollar"),
            "possibly_billed_usd": st.column_config.NumberColumn(
                POSSIBLY_BILLED.capitalize(), format="dollar",
                help="Sent, but the answer never came: Firemoon may have charged it."),
        })
