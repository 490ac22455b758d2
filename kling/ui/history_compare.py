"""Two to four generations side by side: their videos, and every setting, the ones that
differ highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Mapping

import pandas as pd
import streamlit as st

from kling.services import Studio
from kling.ui.history_detail import close_views, open_detail, render_media, template_names
from kling.ui.history_export import spreadsheet_safe
from kling.ui.history_format import (
    badges, differing_settings, facts, settings_line, short, table_height, when,
)
from kling.ui.text import literal

_LETTERS = "ABCD"
_DIFFERENCE_STYLE = "background-color: rgba(255, 189, 69, 0.28); font-weight: 600"


def comparison_table(rows: list[Mapping[str, Any]], names: Mapping[str, str]) -> pd.DataFrame:
    """Every fact of 2-4 generations, one column each (A, B, ...)."""
    described = [facts(row, names) for row in rows]
    return pd.DataFrame(
        {f"{_LETTERS[i]}": [fact.value for fact in d] for i, d in enumerate(described)},
        index=pd.Index([fact.label for fact in described[0]], name="Parameter"),
    )


def render_compare(studio: Studio, gen_ids: Sequence[str]) -> None:
    """2-4 generations side by side; settings that differ are highlighted."""
    rows = [row for row in (studio.history.get(i) for i in gen_ids) if row is not None]
    if len(rows) < 2:
        st.warning("Choose two to four generations to compare.", icon=":material/compare:")
        return
    names = template_names(studio)
    for letter, row, column in zip(_LETTERS, rows, st.columns(len(rows))):
        with column:
            st.markdown(f"**{letter}** · {when(row.get('created_at'))} {badges(row)}")
            render_media(studio.archive, row, portrait_width=240)
            st.caption(literal(settings_line(row)))
            st.text(short(row.get("prompt"), 160))
            if st.button("Details", key=f"compare-open-{row['id']}",
                         icon=":material/open_in_full:"):
                open_detail(row["id"])
                st.rerun()  # the whole page, so that the other dialog opens
    differs = differing_settings(rows, names)
    if differs:
        st.markdown("**Settings that differ:** " + ", ".join(differs))
    else:
        st.markdown("**Same settings** — only the outcome differs.")
    table = spreadsheet_safe(comparison_table(rows, names))
    styled = table.style.apply(
        lambda line: [_DIFFERENCE_STYLE if line.name in differs else ""] * len(line), axis=1)
    st.dataframe(styled, width="stretch", height=table_height(len(table)),
                 column_config={"_index": st.column_config.Column(width="medium")})


@st.dialog("Compare", width="large", on_dismiss=close_views)
def compare_dialog(studio: Studio, gen_ids: Sequence[str]) -> None:
    render_compare(studio, gen_ids)
