"""The sidebar every page shares: mode, key and credits, jobs running, spend."""

from __future__ import annotations

import threading
import time
import weakref

import streamlit as st

from kling.billing import POSSIBLY_BILLED
from kling.errors import KlingError
from kling.history.stats import Spend
from kling.services import Studio
from kling.stores import HistoryStore
from kling.people import usd
from kling.ui.state import leave_legacy_pages_mode, owner, shared_history, studio
from kling.ui.text import literal


@st.cache_data(ttl=30, show_spinner=False)
def _account(_studio: Studio, base_url: str) -> tuple[float | None, str | None, str | None]:
    """(balance, error kind, error sentence); cached briefly because every rerun asks."""
    try:
        return _studio.client.credits_balance(), None, None
    except KlingError as err:
        return None, err.kind, str(err)


def _key_status(studio: Studio) -> None:
    balance, kind, message = _account(studio, studio.client.base_url)
    if kind in ("authentication", "access_denied"):
        st.error(f"**API key not accepted.** {literal(message)}", icon=":material/key_off:")
        return
    if not studio.demo:
        st.success("**Live** — Firemoon API key set.", icon=":material/key:")
    if balance is not None:
        st.metric("Credit balance", f"${balance:,.2f}")
    elif kind == "insufficient_credits":
        st.warning(literal(message), icon=":material/account_balance_wallet:")
    elif kind is not None:
        st.caption("The credit balance is not available right now.")


def _rate_limit(studio: Studio) -> None:
    limit = studio.client.last_rate_limit
    if limit is None or limit.remaining is None or limit.limit is None:
        return
    resets = ""
    if limit.reset:
        resets = f", resets at {time.strftime('%H:%M:%S', time.localtime(limit.reset))}"
    st.caption(f"Requests left this minute: {limit.remaining} of {limit.limit}{resets}.")


#: Seconds between two refreshes of the job counter while this person's jobs run.
REFRESH_SECONDS = 2.0


def _jobs_running(studio: Studio, owner: str) -> None:
    """The job counter and the requests left, refreshed on their own only while this
    person has a job queued, waiting or running: an idle session costs the server nothing.

    When the last of those jobs has finished, one whole-app run brings the rest of the
    page (spend, the job panel) up to date and leaves the counter without a timer.
    """
    live = studio.queue.active_count(owner) > 0

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def counter() -> None:
        mine = studio.queue.active_count(owner)
        everyone = studio.queue.active_count()
        st.metric("Jobs running", mine,
                  help=f"{everyone} in the studio in all; at most "
                       f"{studio.queue.max_concurrency} run at once.")
        _rate_limit(studio)
        if live and mine == 0:
            st.rerun(scope="app")

    counter()


class _SharedStats:
    """The last spend of one history, and when the read behind it began."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spend: Spend | None = None
        self.read_from = float("-inf")


_shared_stats: "weakref.WeakKeyDictionary[HistoryStore, _SharedStats]" = \
    weakref.WeakKeyDictionary()
_shared_stats_lock = threading.Lock()


def _spend(history: HistoryStore) -> Spend:
    """The history's spend, as fresh as asking it (read after this call began), with
    one computation serving every session that asked while it ran.

    Every page run shows the spend. While jobs run the log changes every few seconds,
    and each change makes the next `stats()` read the whole log again; sessions asking
    at once would each wait for the one before and then read it again themselves.
    """
    asked = time.monotonic()
    with _shared_stats_lock:
        shared = _shared_stats.setdefault(history, _SharedStats())
    with shared.lock:
        if shared.spend is None or shared.read_from < asked:
            started = time.monotonic()
            shared.spend = history.spend()
            shared.read_from = started
        return shared.spend


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
        _who(studio)
        _key_status(studio)
        _jobs_running(studio, owner)

        spend = _spend(shared_history())
        st.metric("Spend today", f"${spend.today:,.2f}")
        st.metric("Spend this month", f"${spend.this_month:,.2f}")
        if spend.possibly_billed:
            st.metric(f"{POSSIBLY_BILLED.capitalize()}", f"${spend.possibly_billed_usd:,.2f}",
                      help=f"{spend.possibly_billed} generation(s) were sent but no answer came "
                           "back, so Firemoon may have made and charged them. Not counted "
                           "in the spend above; check your Firemoon account.")
        _budget(studio)
        st.caption(f"Estimates at ${studio.settings.price_per_second:.2f} per second of video.")


def _who(studio: Studio) -> None:
    """Who is signed in, with what role, and the way out (only with sign-in)."""
    if not studio.people.sign_in:
        return
    person = studio.person
    st.markdown(f"Signed in as **{literal(person.label)}**")
    if person.name:
        st.caption(literal(person.email))
    st.caption(f"Role: {person.role.value}")
    st.button("Sign out", on_click=st.logout, icon=":material/logout:", key="sign_out")


def _budget(studio: Studio) -> None:
    """What this person may still spend this month, when a budget is set."""
    view = studio.budget_status()
    if view.person_cap is not None:
        st.metric("Your budget left", usd(view.person_left),
                  help=f"{usd(view.person_used)} of {usd(view.person_cap)} this month is spent, "
                       "queued or possibly billed.")
    if view.team_cap is not None:
        st.metric("Team budget left", usd(view.team_left),
                  help=f"{usd(view.team_used)} of {usd(view.team_cap)} this month is spent, "
                       "queued or possibly billed.")


def start_page(*, owner_in_url: bool = False) -> tuple[Studio, str]:
    """What every page does first: the studio, this person's token, the sidebar.

    Each page calls this itself (rather than `app.py`) so that a page run on its own,
    as `AppTest.switch_page` does, still shows the mode and the counters.
    """
    leave_legacy_pages_mode()
    services, person = studio(), owner(in_url=owner_in_url)
    render_sidebar(services, person)
    return services, person

