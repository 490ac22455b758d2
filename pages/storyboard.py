"""Storyboard: shots with a shared style, made in takes, assembled into one spot with
captions, end card and music, and delivered in every platform's format."""

import streamlit as st

from kling.people import Action
from kling.ui.access import explain
from kling.ui.sidebar import start_page
from kling.ui.storyboard_edit import render_add_shot, render_list, render_settings
from kling.ui.storyboard_make import (
    render_assembly, render_deliverables, render_generate_all, render_shots, render_watch,
)

studio, owner = start_page()

st.title("Storyboard")
st.caption("Plan a spot shot by shot. Every shot shares the style line, is made in one to "
           "four takes, and the picked takes are assembled into one video with captions, "
           "an end card and music, then delivered for each platform.")
boards, workspace = st.columns([1, 3], gap="large")
with boards:
    board = render_list(studio)
with workspace:
    if not explain(studio, Action.EDIT):
        if board is not None:
            render_watch(studio, board)
    elif board is None:
        st.info("Create a storyboard on the left to start.", icon=":material/arrow_back:")
    else:
        render_settings(studio, board)
        render_generate_all(studio, board, owner)
        render_shots(studio, board, owner)
        render_add_shot(studio, board)
        st.subheader("Assemble")
        render_assembly(studio, board)
        st.subheader("Deliver")
        render_deliverables(studio, board)
