"""What each event of a generation's life writes, whichever store keeps it.

The CSV log appends these rows and the team database inserts or updates them, so a
generation recorded by either reads the same: one pending row before sending, then the
fields its outcome, or its archived video, changes. Costs come from `kling.billing`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..billing import estimate_cost, possibly_billed
from ..models import MODEL_NAME, GenerationRequest, GenerationResult
from ..storage.process import process_owner
from .schema import ASSEMBLED_SOURCE, check_id, new_id


def now_iso() -> str:
    """This moment, as the history writes times."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def pending_row(request: GenerationRequest, *, price_per_second: float,
                gen_id: str | None = None, source: str = "studio",
                template_id: str | None = None, template_version: int | None = None,
                template_vars: Mapping[str, Any] | None = None, batch_id: str | None = None,
                storyboard_id: str | None = None, shot: str | None = None,
                created_by: str | None = None) -> dict[str, Any]:
    """The row of a generation about to be sent (a new id unless `gen_id` is ours)."""
    return {
        "id": check_id(gen_id) if gen_id is not None else new_id(),
        "created_at": now_iso(), "status": "pending",
        "prompt": request.prompt, "duration": request.duration,
        "aspect_ratio": request.aspect_ratio, "seed": request.seed,
        "model": MODEL_NAME, "template_id": template_id,
        "template_version": template_version,
        "template_vars": (json.dumps(dict(template_vars), ensure_ascii=False, default=str)
                          if template_vars else None),
        "batch_id": batch_id, "cost_usd": estimate_cost(request.duration, price_per_second),
        "source": source, "owner": process_owner(),
        "storyboard_id": storyboard_id, "shot": shot, "created_by": created_by,
    }


def assembled_row(*, gen_id: str, title: str, aspect_ratio: str, seconds: float,
                  width: int, height: int, video_path: str, storyboard_id: str,
                  elapsed_s: float, created_by: str | None = None) -> dict[str, Any]:
    """The row of a spot assembled from a storyboard's picked takes: a finished video
    made here, not by Firemoon, so it costs nothing and has no seed."""
    now = now_iso()
    return {
        "id": check_id(gen_id), "created_at": now, "finished_at": now, "status": "succeeded",
        "prompt": title, "duration": f"{seconds:g}", "aspect_ratio": aspect_ratio,
        "elapsed_s": round(float(elapsed_s), 3), "video_path": video_path,
        "video_width": width, "video_height": height, "video_duration": seconds,
        "cost_usd": 0.0, "source": ASSEMBLED_SOURCE, "model": ASSEMBLED_SOURCE,
        "storyboard_id": storyboard_id, "owner": process_owner(),
        "created_by": created_by,
    }


def success_changes(duration: Any, result: GenerationResult, *, elapsed_s: float,
                    video_path: str | None, price_per_second: float) -> dict[str, Any]:
    """What a success changes in the row of a generation of `duration` seconds."""
    video = result.videos[0]
    return {
        "status": "succeeded", "finished_at": now_iso(), "seed": result.seed,
        "inference_s": result.inference_s, "elapsed_s": round(float(elapsed_s), 3),
        "video_url": video.url, "video_width": video.width, "video_height": video.height,
        "video_duration": video.duration, "video_path": video_path, "error": None,
        "error_type": None, "http_status": None,
        "cost_usd": estimate_cost(duration, price_per_second), "owner": process_owner(),
    }


def failure_changes(duration: Any, error: BaseException, *, elapsed_s: float,
                    price_per_second: float) -> dict[str, Any]:
    """What a failure changes: the plain-language reason, its kind and HTTP status, and
    the estimated cost only where it may have been billed."""
    error_type = getattr(error, "kind", None) or type(error).__name__
    billed = possibly_billed("failed", error_type)
    return {
        "status": "failed", "finished_at": now_iso(), "elapsed_s": round(float(elapsed_s), 3),
        "error": str(error) or type(error).__name__,
        "error_type": error_type,
        "http_status": getattr(error, "status", None),
        "cost_usd": estimate_cost(duration, price_per_second) if billed else 0.0,
        "owner": process_owner(),
    }


def video_path_changes(video_path: str | None,
                       archive_error: str | None = None) -> dict[str, Any]:
    """Where the video was archived, or why it could not be (retried later)."""
    return {"video_path": video_path, "archive_error": archive_error,
            "owner": process_owner()}
