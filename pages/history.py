"""History: find, play, compare, annotate, re-run, analyse and export every generation."""

import streamlit as st

from kling.ui.history_analysis import render_analysis, render_people_spend, stats_for
from kling.ui.history_dialogs import open_requested_dialog
from kling.ui.history_export import render_exports
from kling.ui.history_view import (
    matching_rows, render_empty_log, render_filters, render_gallery, render_summary,
    render_table, view_tabs,
)
from kling.ui.sidebar import start_page

studio, owner = start_page()

st.title("History")
st.caption("Every video made in the studio or from the command line: find a clip, compare "
           "takes, mark the good ones, re-run a winner with the same seed.")
everything = studio.history.load()
if everything.empty:
    render_empty_log(owner)
    st.stop()

query = render_filters(studio, everything)
rows = matching_rows(studio, query)
count, export = st.columns([5, 1], vertical_alignment="center")
with count:
    render_summary(rows, everything, query)
with export.container(horizontal=True, horizontal_alignment="right"):
    render_exports(rows)

gallery, table, analysis = view_tabs()
if gallery.open:
    with gallery:
        render_gallery(studio, rows)
if table.open:
    with table:
        render_table(studio, rows)
if analysis.open:
    with analysis:
        render_analysis(studio, stats_for(studio, query, rows))
        render_people_spend(studio, rows)

open_requested_dialog(studio, owner)
