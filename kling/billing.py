"""The one rule for "possibly billed", and what such a generation may have cost.

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
from .models import estimate_cost

__all__ = ["POSSIBLY_BILLED", "UNKNOWN_OUTCOME", "estimate_cost", "possibly_billed",
           "possibly_billed_rows"]

#: The words every screen uses for it (browser tests and people look for them).
POSSIBLY_BILLED = "possibly billed"
#: The history's `error_type` of a failure whose outcome is unknown.
UNKNOWN_OUTCOME = OutcomeUnknownError.kind


def possibly_billed(status: Any, error_type: Any) -> bool:
    """True for a generation that was sent and whose outcome is unknown."""
    return status == "interrupted" or (status == "failed" and error_type == UNKNOWN_OUTCOME)


def possibly_billed_rows(frame: pd.DataFrame) -> pd.Series:
    """`possibly_billed` for every row of a history frame (columns `status`, `error_type`)."""
    status = frame["status"]
    unknown = (frame["error_type"] == UNKNOWN_OUTCOME if "error_type" in frame
               else pd.Series(False, index=frame.index))
    return (status == "interrupted") | ((status == "failed") & unknown)
