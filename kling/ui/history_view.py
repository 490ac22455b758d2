"""The History page's list: filters kept in the URL, a paged gallery and table, and what
can be done with a selection.

Filters are widgets bound to query parameters (`bind="query-params"`), so a view can be
shared by its address (`?q=waves&status=Failed&view=Table`); the parameters are the
widgets' keys (`FILTER_DEFAULTS`) and their values the labels people see, which is
what Streamlit keeps in the URL for a bound widget. Only one page of rows (12 cards, 50
table rows) is ever asked of the history (`count` and `page`), so a log of a million
generations renders as one of a hundred does: the store filters, sorts and pages (in
SQL, for a team database).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from kling.assembly import read_recipe
from kling.errors import KlingError
from kling.history import (
    POSSIBLY_BILLED_STATUS, REVIEW_STATUSES, SORTS, STATUSES, HistoryQuery,
)
from kling.models import ASPECT_RATIOS, DURATIONS
from kling.people import Action
from kling.services import Studio
from kling.ui.access import allowed, reason
from kling.ui.history_detail import (
    MAX_COMPARE, annotate, ask_to_delete_files, ask_to_remove, open_compare, open_detail,
    render_media, template_names,
)
from kling.ui.history_export import render_zip_button, spreadsheet_safe
from kling.ui.history_format import (
    COUNT_AT_MOST, REVIEW_LABELS, SORT_LABELS, STATUS_FILTER_LABELS, badges, how_many,
    settings_line, short, stars, status_text, table_height, when,
)
from kling.ui.state import GENERATE_PAGE, generate_link
from kling.ui.text import literal

GALLERY_PAGE_SIZE = 12
GALLERY_COLUMNS = 3
TABLE_PAGE_SIZE = 50
_TABLE_HEIGHT = 600  # pixels: about 16 rows, then the table scrolls
VIEWS = ("Gallery", "Table", "Analysis")

#: Every filter widget's key (also its URL parameter) and its "show everything" value.
FILTER_DEFAULTS: dict[str, object] = {
    "q": "", "status": [], "ratio": [], "duration": [], "from": None, "to": None,
    "template": [], "fav": False, "min_rating": None, "review": [], "hidden": False,
    "by": [], "sort": "newest",
}
_PAGE_KEYS = ("page", "table_page")


# -- filters ----------------------------------------------------------------------------

def _back_to_first_page() -> None:
    # A new filter makes "page 7" meaningless; start the result from its beginning.
    # Bound widgets change only through session state (popping it would let the URL
    # bring the old value back); at its default value the parameter leaves the URL.
    for key in _PAGE_KEYS:
        st.session_state[key] = 1


def clear_filters() -> None:
    """Show everything again (a callback)."""
    for key, value in FILTER_DEFAULTS.items():
        st.session_state[key] = value
    _back_to_first_page()


def _template_options(studio: Studio) -> dict[str, str]:
    """Template id -> name for the templates that appear in the log, by name."""
    names = template_names(studio)
    return dict(sorted(((i, names.get(i, i)) for i in studio.history.template_ids()),
                       key=lambda item: item[1].lower()))


def _rating_option(stars_at_least: int) -> str:
    return "★★★★★ only" if stars_at_least == 5 else f"{'★' * stars_at_least} and up"


def _find_by_file(studio: Studio) -> None:
    """Search for the generation a dropped video file came from, by the recipe it carries."""
    upload = st.session_state.get("find_file")
    if upload is None:
        return
    with tempfile.NamedTemporaryFile(suffix=".mp4") as copy:
        copy.write(upload.getvalue())
        copy.flush()
        try:
            recipe = read_recipe(copy.name)
        except KlingError:
            recipe = None
    gen_id = (recipe or {}).get("id")
    if not isinstance(gen_id, str) or studio.history.get(gen_id) is None:
        st.session_state["find_file_problem"] = (
            f"{upload.name} does not say which generation it is (it carries no Kling Studio "
            "recipe, or its generation is not in this history).")
        return
    st.session_state.pop("find_file_problem", None)
    st.session_state["q"] = gen_id
    _back_to_first_page()


def render_filters(studio: Studio) -> HistoryQuery:
    """The search box and filters; returns the query they describe."""
    bound = {"bind": "query-params", "on_change": _back_to_first_page}
    search, status, sort = st.columns([3, 2, 1.2], vertical_alignment="bottom")
    text_query = search.text_input(
        "Search", key="q", live="400ms", icon=":material/search:",
        placeholder="Words from a prompt, a note or a tag — or an id", **bound)
    statuses = status.multiselect("Status", (*STATUSES, POSSIBLY_BILLED_STATUS), key="status",
                                  format_func=STATUS_FILTER_LABELS.get,
                                  placeholder="Any status", **bound,
                                  help="**Possibly billed**: sent, but Firemoon's answer "
                                       "never came, so it may have cost money.")
    sort_by = sort.selectbox("Sort by", SORTS, key="sort", format_func=SORT_LABELS.get,
                             **bound)
    with st.expander("Find a video by its file", icon=":material/video_file:"):
        st.file_uploader("Drop a video made here", type=["mp4"], key="find_file",
                         on_change=_find_by_file, args=(studio,),
                         help="Every video the studio makes carries how it was made; the "
                              "search then shows its generation.")
        problem = st.session_state.get("find_file_problem")
        if problem:
            st.warning(literal(problem), icon=":material/search_off:")
    with st.expander("More filters", icon=":material/tune:"):
        shape, dates, template, review = st.columns([1, 1, 1.2, 1.4], gap="medium")
        ratios = shape.pills("Aspect ratio", ASPECT_RATIOS, selection_mode="multi",
                             key="ratio", **bound)
        durations = shape.pills("Duration", DURATIONS, selection_mode="multi",
                                key="duration", format_func=lambda d: f"{d} s", **bound)
        date_from = dates.date_input("From", value=None, key="from", format="YYYY-MM-DD",
                                     **bound)
        date_to = dates.date_input("To", value=None, key="to", format="YYYY-MM-DD", **bound)
        options = _template_options(studio)
        templates = template.multiselect(
            "Template", list(options), key="template", format_func=options.get,
            placeholder="Any template" if options else "No templates used yet",
            disabled=not options, **bound)
        min_rating = template.selectbox("Minimum rating", (1, 2, 3, 4, 5), index=None,
                                        key="min_rating", format_func=_rating_option,
                                        placeholder="Any rating", **bound)
        reviews = review.pills("Review", REVIEW_STATUSES, selection_mode="multi",
                               key="review", format_func=REVIEW_LABELS.get, **bound)
        favourites = review.toggle("Favourites only", key="fav", **bound)
        people = studio.history.people()
        makers = template.multiselect(
            "Made by", people, key="by", placeholder="Anyone" if people else "No names yet",
            disabled=not people, **bound,
            help="Who generated it: the person signed in, or the computer's user for the "
                 "command line.")
        hidden = review.toggle("Show removed", key="hidden", **bound,
                               help="Include generations removed from view, to restore them.")
    return HistoryQuery(
        text=text_query or "", statuses=statuses, aspect_ratios=ratios, durations=durations,
        date_from=date_from, date_to=date_to, template_ids=templates,
        favourites_only=favourites, min_rating=min_rating, review_statuses=reviews,
        include_hidden=hidden, people=tuple(makers), sort=sort_by or "newest",
    )


def view_tabs() -> Sequence:
    """Gallery, Table and Analysis; only the open one runs, and the URL remembers it."""
    return st.tabs(list(VIEWS), key="view", bind="query-params")


# -- what is shown ----------------------------------------------------------------------

def render_empty_log(owner: str) -> None:
    """A first visit: nothing made yet."""
    with st.container(border=True):
        st.markdown("#### Nothing here yet")
        st.markdown("Every video made in the studio or from the command line is kept "
                    "here: play it again, compare takes, mark the good ones, re-run a "
                    "winner with the same seed, and see what it all cost.")
        st.page_link(GENERATE_PAGE, label="Make your first video on Generate",
                     icon=":material/movie:", query_params=generate_link(owner))


def matching(studio: Studio, query: HistoryQuery) -> int:
    """How many generations `query` lets through, counted up to `COUNT_AT_MOST` (one
    more means more than that)."""
    return studio.history.count(query, at_most=None if query.unfiltered else COUNT_AT_MOST)


def render_summary(studio: Studio, matched: int, query: HistoryQuery) -> None:
    """How many generations the filters let through, and a way back to all of them."""
    line = st.container(horizontal=True, vertical_alignment="center")
    if query.unfiltered:
        line.markdown(f"**{matched:,}** generation{'s' if matched != 1 else ''}")
        return
    total = studio.history.count(HistoryQuery(include_hidden=query.include_hidden))
    line.markdown(f"**{how_many(matched)}** of {total:,} generations match")
    line.button("Clear filters", on_click=clear_filters, type="tertiary",
                icon=":material/filter_alt_off:", key="clear_filters")


def _render_no_match() -> None:
    st.info("No generations match these filters. Try fewer words, or **Clear filters** "
            "above.", icon=":material/search_off:")


def _paged(studio: Studio, query: HistoryQuery, matched: int, size: int, key: str,
           pager: DeltaGenerator) -> pd.DataFrame:
    """The rows of the current page, read alone; the page picker goes into `pager`."""
    pages = max(1, -(-min(matched, COUNT_AT_MOST) // size))
    if st.session_state.get(key, 1) > pages:  # fewer rows than a moment ago
        st.session_state[key] = pages
    with pager:
        number = st.pagination(pages, key=key, bind="query-params",
                               width="stretch") if pages > 1 else 1
        start = (number - 1) * size
        if pages > 1:
            st.caption(f"{start + 1:,}–{min(start + size, matched):,} of {how_many(matched)}")
    return studio.history.page(query, start, size)


def render_selection_bar(studio: Studio, selected: pd.DataFrame) -> None:
    """What can be done with the selected generations, all at once."""
    if selected.empty:
        st.caption("Tick **Select** on videos (or rows of the table) to compare them, rate "
                   "or approve several at once, download their videos, or remove them.")
        return
    ids = selected["id"].tolist()
    count = len(ids)
    bar = st.container(horizontal=True, vertical_alignment="center")
    bar.markdown(f"**{count} selected**")
    if count == 1:
        bar.button("Details", key="bulk-details", icon=":material/open_in_full:",
                   on_click=open_detail, args=(ids[0],))
    bar.button("Compare", key="bulk-compare", icon=":material/compare:",
               disabled=not 2 <= count <= MAX_COMPARE, on_click=open_compare, args=(ids,),
               help=f"Side by side: select two to {MAX_COMPARE}.")
    curate, review = reason(studio, Action.CURATE), reason(studio, Action.REVIEW)
    bar.button("Favourite", key="bulk-favourite", icon=":material/star:", on_click=annotate,
               args=(studio, ids, f"{count} added to favourites."), kwargs={"favourite": True},
               disabled=curate is not None, help=curate)
    bar.button("Approve", key="bulk-approve", icon=":material/check:", on_click=annotate,
               args=(studio, ids, f"{count} approved."), kwargs={"review_status": "approved"},
               disabled=review is not None, help=review)
    bar.button("Reject", key="bulk-reject", icon=":material/close:", on_click=annotate,
               args=(studio, ids, f"{count} rejected."), kwargs={"review_status": "rejected"},
               disabled=review is not None, help=review)
    with bar:
        render_zip_button(studio, selected)
    if not allowed(studio, Action.REMOVE):
        return  # removing and deleting are an admin's
    hidden = selected["hidden"].to_numpy(dtype=bool)
    shown_ids = [i for i, h in zip(ids, hidden) if not h]
    hidden_ids = [i for i, h in zip(ids, hidden) if h]
    if shown_ids:
        bar.button("Remove from view…", key="bulk-remove", icon=":material/visibility_off:",
                   on_click=ask_to_remove, args=(shown_ids,))
    if hidden_ids:
        bar.button("Restore to view", key="bulk-restore", icon=":material/visibility:",
                   on_click=annotate, args=(studio, hidden_ids, "Restored to view."),
                   kwargs={"hidden": False})
        bar.button("Delete video files…", key="bulk-delete", icon=":material/delete:",
                   on_click=ask_to_delete_files, args=(hidden_ids,))


# -- gallery ----------------------------------------------------------------------------

def _card(studio: Studio, row: dict) -> None:
    gen_id = row["id"]
    with st.container(border=True):
        st.markdown(" ".join(part for part in (f"**{when(row.get('created_at'))}**",
                                               badges(row)) if part))
        render_media(studio.archive, row, portrait_width=150, error_chars=110)
        st.text(short(row.get("prompt"), 140))
        rating = stars(row.get("rating"))
        st.caption(literal(settings_line(row)) + (f" · {rating}" if rating else ""))
        pick, details = st.columns(2, vertical_alignment="center")
        pick.checkbox("Select", key=f"pick-{gen_id}")
        details.button("Details", key=f"open-{gen_id}", icon=":material/open_in_full:",
                       on_click=open_detail, args=(gen_id,), width="stretch")


def render_gallery(studio: Studio, query: HistoryQuery, matched: int) -> None:
    """One page of video cards, newest first (or as sorted), with a selection bar."""
    if not matched:
        _render_no_match()
        return
    bar, grid, pager = st.container(), st.container(), st.container()
    page = _paged(studio, query, matched, GALLERY_PAGE_SIZE, "page", pager)
    records = page.to_dict("records")
    with grid:
        for start in range(0, len(records), GALLERY_COLUMNS):
            for row, column in zip(records[start:start + GALLERY_COLUMNS],
                                   st.columns(GALLERY_COLUMNS)):
                with column:
                    _card(studio, row)
    picked = [bool(st.session_state.get(f"pick-{row['id']}")) for row in records]
    with bar:
        render_selection_bar(studio, page[picked])


# -- table ------------------------------------------------------------------------------

def table_frame(page: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """One page of rows as the table shows them: spreadsheet-safe, as its toolbar's CSV
    download and the clipboard take the cells as they are."""
    template = page["template_id"].map(lambda t: names.get(t, t), na_action="ignore")
    status = [status_text(s, e) for s, e in zip(page["status"], page["error_type"])]
    return spreadsheet_safe(pd.DataFrame({
        "Created": page["created_at"],
        "Status": pd.Series(status, index=page.index, dtype=object),
        "Prompt": page["prompt"],
        "Duration": page["duration"].map(lambda d: f"{d} s", na_action="ignore"),
        "Aspect": page["aspect_ratio"],
        "Seed": page["seed"],
        "Inference": page["inference_s"],
        "Rating": page["rating"].map(stars, na_action="ignore"),
        "Review": page["review_status"].map(REVIEW_LABELS.get),
        "★": page["favourite"].map({True: "★", False: ""}),
        "Template": template,
        "Cost": page["cost_usd"],
        "Error": page["error"],
        "Id": page["id"],
    }).reset_index(drop=True))


_TABLE_COLUMNS = {
    "Created": st.column_config.DatetimeColumn(format="D MMM YYYY, HH:mm", width="medium"),
    "Prompt": st.column_config.TextColumn(width="large"),
    "Seed": st.column_config.NumberColumn(format="%d"),
    "Inference": st.column_config.NumberColumn(format="%.1f s"),
    "Cost": st.column_config.NumberColumn(
        format="$%.2f", help="Estimated. For a possibly billed generation: what it may have "
                             "cost, not counted as spend."),
    "Status": st.column_config.TextColumn(width="medium"),
    "★": st.column_config.TextColumn(help="Favourite", width=40),
}


def render_table(studio: Studio, query: HistoryQuery, matched: int) -> None:
    """One page of rows; ticking rows selects them for the bar above."""
    if not matched:
        _render_no_match()
        return
    bar, table, pager = st.container(), st.container(), st.container()
    page = _paged(studio, query, matched, TABLE_PAGE_SIZE, "table_page", pager)
    # Selections are row positions: a new key whenever other rows are shown starts afresh.
    digest = hashlib.blake2b("\n".join(page["id"]).encode(), digest_size=6).hexdigest()
    with table:
        event = st.dataframe(
            table_frame(page, template_names(studio)), key=f"table-{digest}",
            on_select="rerun", selection_mode="multi-row", hide_index=True,
            column_config=_TABLE_COLUMNS, width="stretch",
            height=table_height(len(page), limit=_TABLE_HEIGHT),
        )
    with bar:
        render_selection_bar(studio, page.iloc[list(event.selection.rows)])

