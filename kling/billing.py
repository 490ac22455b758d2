"""What a generation costs, and the one rule for "possibly billed".

Firemoon bills per second of output video. A generation whose request was sent but whose
answer never came may have been made and billed all the same: the call timed out or
broke after sending, the answer could not be read, or the studio stopped while it ran
(`interrupted` in the history). Such a generation is **possibly billed**: it is never
sent again automatically, every screen says so, and its estimated cost is counted
apart from confirmed spend. Every part of the studio asks this module, so the rule is
written once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .errors import OutcomeUnknownError

#: The words every screen uses for it (browser tests and people look for them).
POSSIBLY_BILLED = "possibly billed"
#: The history's `error_type` of a failure whose outcome is unknown.
UNKNOWN_OUTCOME = OutcomeUnknownError.kind


def estimate_cost(seconds: Any, price_per_second: float, takes: int = 1) -> float | None:
    """USD for `takes` videos of `seconds` each, to the cent; None if `seconds` is no number."""
    try:
        return round(float(seconds) * takes * price_per_second, 2)
    except (TypeError, ValueError):
        return None


def possibly_billed(status: Any, error_type: Any) -> bool:
    """True for a generation that was sent and whose outcome is unknown."""
    return status == "interrupted" or (status == "failed" and error_type == UNKNOWN_OUTCOME)


def possibly_billed_rows(frame: pd.DataFrame) -> pd.Series:
    """`possibly_billed` for every row of a history frame (columns `status`, `error_type`)."""
    status = frame["status"]
    unknown = (frame["error_type"] == UNKNOWN_OUTCOME if "error_type" in frame
               else pd.Series(False, index=frame.index))
    return (status == "interrupted") | ((status == "failed") & unknown)
