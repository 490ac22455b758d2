"""Kling Studio: page config and navigation; each page draws the shared sidebar."""

import streamlit as st

from kling.ui.state import studio_pages

st.set_page_config(page_title="Kling Studio", page_icon="🎬", layout="wide")
st.navigation(studio_pages()).run()
