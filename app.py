"""Kling Studio: page config and navigation; each page draws the shared sidebar."""

import streamlit as st

from kling.ui.state import GENERATE_PAGE, HISTORY_PAGE, TEMPLATES_PAGE

st.set_page_config(page_title="Kling Studio", page_icon="🎬", layout="wide")

navigation = st.navigation([
    st.Page(GENERATE_PAGE, title="Generate", icon=":material/movie:", default=True),
    st.Page(TEMPLATES_PAGE, title="Templates", icon=":material/library_books:"),
    st.Page(HISTORY_PAGE, title="History", icon=":material/history:"),
])
navigation.run()
