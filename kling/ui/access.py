"""What a page shows a person their role does not allow: hidden or disabled, with why.

The rules themselves live in the core (`kling.people`); the stores a page is handed
refuse whatever a role may not do. This only keeps pages from offering it.
"""

from __future__ import annotations

import streamlit as st

from kling.people import Action
from kling.services import Studio
from kling.ui.text import literal


def allowed(studio: Studio, action: Action) -> bool:
    """True when this session's person may take `action`."""
    return studio.person.may(action)


def reason(studio: Studio, action: Action) -> str | None:
    """The help text of a control this person may not use (which role it needs, whom to
    ask), or None when they may use it."""
    refusal = studio.person.refusal(action, studio.people.roles.admins())
    return None if refusal is None else literal(str(refusal))


def explain(studio: Studio, action: Action) -> bool:
    """Say why this person may not take `action`, in place of the controls; True when
    they may (and nothing is said)."""
    why = reason(studio, action)
    if why is not None:
        st.info(why, icon=":material/lock:")
    return why is None
