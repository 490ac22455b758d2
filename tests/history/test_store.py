"""HistoryLog as the studio uses it: recording, last row wins, our ids, and nothing lost
(pending rows of a process that died read as interrupted)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kling.errors import InsufficientCreditsError, OutcomeUnknownError
from kling.history import HistoryError, HistoryLog
from kling.storage.process import process_owner

from .support import ROOT, lines, request, result, write_log


# -- recording -----------------------------------------------------------------------------

def test_an_outcome_is_appended_never_rewritten(log):
    gen_id = log.record_pending(request())
    log.record_success(gen_id, result(), elapsed_s=16.04)
    assert len(lines(log.path)) == 3  # header, pending, outcome: nothing rewritten
    assert log.get(gen_id)["status"] == "succeeded" and len(log.load()) == 1


def test_failure_records_plain_reason_kind_and_status(log):
    gen_id = log.record_pending(request(duration="10"), source="cli")
    log.record_failure(gen_id, InsufficientCreditsError(status=402), elapsed_s=0.4)
    row = log.get(gen_id)
    assert row["status"] == "failed"
    assert row["error"] == str(InsufficientCreditsError())
    assert row["error_type"] == "insufficient_credits" and row["http_status"] == 402
    assert row["cost_usd"] == 0.0  # not billed
    assert row["source"] == "cli"


def test_failure_with_unknown_outcome_keeps_its_estimated_cost(log):
    gen_id = log.record_pending(request(duration="10"))
    log.record_failure(gen_id, OutcomeUnknownError(), elapsed_s=60)
    assert log.get(gen_id)["cost_usd"] == pytest.approx(2.8)


def test_failure_from_an_unexpected_exception(log):
    gen_id = log.record_pending(request())
    log.record_failure(gen_id, RuntimeError(), elapsed_s=1)
    row = log.get(gen_id)
    assert row["error"] == "RuntimeError" and row["error_type"] == "RuntimeError"


def test_video_path_and_archive_error_rows(log):
    gen_id = log.record_pending(request())
    log.record_success(gen_id, result(), elapsed_s=15)
    log.record_video_path(gen_id, None, archive_error="The link expired.")
    assert log.get(gen_id)["archive_error"] == "The link expired."
    log.record_video_path(gen_id, "/data/videos/x.mp4")
    row = log.get(gen_id)
    assert row["status"] == "succeeded" and row["video_path"] == "/data/videos/x.mp4"
    assert row["archive_error"] == ""


def test_outcome_written_by_another_process_repeats_the_pending_row(log):
    gen_id = log.record_pending(request("a fox in the snow"), template_id="tpl-x")
    other = HistoryLog(log.data_dir)  # knows nothing in memory: reads the log
    other.record_success(gen_id, result(seed=7), elapsed_s=12)
    row = HistoryLog(log.data_dir).get(gen_id)
    assert row["prompt"] == "a fox in the snow" and row["template_id"] == "tpl-x"
    assert row["status"] == "succeeded" and row["seed"] == 7


def test_ids_are_ours_and_checked(log):
    assert log.record_pending(request(), gen_id="20250101-120000-abcdef12") \
        == "20250101-120000-abcdef12"
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x.mp4", "a" * 81):
        with pytest.raises(ValueError):
            log.record_pending(request(), gen_id=bad)


def test_unwritable_data_dir_raises_history_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(HistoryError) as info:
        HistoryLog(blocker).record_pending(request())
    assert info.value.kind == "history"


# -- nothing lost: interrupted generations -------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from kling.history import HistoryLog
    from kling.models import GenerationRequest
    log = HistoryLog(sys.argv[1])
    request = GenerationRequest.create("a lighthouse in a storm", "10", "9:16", 1234)
    gen_id = log.record_pending(request)
    print(gen_id, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # stay alive until the parent closes stdin
""")


def run_child(data_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


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
