"""What only the CSV log shows of a history (the rest, for both backends, is the store
contract in `tests/stores/`): outcomes appended, never rewritten; an unwritable folder;
pending rows of other hosts, and of a process that reuses a pid, read as interrupted."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from kling.history import HistoryError, HistoryLog
from kling.storage.process import process_owner

from .support import lines, request, result, write_log


# -- recording -----------------------------------------------------------------------------

def test_an_outcome_is_appended_never_rewritten(log):
    gen_id = log.record_pending(request())
    log.record_success(gen_id, result(), elapsed_s=16.04)
    assert len(lines(log.path)) == 3  # header, pending, outcome: nothing rewritten
    assert log.get(gen_id)["status"] == "succeeded" and len(log.load()) == 1


def test_unwritable_data_dir_raises_history_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(HistoryError) as info:
        HistoryLog(blocker).record_pending(request())
    assert info.value.kind == "history"


# -- nothing lost: interrupted generations -------------------------------------------------

def test_pending_rows_from_other_hosts_time_out(log):
    now = datetime.now(timezone.utc)
    write_log(log.path, [
        {"id": "old", "created_at": (now - timedelta(days=2)).isoformat(), "status": "pending",
         "prompt": "old", "owner": "elsewhere:123:abc"},
        {"id": "new", "created_at": now.isoformat(), "status": "pending", "prompt": "new",
         "owner": "elsewhere:124:abc"},
        {"id": "reused", "created_at": now.isoformat(), "status": "pending", "prompt": "pid",
         "owner": f"{process_owner().split(':')[0]}:{os.getpid()}:not-this-process"},
    ])
    frame = log.load().set_index("id")
    assert frame.loc["old", "status"] == "interrupted"
    assert frame.loc["new", "status"] == "pending"
    assert frame.loc["reused", "status"] == "interrupted"  # same pid, other process
