"""Which History dialog opens: the one the URL asks for (a generation, a comparison) or
the pending question (remove, delete files); at most one per run, as Streamlit allows."""

from __future__ import annotations

import streamlit as st

from kling.history import check_id
from kling.services import Studio
from kling.ui.history_compare import compare_dialog
from kling.ui.history_detail import (
    COMPARE_PARAM, CONFIRM_KEY, DETAIL_PARAM, MAX_COMPARE, confirm_delete, confirm_remove,
    detail_dialog, show_notices,
)


def _ids_from_url(name: str) -> list[str]:
    """Ids in a query parameter; anything that is not one of our ids is ignored."""
    found = []
    for part in st.query_params.get(name, "").split(","):
        try:
            found.append(check_id(part.strip()))
        except ValueError:
            continue
    return list(dict.fromkeys(found))


def open_requested_dialog(studio: Studio, owner: str) -> None:
    """Open the dialog the URL or a pending question asks for (at most one)."""
    show_notices()
    confirmation = st.session_state.get(CONFIRM_KEY)
    if confirmation:
        action, gen_ids = confirmation
        (confirm_remove if action == "remove" else confirm_delete)(studio, gen_ids)
        return
    compare = _ids_from_url(COMPARE_PARAM)
    if compare:
        compare_dialog(studio, compare[:MAX_COMPARE])
        return
    if DETAIL_PARAM in st.query_params:
        detail = _ids_from_url(DETAIL_PARAM)
        if detail:
            detail_dialog(studio, detail[0], owner)
        else:
            st.warning("That link does not point to a generation.", icon=":material/link_off:")
