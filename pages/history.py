"""History: find, play, compare, annotate, re-run, analyse and export every generation."""

import streamlit as st

from kling.ui.history_analysis import render_analysis, render_people_spend, stats_for
from kling.ui.history_dialogs import open_requested_dialog
from kling.ui.history_export import render_exports
from kling.history import HistoryQuery
from kling.ui.history_view import (
    matching, render_empty_log, render_filters, render_gallery, render_summary, render_table,
    view_tabs,
)
from kling.ui.sidebar import start_page

studio, owner = start_page()

st.title("History")
st.caption("Every video made in the studio or from the command line: find a clip, compare "
           "takes, mark the good ones, re-run a winner with the same seed.")
if not studio.history.count(HistoryQuery(include_hidden=True)):
    render_empty_log(owner)
    st.stop()

query = render_filters(studio)
matched = matching(studio, query)
count, export = st.columns([5, 1], vertical_alignment="center")
with count:
    render_summary(studio, matched, query)
with export.container(horizontal=True, horizontal_alignment="right"):
    render_exports(studio, query, matched)

gallery, table, analysis = view_tabs()
if gallery.open:
    with gallery:
        render_gallery(studio, query, matched)
if table.open:
    with table:
        render_table(studio, query, matched)
if analysis.open:
    with analysis:
        render_analysis(studio, stats_for(studio, query))
        render_people_spend(studio, query)

open_requested_dialog(studio, owner)
