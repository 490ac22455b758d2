"""What a generation request asks for, or every problem with its body in the API's words.

As documented, `duration` is a string: `"5"` or `"10"`; the number 5 is refused, so a
client that would be refused by the real API is refused here too. `seed` is a JSON
number holding a whole number from 0 to 4294967295 (`null` means "pick one").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS, MAX_SEED

__all__ = ["Generation", "validate"]


@dataclass(frozen=True)
class Generation:
    prompt: str
    duration: str
    aspect_ratio: str
    seed: int | None


def validate(raw: bytes) -> tuple[Generation | None, list[str]]:
    """The generation asked for, or every problem with the body in the API's words."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, ["Request body must be valid JSON"]
    if not isinstance(body, dict):
        return None, ["Request body must be a JSON object"]
    errors = []
    prompt = body.get("prompt")
    if prompt is None:
        errors.append("Missing required field: prompt")
    elif not isinstance(prompt, str):
        errors.append("prompt must be a string")
    elif not prompt.strip():
        errors.append("prompt must not be empty")
    elif len(prompt) > MAX_PROMPT_CHARS:
        errors.append(f"prompt must be at most {MAX_PROMPT_CHARS} characters")
    duration = body.get("duration", "5")
    if duration not in DURATIONS or not isinstance(duration, str):
        kind = " (a string)" if isinstance(duration, (int, float)) else ""
        errors.append(f'duration must be "5" or "10"{kind}')
    aspect_ratio = body.get("aspect_ratio", "16:9")
    if not isinstance(aspect_ratio, str) or aspect_ratio not in ASPECT_RATIOS:
        errors.append('aspect_ratio must be "16:9" or "9:16"')
    seed = body.get("seed")
    if seed is not None:
        whole = (isinstance(seed, int) and not isinstance(seed, bool)) or (
            isinstance(seed, float) and math.isfinite(seed) and seed.is_integer())
        if not whole or not 0 <= seed <= MAX_SEED:
            errors.append(f"seed must be a whole number from 0 to {MAX_SEED}")
    if errors:
        return None, errors
    return Generation(prompt, duration, aspect_ratio, None if seed is None else int(seed)), []
