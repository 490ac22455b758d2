"""The sidebar every page shares: mode, key and credits, jobs running, spend."""

from __future__ import annotations

import streamlit as st

from kling.errors import KlingError
from kling.services import Studio
from kling.ui.state import leave_legacy_pages_mode, owner, studio


@st.cache_data(ttl=30, show_spinner=False)
def _balance(_studio: Studio, base_url: str) -> float | None:
    # Cached briefly: the sidebar renders on every rerun and the balance changes slowly.
    try:
        return _studio.client.credits_balance()
    except KlingError:
        return None


@st.fragment(run_every=2)
def _jobs_running(studio: Studio, owner: str) -> None:
    # Refreshed on its own so that the count follows jobs started or finished
    # since the page last ran.
    mine = studio.queue.active_count(owner)
    everyone = studio.queue.active_count()
    st.metric("Jobs running", mine,
              help=f"{everyone} in the studio in all; at most "
                   f"{studio.queue.max_concurrency} run at once.")


def render_sidebar(studio: Studio, owner: str) -> None:
    """Draw the shared sidebar for this person."""
    with st.sidebar:
        if studio.demo:
            st.info(
                "**Demo mode** — videos come from the built-in simulator, nothing is "
                "billed. To use Firemoon, set `FIREMOON_API_KEY` in the environment or "
                "in `.streamlit/secrets.toml`, then restart the studio.",
                icon=":material/science:",
            )
        else:
            st.success("**Live** — connected to Firemoon. API key: set.",
                       icon=":material/key:")
        balance = _balance(studio, studio.client.base_url)
        if balance is not None:
            st.metric("Credit balance", f"${balance:,.2f}")

        _jobs_running(studio, owner)

        stats = studio.history.stats()
        st.metric("Spend today", f"${stats.spend_today:,.2f}")
        st.metric("Spend this month", f"${stats.spend_this_month:,.2f}")
        st.caption(f"Estimates at ${studio.settings.price_per_second:.2f} per second of video.")


def start_page() -> tuple[Studio, str]:
    """What every page does first: the services, this person's token, the sidebar.

    Each page calls this itself (rather than `app.py`) so that a page run on its own,
    as `AppTest.switch_page` does, still shows the mode and the counters.
    """
    leave_legacy_pages_mode()
    services, me = studio(), owner()
    render_sidebar(services, me)
    return services, me

