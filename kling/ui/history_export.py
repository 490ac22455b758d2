"""Taking generations out of the studio: the filtered rows as CSV or JSON, videos as a zip.

Every download is built only when it is clicked (`data` is a callable), so a page showing
a hundred thousand rows never encodes them on a rerun nobody asked for.

The page's tables are a way out too: `st.dataframe` has its own "Download as CSV" and
copies cells to the clipboard, neither of which guards against formulas. So every table
on the History page shows `spreadsheet_safe` text, by the same rule as the CSV export.
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import streamlit as st

from kling.history import HistoryQuery, export_csv, export_json, spreadsheet_text
from kling.services import Studio
from kling.ui.history_format import blank, how_many, text

_PROMPT_WORDS = 5
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell as the CSV export writes it (`spreadsheet_text`).

    Numbers, times and blanks stay as they are, so the table still sorts and formats them.
    """
    safe = frame.copy()
    for name in safe.columns:
        column = safe[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            safe[name] = column.map(
                lambda v: spreadsheet_text(v) if isinstance(v, str) else v)
    if safe.index.dtype == object:
        safe.index = safe.index.map(lambda v: spreadsheet_text(v) if isinstance(v, str) else v)
    return safe


def _slug(prompt: str) -> str:
    """The first words of a prompt as a safe file-name part (ASCII letters and digits)."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
    words = [w for w in _SLUG_CHARS.split(ascii_text.lower()) if w][:_PROMPT_WORDS]
    return "-".join(words)[:48].strip("-") or "video"


def video_file_name(row: Mapping[str, Any]) -> str:
    """`<date>_seed<seed>_<first words of the prompt>_<id>.mp4`: tells takes apart.

    The id (our own, file-name safe) keeps names unique even for two takes of one
    prompt and seed; everything else is reduced to ASCII letters, digits and dashes (and
    so is an id from an edited log: no NUL, slash or dot-dot reaches a zip).
    """
    created = row.get("created_at")
    day = created.strftime("%Y-%m-%d") if hasattr(created, "strftime") and not blank(created) \
        else "undated"
    seed = row.get("seed")
    seed_part = "seed-random" if blank(seed) else f"seed{int(seed)}"
    gen_id = _NOT_ID_CHARS.sub("", text(row.get("id"))) or "no-id"
    return f"{day}_{seed_part}_{_slug(text(row.get('prompt')))}_{gen_id}.mp4"


def videos_zip(files: Iterable[tuple[str, Path]]) -> bytes:
    """One zip of (name, path) pairs. MP4 is already compressed, so entries are stored."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in files:
            archive.write(path, arcname=name)
    return buffer.getvalue()


def archived_videos(studio: Studio, rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(file name in the zip, generation id) of the rows whose video is in the archive;
    a bucket's are fetched only when the zip is made (`path_for`)."""
    return [(video_file_name(row), row["id"])
            for row in rows.to_dict("records") if studio.archive.exists(row["id"])]


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M")


def render_exports(studio: Studio, query: HistoryQuery, matched: int) -> None:
    """A popover with the filtered rows (`matched` of them, as the page counts them) as
    CSV (safe for spreadsheets) and as JSON, read from the history only when clicked."""
    with st.popover("Export", icon=":material/download:"):
        st.caption(f"The {how_many(matched)} generations that match the filters, with every "
                   "column, notes and ratings included.")
        st.download_button(
            "CSV for spreadsheets", data=lambda: export_csv(studio.history.query(query)),
            file_name=f"kling-history-{_stamp()}.csv", mime="text/csv", on_click="ignore",
            icon=":material/table_view:", key="export_csv", disabled=not matched,
            help="Opens safely in Excel, Numbers or Google Sheets: cells that look like "
                 "formulas are kept as text.",
        )
        st.download_button(
            "JSON", data=lambda: export_json(studio.history.query(query)),
            file_name=f"kling-history-{_stamp()}.json", mime="application/json",
            on_click="ignore", icon=":material/data_object:", key="export_json",
            disabled=not matched,
        )


def render_zip_button(studio: Studio, selected: pd.DataFrame) -> None:
    """Download the archived videos of the selection as one zip, named to tell them apart."""
    files = archived_videos(studio, selected)
    missing = len(selected) - len(files)
    note = f" {missing} of the selection have no archived video." if missing else ""
    st.download_button(
        f"Download {len(files)} video{'s' if len(files) != 1 else ''} (.zip)",
        data=lambda: videos_zip((name, studio.archive.path_for(gen_id))
                                for name, gen_id in files),
        file_name=f"kling-videos-{_stamp()}.zip",
        mime="application/zip", on_click="ignore", icon=":material/folder_zip:",
        key="export_zip", disabled=not files,
        help="Files are named date_seed_first-words-of-prompt_id.mp4." + note,
    )
