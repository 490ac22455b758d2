"""Generate: write a prompt, choose settings, and follow the videos as they are made."""

import streamlit as st

from kling.people import Action
from kling.ui.access import explain
from kling.ui.generate_form import apply_handoff, render_batch, render_form
from kling.ui.jobs_panel import render_jobs
from kling.ui.sidebar import start_page
from kling.ui.state import take_handoff

studio, owner = start_page(owner_in_url=True)
apply_handoff(take_handoff())

st.title("Generate")
st.caption("Kling 2.1 Master · text to video · 1080p from Firemoon")
if explain(studio, Action.GENERATE):
    single, batch = st.tabs(["Single prompt", "Batch from CSV"])
    with single:
        render_form(studio, owner)
    with batch:
        render_batch(studio, owner)

st.subheader("Your generations")
render_jobs(studio, owner)
