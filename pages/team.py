"""Team: monthly budgets, who has which role, and each person's spend this month (admins)."""

import streamlit as st

from kling.people import Action
from kling.ui.access import explain
from kling.ui.sidebar import start_page
from kling.ui.team import render_budgets, render_people

studio, owner = start_page()

st.title("Team")
st.caption("Budgets keep the company's Firemoon credit in hand: each request is checked "
           "against them before anything is sent.")
if explain(studio, Action.SET_BUDGETS):
    budgets, people = st.columns([3, 2], gap="large")
    with budgets:
        st.subheader("Monthly budgets", anchor=False)
        render_budgets(studio)
    with people:
        st.subheader("People this month", anchor=False)
        render_people(studio)
