"""What a history record holds: its statuses, its columns and its id.

A generation's id names its rows in the log, its annotations and its archived video, so
it is checked wherever it arrives from outside (`check_id`).
"""

from __future__ import annotations

import re
import time
import uuid

STATUSES = ("pending", "succeeded", "failed", "interrupted")
REVIEW_STATUSES = ("draft", "approved", "rejected")

#: Column order of a new log file. Files keep whatever header they were created with.
HISTORY_COLUMNS = (
    "id", "created_at", "status", "prompt", "duration", "aspect_ratio", "seed",
    "inference_s", "elapsed_s", "video_url", "video_path", "error",
    "finished_at", "model", "template_id", "template_version", "template_vars", "batch_id",
    "video_width", "video_height", "video_duration", "cost_usd", "source", "error_type",
    "http_status", "archive_error", "owner", "storyboard_id", "shot", "created_by",
)
#: `source` of a spot assembled from a storyboard's picked takes (no API call, no cost).
ASSEMBLED_SOURCE = "assembly"
ANNOTATION_COLUMNS = ("id", "field", "value", "annotated_at", "annotated_by")
#: Annotation columns `load()` adds to every row (defaults when never annotated).
ANNOTATION_FIELDS = ("favourite", "rating", "review_status", "notes", "tags", "hidden")
#: Who last reviewed a generation and when, and who wrote its notes (`load()` adds them
#: after `ANNOTATION_FIELDS`: "" and NaT when nobody did).
AUTHOR_COLUMNS = ("reviewed_by", "reviewed_at", "notes_by")

INT_COLUMNS = ("seed", "template_version", "video_width", "video_height", "http_status")
FLOAT_COLUMNS = ("inference_s", "elapsed_s", "video_duration", "cost_usd")
TIME_COLUMNS = ("created_at", "finished_at")

#: Our generation ids: safe as file names (no dots, no separators), never taken from URLs.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")


def new_id() -> str:
    """A new generation id: sortable by time, unique, safe as a file name."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def check_id(gen_id: object) -> str:
    """`gen_id` if it has our id format; `ValueError` otherwise."""
    if not isinstance(gen_id, str) or not ID_PATTERN.fullmatch(gen_id):
        raise ValueError(f"not a generation id: {str(gen_id)[:40]!r}")
    return gen_id
