"""Templates: start from a proven prompt, fill in its blanks, and generate; keep the team's own."""

import streamlit as st

from kling.ui.sidebar import start_page
from kling.ui.templates_common import render_damage, show_notice
from kling.ui.templates_transfer import render_export, render_import
from kling.ui.templates_view import render_library, render_workspace

studio, owner = start_page()

st.title("Templates")
st.caption("Prompts written to Kling's advice, with blanks for your product, place and "
           "people. Fill them in, then generate or refine them on the Generate page.")
show_notice("page")
# A damaged team file is said once, here, with the ways out; the built-ins stay usable.
damaged = render_damage(studio.templates)
library_tab, transfer_tab = st.tabs(["Library", "Import and export"])
with library_tab:
    browse, workspace = st.columns([2, 3], gap="large")
    with browse:
        render_library(studio)
    with workspace:
        show_notice("workspace", owner)
        render_workspace(studio, owner)
with transfer_tab:
    if damaged:
        st.caption("Import and export wait until your team's template file is restored or "
                   "set aside (above).")
    else:
        export, upload = st.columns([2, 3], gap="large")
        with export:
            render_export(studio.templates)
        with upload:
            render_import(studio.templates)
