"""The Team page (admins, with sign-in): the monthly budgets, who has which role, and what
each person has spent or committed this month."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kling.people import Budgets, normal_email, usd
from kling.people.budgets import MAX_BUDGET_USD
from kling.services import Studio
from kling.ui.history_export import spreadsheet_safe
from kling.ui.history_format import when
from kling.ui.text import literal

_PEOPLE_COLUMNS = {"email": "Email", "budget": "Monthly budget (USD)"}


def _cap_input(label: str, value: float | None, key: str, help: str) -> float | None:
    return st.number_input(label, min_value=0.0, max_value=MAX_BUDGET_USD, value=value,
                           step=10.0, format="%.2f", placeholder="No cap", key=key, help=help)


def render_budgets(studio: Studio) -> None:
    """The caps an admin sets; every request is checked against them before it is sent."""
    budgets = studio.budgets.load()
    own = pd.DataFrame({"email": list(budgets.people), "budget": list(budgets.people.values())},
                       columns=list(_PEOPLE_COLUMNS))
    with st.form("budgets", border=True):
        team, each = st.columns(2)
        with team:
            team_usd = _cap_input("Team budget per month", budgets.team_usd, "budget_team",
                                  "Everything the studio spends or may spend this month.")
        with each:
            person_usd = _cap_input(
                "Each person's budget per month", budgets.person_usd, "budget_person",
                "For everyone without a budget of their own below.")
        st.markdown("**People with a budget of their own**")
        edited = st.data_editor(
            own.astype({"email": "string", "budget": "float"}), num_rows="dynamic",
            hide_index=True, width="stretch", key="budget_people", column_config={
                "email": st.column_config.TextColumn(_PEOPLE_COLUMNS["email"], required=True),
                "budget": st.column_config.NumberColumn(
                    _PEOPLE_COLUMNS["budget"], min_value=0.0, max_value=MAX_BUDGET_USD,
                    format="dollar", help="Empty: the budget of each person above."),
            })
        saved = st.form_submit_button("Save budgets", type="primary", icon=":material/save:")
    if saved:
        _save(studio, team_usd, person_usd, edited)
    for message in st.session_state.pop("budget_saved", ()):
        st.success(message, icon=":material/check:")
    if budgets.updated_by:
        st.caption(f"Last changed by {literal(budgets.updated_by)}"
                   + (f", {when(pd.Timestamp(budgets.updated_at))}" if budgets.updated_at else ""))
    st.caption("A generation, batch or re-run that does not fit in what is left is refused "
               "before anything is sent. Queued, running and possibly billed generations "
               "count as spent.")


def _save(studio: Studio, team_usd: float | None, person_usd: float | None,
          people: pd.DataFrame) -> None:
    rows = people.dropna(how="all")
    emails = [str(e) for e in rows["email"].fillna("")]
    try:
        budgets = Budgets.checked(
            team_usd=team_usd, person_usd=person_usd,
            people={email: (None if pd.isna(cap) else cap)
                    for email, cap in zip(emails, rows["budget"])})
        studio.budgets.save(budgets)
    except ValueError as exc:
        st.error(f"Not saved: {literal(exc)}.", icon=":material/error:")
        return
    st.session_state["budget_saved"] = ["Budgets saved."]
    st.rerun()


def people_this_month(studio: Studio) -> pd.DataFrame:
    """Everyone with a role entry, a budget or a generation this month: their role, what
    they have spent or committed this month, their cap and what is left."""
    budgets = studio.budgets.load()
    commitments = studio.history.commitments()
    roles = studio.people.roles
    emails = sorted({*commitments.by_person, *budgets.people,
                     *(entry for entry, _ in roles.entries if not entry.startswith("@"))})
    rows = []
    for email in emails:
        cap = budgets.cap_for(email)
        used = commitments.by_person.get(normal_email(email), 0.0)
        rows.append({"person": email, "role": roles.role_for(email).value,
                     "this_month": used, "cap": cap,
                     "left": None if cap is None else max(0.0, cap - used)})
    return pd.DataFrame(rows, columns=["person", "role", "this_month", "cap", "left"])


def render_people(studio: Studio) -> None:
    """Who has which role, and where each person stands this month."""
    roles = studio.people.roles
    domains = [f"{entry} → {role.value}" for entry, role in roles.entries
               if entry.startswith("@")]
    st.caption("Roles come from `[roles]` in the secrets file; everyone else who signs in is "
               f"a **{roles.default_role.value}**."
               + (f" Whole domains: {literal(', '.join(domains))}." if domains else ""))
    table = people_this_month(studio)
    st.dataframe(spreadsheet_safe(table), hide_index=True, width="stretch", column_config={
        "person": "Person", "role": st.column_config.TextColumn("Role"),
        "this_month": st.column_config.NumberColumn("Spent or committed", format="dollar"),
        "cap": st.column_config.NumberColumn("Budget", format="dollar"),
        "left": st.column_config.NumberColumn("Left", format="dollar"),
    })
    total = studio.history.commitments().total_usd
    team_cap = studio.budgets.load().team_usd
    st.caption(f"The team this month: {usd(total)} spent or committed"
               + (f" of {usd(team_cap)}." if team_cap is not None else "."))

