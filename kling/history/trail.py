"""A generation's trail: who generated it, then who rated, tagged, noted, reviewed or
removed it, and when, read from the log and every annotation row written for it (not
only the latest of each field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class TrailEvent:
    """One thing someone did: `what` is "generated" (`value` its status) or the
    annotation field they set (`value` the text stored)."""

    at: datetime | None
    by: str
    what: str
    value: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def trail_of(row: Mapping[str, Any], annotations: pd.DataFrame, tz: tzinfo) -> list[TrailEvent]:
    """The events of one generation, oldest first: its row (as `HistoryLog.get` gives
    it) and its annotation rows in the order written (`annotation_rows`)."""
    events = [TrailEvent(at=row.get("created_at"), by=_text(row.get("created_by")),
                         what="generated", value=_text(row.get("status")))]
    times = pd.to_datetime(annotations["annotated_at"], format="ISO8601", utc=True,
                           errors="coerce").dt.tz_convert(tz)
    for at, by, what, value in zip(times, annotations["annotated_by"],
                                   annotations["field"], annotations["value"]):
        events.append(TrailEvent(at=None if pd.isna(at) else at.to_pydatetime(),
                                 by=_text(by), what=str(what), value=_text(value)))
    return events
