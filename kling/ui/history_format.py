"""How a generation reads on the History page: badges, stars, and its settings as text.

These helpers only turn the core's values into words; they never decide anything. The
gallery, the detail view and the comparison all use them, so a generation is described
the same way everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import pandas as pd

from kling.billing import POSSIBLY_BILLED, possibly_billed
from kling.history import POSSIBLY_BILLED_STATUS
from kling.history.schema import ASSEMBLED_SOURCE
from kling.ui.text import literal

#: What people call each status (the log's words are for programs).
STATUS_LABELS = {
    "succeeded": "Ready",
    "failed": "Failed",
    "pending": "Generating",
    "interrupted": "Interrupted",
}
_STATUS_COLOURS = {"succeeded": "green", "failed": "red", "pending": "blue",
                   "interrupted": "orange"}
REVIEW_LABELS = {"draft": "Draft", "approved": "Approved", "rejected": "Rejected"}
#: What each kind of event in a generation's trail (`HistoryLog.trail`) is called.
TRAIL_LABELS = {"generated": "Generated", "rating": "Rated", "review_status": "Reviewed",
                "notes": "Wrote notes", "tags": "Tagged", "favourite": "Favourite",
                "hidden": "Removed from view"}
_REVIEW_BADGES = {"approved": ":green-badge[:material/check: Approved]",
                  "rejected": ":red-badge[:material/close: Rejected]"}
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "inference_fast": "Fastest inference",
    "inference_slow": "Slowest inference",
    "rating": "Highest rated",
}
_INTERRUPTED_REASON = "Interrupted: the studio stopped before Firemoon's answer came back"
_UNKNOWN_OUTCOME_REASON = "Firemoon's answer never came"
_CHECK_FIRST = "Check your Firemoon account before re-running it."
INTERRUPTED_NOTE = f"{_INTERRUPTED_REASON}, so this video is {POSSIBLY_BILLED}. {_CHECK_FIRST}"
#: The status filter's extra value: generations that were sent and never answered.
STATUS_FILTER_LABELS = {**STATUS_LABELS, POSSIBLY_BILLED_STATUS: POSSIBLY_BILLED.capitalize()}
PENDING_NOTE = "Still generating. It appears here when it is ready."


def blank(value: Any) -> bool:
    """True for the many spellings of "no value" a pandas row can hold."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def text(value: Any, empty: str = "") -> str:
    """A cell as display text."""
    return empty if blank(value) else str(value)


def short(value: Any, limit: int = 140) -> str:
    """A prompt on one line, cut at a word near `limit` characters."""
    line = " ".join(text(value).split())
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut or line[:limit]) + "…"


def when(value: Any) -> str:
    """A time as people read it: 24 Nov 2025, 14:03."""
    if blank(value) or not isinstance(value, datetime):
        return "—"
    return f"{value.day} {value:%b %Y, %H:%M}"


def seconds(value: Any, digits: int = 1) -> str:
    return "—" if blank(value) else f"{float(value):.{digits}f} s"


def money(value: Any) -> str:
    return "—" if blank(value) else f"${float(value):,.2f}"


def money_md(value: Any) -> str:
    """`money` for Markdown: a bare `$` pair would turn the text between into maths."""
    return money(value).replace("$", "\\$")


def stars(rating: Any) -> str:
    """★★★☆☆ for 3, empty when not rated."""
    if blank(rating):
        return ""
    filled = int(rating)
    return "★" * filled + "☆" * (5 - filled)


def is_possibly_billed(row: Mapping[str, Any]) -> bool:
    """Sent, and its answer never came (`kling.billing`): it may have cost money."""
    return possibly_billed(text(row.get("status")), text(row.get("error_type")))


def status_text(status: Any, error_type: Any = None) -> str:
    """The status in words, for tables (plain text: a table cell cannot show a badge)."""
    key = text(status)
    label = STATUS_LABELS.get(key, key)
    if possibly_billed(key, text(error_type)):
        label += f" · {POSSIBLY_BILLED}"
    return label


def possibly_billed_note(row: Mapping[str, Any]) -> str:
    """Markdown: why a possibly billed generation may have cost money, how much, what to do."""
    reason = _INTERRUPTED_REASON if text(row.get("status")) == "interrupted" \
        else _UNKNOWN_OUTCOME_REASON
    cost = row.get("cost_usd")
    amount = "" if blank(cost) else f": about {money_md(cost)}"
    return f"{reason}, so this video is **{POSSIBLY_BILLED}**{amount}. {_CHECK_FIRST}"


def badges(row: Mapping[str, Any]) -> str:
    """Markdown badges: the status when it is not simply ready, the review, ★, removed."""
    parts = []
    status = text(row.get("status"))
    if status != "succeeded":
        parts.append(f":{_STATUS_COLOURS.get(status, 'gray')}-badge"
                     f"[{literal(STATUS_LABELS.get(status, status or 'Unknown'))}]")
    if is_possibly_billed(row):
        cost = row.get("cost_usd")
        amount = "" if blank(cost) else f" · about {money_md(cost)}"
        parts.append(f":orange-badge[:material/paid: {POSSIBLY_BILLED}{amount}]")
    review = _REVIEW_BADGES.get(text(row.get("review_status")))
    if review:
        parts.append(review)
    if row.get("favourite") is True:
        parts.append(":orange-badge[★ Favourite]")
    if row.get("hidden") is True:
        parts.append(":gray-badge[:material/visibility_off: Removed from view]")
    return " ".join(parts)


def settings_line(row: Mapping[str, Any]) -> str:
    """5 s · 16:9 · seed 42 · 12.3 s inference."""
    parts = [f"{text(row.get('duration'), '?')} s", text(row.get("aspect_ratio"), "?")]
    seed = row.get("seed")
    if row.get("source") == ASSEMBLED_SOURCE:
        parts.append("spot assembled from a storyboard")
    else:
        parts.append("random seed" if blank(seed) else f"seed {seed}")
    if not blank(row.get("inference_s")):
        parts.append(f"{float(row['inference_s']):.1f} s inference")
    return " · ".join(parts)


def table_height(rows: int, limit: int | None = None) -> int:
    """Pixels for a table of `rows` rows without a scroll bar (at most `limit`)."""
    height = 35 * (rows + 1) + 3  # st.dataframe's row height, header included
    return height if limit is None else min(height, limit)


@dataclass(frozen=True)
class Fact:
    """One line of a generation's description; `setting` marks what shapes the video."""

    label: str
    value: str
    setting: bool = False


def _template(row: Mapping[str, Any], template_names: Mapping[str, str]) -> str:
    template_id = text(row.get("template_id"))
    if not template_id:
        return "—"
    name = template_names.get(template_id, template_id)
    version = row.get("template_version")
    described = name if blank(version) else f"{name} (version {version})"
    variables = row.get("template_vars")
    if isinstance(variables, Mapping) and variables:
        described += " · " + ", ".join(f"{k} = {v}" for k, v in variables.items())
    return described


def _video_size(row: Mapping[str, Any]) -> str:
    width, height = row.get("video_width"), row.get("video_height")
    if blank(width) or blank(height):
        return "—"
    size = f"{width} × {height}"
    if not blank(row.get("video_duration")):
        size += f", {float(row['video_duration']):g} s"
    return size


def _tags(tags: Any) -> str:
    if isinstance(tags, list):
        return ", ".join(tags) or "—"
    return text(tags, "—")


def facts(row: Mapping[str, Any], template_names: Mapping[str, str]) -> list[Fact]:
    """Every parameter, timing and cost of a generation, in reading order."""
    error = text(row.get("error"))
    error_kind = text(row.get("error_type"))
    if not blank(row.get("http_status")):
        error_kind = f"{error_kind} (HTTP {row['http_status']})".strip()
    return [
        Fact("Prompt", text(row.get("prompt")), setting=True),
        Fact("Duration", f"{text(row.get('duration'), '?')} s", setting=True),
        Fact("Aspect ratio", text(row.get("aspect_ratio"), "—"), setting=True),
        Fact("Seed", text(row.get("seed"), "random"), setting=True),
        Fact("Template", _template(row, template_names), setting=True),
        Fact("Model", text(row.get("model"), "—"), setting=True),
        Fact("Status", status_text(row.get("status"), row.get("error_type"))),
        Fact("Created", when(row.get("created_at"))),
        Fact("Finished", when(row.get("finished_at"))),
        Fact("Inference time", seconds(row.get("inference_s"))),
        Fact("Total time", seconds(row.get("elapsed_s"))),
        Fact("Estimated cost", money(row.get("cost_usd")) + (
            f" ({POSSIBLY_BILLED})" if is_possibly_billed(row) else "")),
        Fact("Video", _video_size(row)),
        Fact("Rating", stars(row.get("rating")) or "—"),
        Fact("Review", REVIEW_LABELS.get(text(row.get("review_status")), "Draft")),
        Fact("Reviewed by", text(row.get("reviewed_by"), "—")),
        Fact("Tags", _tags(row.get("tags"))),
        Fact("Batch", text(row.get("batch_id"), "—")),
        Fact("Made with", {"cli": "command line", "studio": "studio"}.get(
            text(row.get("source")), text(row.get("source"), "—"))),
        Fact("Made by", text(row.get("created_by"), "—")),
        Fact("Error", f"{error} [{error_kind}]" if error and error_kind else error or "—"),
        Fact("Id", text(row.get("id"))),
    ]


def differing_settings(rows: list[Mapping[str, Any]],
                       template_names: Mapping[str, str]) -> list[str]:
    """Labels of the settings that are not the same in all of `rows`."""
    described = [facts(row, template_names) for row in rows]
    labels = [fact.label for fact in described[0] if fact.setting]
    return [label for label in labels
            if len({next(f.value for f in d if f.label == label) for d in described}) > 1]


#: Matches counted at the most: past it the page says "10,000+" (and pages that far).
COUNT_AT_MOST = 10_000


def how_many(matched: int) -> str:
    """A count of matches as the page says it: "10,000+" past what is counted."""
    return f"{COUNT_AT_MOST:,}+" if matched > COUNT_AT_MOST else f"{matched:,}"
