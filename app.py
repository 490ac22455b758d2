"""Kling Studio: page config, navigation and the sidebar every page shares."""

import streamlit as st

from kling.ui.sidebar import render_sidebar
from kling.ui.state import GENERATE_PAGE, HISTORY_PAGE, TEMPLATES_PAGE, owner, studio

st.set_page_config(page_title="Kling Studio", page_icon="🎬", layout="wide")

navigation = st.navigation([
    st.Page(GENERATE_PAGE, title="Generate", icon=":material/movie:", default=True),
    st.Page(TEMPLATES_PAGE, title="Templates", icon=":material/library_books:"),
    st.Page(HISTORY_PAGE, title="History", icon=":material/history:"),
])
render_sidebar(studio(), owner())
navigation.run()
