"""Helpers of the history tests: requests and results, raw log files, the sample log."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from kling.errors import OutcomeUnknownError, ServerError
from kling.history import HISTORY_COLUMNS, HistoryLog
from kling.history.csvformat import encode
from kling.models import GenerationRequest, GenerationResult

ROOT = Path(__file__).resolve().parents[2]

#: The columns of a log written before templates, costs and owners were recorded, plus
#: one column this version does not know.
OLD_COLUMNS = ("id", "created_at", "status", "prompt", "duration", "aspect_ratio", "seed",
               "inference_s", "elapsed_s", "video_url", "video_path", "error", "project")
#: A record whose quote is never closed (a hand edit, or a row torn inside a cell).
UNMATCHED = '20250101-000000-deadbeef,2025-01-01T00:00:00+00:00,pending,"never closed,5,16:9,1'


def request(prompt="waves crashing on the shore, drone shot", duration="5",
            aspect_ratio="16:9", seed=42) -> GenerationRequest:
    return GenerationRequest.create(prompt, duration, aspect_ratio, seed)


def text_request(prompt: str, seed: int = 42) -> GenerationRequest:
    """A request holding `prompt` exactly as given: not stripped, not checked."""
    return GenerationRequest(prompt, "5", "16:9", seed)


def result(seed=42, inference=15.2, url="https://blob.example/v.mp4") -> GenerationResult:
    return GenerationResult.parse({
        "videos": [{"url": url, "duration": 5, "width": 1920, "height": 1088,
                    "content_type": "video/mp4"}],
        "seed": seed, "timings": {"inference": inference},
    })


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_log(path: Path, rows: list[dict], columns=HISTORY_COLUMNS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(columns, rows, header=True))


def plain_pandas(path: Path) -> pd.DataFrame:
    """The file as anyone reads it with pandas, text kept as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["id"])


def _row(i, day, status="succeeded", prompt="p", duration="5", ratio="16:9",
         inference=None, template="", hour=10):
    return {"id": f"id{i}", "created_at": f"{day}T{hour:02d}:00:00.000+00:00", "status": status,
            "prompt": prompt, "duration": duration, "aspect_ratio": ratio, "seed": i,
            "inference_s": inference, "template_id": template,
            "cost_usd": int(duration) * 0.28 if status == "succeeded" else 0.0}


#: Five generations over two months (`annotate_sample` annotates three, hides one).
SAMPLE_ROWS = [
    _row(1, "2025-01-01", prompt="Waves crashing on the shore", inference=12.0,
         template="tpl-a"),
    _row(2, "2025-01-02", status="failed", prompt="A red fox in SNOW", duration="10",
         ratio="9:16", template="tpl-a"),
    _row(3, "2025-01-03", prompt="city at night", duration="10", inference=25.0,
         template="tpl-b"),
    _row(4, "2025-02-01", prompt="waves again", ratio="9:16", inference=18.0),
    _row(5, "2025-02-02", status="interrupted", prompt="lost one"),
]


def annotate_sample(history) -> None:
    history.annotate("id1", favourite=True, rating=5, review_status="approved",
                     tags="beach, summer")
    history.annotate("id3", rating=3, review_status="rejected", notes="Too dark")
    history.annotate("id4", hidden=True)


def fill(log: HistoryLog) -> HistoryLog:
    """The sample log: `SAMPLE_ROWS`, annotated."""
    write_log(log.path, SAMPLE_ROWS)
    annotate_sample(log)
    return log


def made(history, by: str = "cy@acme.com", *, duration="5", outcome="succeeded") -> str:
    """One generation `by` someone, ending as `outcome` (or still pending)."""
    gen_id = history.record_pending(request(duration=duration), created_by=by)
    if outcome == "succeeded":
        history.record_success(gen_id, result(), elapsed_s=3)
    elif outcome == "failed":
        history.record_failure(gen_id, ServerError("no"), elapsed_s=3)
    elif outcome == "possibly billed":
        history.record_failure(gen_id, OutcomeUnknownError("no answer"), elapsed_s=3)
    return gen_id
