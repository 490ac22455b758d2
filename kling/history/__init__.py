"""The generation history: an append-only CSV log of every generation, plus its annotations.

`HistoryLog` owns `data/history.csv` (the log) and `data/annotations.csv` (favourites,
ratings, review status, notes, tags, hidden). The studio's pages, the job queue and the
command line all read and write through it; queries, statistics and exports work on the
frame it loads, so a page only lays out what they return.

Each module holds one part of the design, and says why it is as it is:

    schema       statuses, columns and generation ids
    csvformat    how a record is written: plain RFC 4180 CSV, and the format marker
    records      where records start and end in a log's bytes (torn tails)
    logfile      one append-only file: locked appends, torn tails set aside
    migrate      bringing an earlier version's log to this format, once
    parse        the tolerant reader: pandas first, record by record after damage
    annotations  the annotations log and its values
    frame        the loaded frame: typed, merged, cached, interrupted rows decided
    appended     appended records folded into the loaded frame, not parsed again
    query        filters, search and sort orders
    stats        counts, timings and spend (confirmed apart from possibly billed), and
                 what each person spent or committed (budgets)
    trail        who generated a generation, and who annotated it, when
    export       CSV and JSON, safe to open in a spreadsheet
    store        `HistoryLog`, the facade the rest of the studio uses

The names below are the package's interface; import them from here.
"""

from .annotations import MAX_NOTES_CHARS, split_tags
from .csvformat import NUL_REPLACEMENT
from .export import export_csv, export_json, spreadsheet_text
from .frame import PENDING_TIMEOUT_S, local_timezone
from ..errors import HistoryError
from .logfile import LOCK_TIMEOUT_S
from .query import POSSIBLY_BILLED_STATUS, SORTS, HistoryQuery, apply_query, search_haystack
from .schema import (
    ANNOTATION_COLUMNS, ANNOTATION_FIELDS, AUTHOR_COLUMNS, HISTORY_COLUMNS, ID_PATTERN,
    REVIEW_STATUSES, STATUSES, check_id, new_id,
)
from .stats import (
    NO_NAME, TEMPLATE_STATS_COLUMNS, Commitments, HistoryStats, compute_stats, template_stats,
)
from .trail import TrailEvent
from .store import HistoryLog

__all__ = [
    "ANNOTATION_COLUMNS", "ANNOTATION_FIELDS", "AUTHOR_COLUMNS", "HISTORY_COLUMNS",
    "ID_PATTERN", "LOCK_TIMEOUT_S", "MAX_NOTES_CHARS", "NO_NAME", "NUL_REPLACEMENT",
    "PENDING_TIMEOUT_S", "POSSIBLY_BILLED_STATUS", "REVIEW_STATUSES", "SORTS", "STATUSES",
    "TEMPLATE_STATS_COLUMNS",
    "Commitments", "HistoryError", "HistoryLog", "HistoryQuery", "HistoryStats",
    "TrailEvent", "apply_query", "check_id", "compute_stats", "export_csv", "export_json",
    "local_timezone", "new_id", "search_haystack", "spreadsheet_text", "split_tags",
    "template_stats",
]
