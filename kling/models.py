"""Request and response models of the Kling 2.1 Master endpoint.

`GenerationRequest.create` checks every field at once and reports every problem by field
before anything is sent. `GenerationResult.parse` reads a 200 body strictly: anything
missing or of the wrong type becomes a `MalformedResponseError` quoting what was wrong,
so no `KeyError` ever travels into the studio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .errors import InvalidRequestError, MalformedResponseError

DURATIONS = ("5", "10")
ASPECT_RATIOS = ("16:9", "9:16")
MAX_PROMPT_CHARS = 2500
MAX_SEED = 2**32 - 1
MODEL_NAME = "kling-2-1-master"


def _check_duration(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and str(value) in DURATIONS:
        return str(value)
    if isinstance(value, float) and value.is_integer() and str(int(value)) in DURATIONS:
        return str(int(value))
    if isinstance(value, str) and value.strip() in DURATIONS:
        return value.strip()
    return None


def _check_seed(value: Any) -> tuple[int | None, str | None]:
    """Return (seed, problem). Accepts ints, integral floats and digit strings."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None, None
    if isinstance(value, bool):
        return None, "Seed must be a whole number from 0 to 4294967295."
    seed: int | None = None
    if isinstance(value, int):
        seed = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        seed = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+").isdigit():
        seed = int(value.strip())
    if seed is None or not 0 <= seed <= MAX_SEED:
        return None, "Seed must be a whole number from 0 to 4294967295."
    return seed, None


def validate_request(
    prompt: Any, duration: Any = "5", aspect_ratio: Any = "16:9", seed: Any = None
) -> dict[str, str]:
    """Every problem with these fields, as {field: message}; empty when all is well."""
    problems: dict[str, str] = {}
    if not isinstance(prompt, str) or not prompt.strip():
        problems["prompt"] = "Prompt is required: describe the scene and its action."
    elif len(prompt.strip()) > MAX_PROMPT_CHARS:
        problems["prompt"] = (
            f"Prompt is {len(prompt.strip()):,} characters; the limit is {MAX_PROMPT_CHARS:,}."
        )
    if _check_duration(duration) is None:
        problems["duration"] = "Duration must be 5 or 10 seconds."
    if not isinstance(aspect_ratio, str) or aspect_ratio.strip() not in ASPECT_RATIOS:
        problems["aspect_ratio"] = "Aspect ratio must be 16:9 (landscape) or 9:16 (portrait)."
    _, seed_problem = _check_seed(seed)
    if seed_problem:
        problems["seed"] = seed_problem
    return problems


@dataclass(frozen=True)
class GenerationRequest:
    """A valid request body. Build it with `GenerationRequest.create(...)`."""

    prompt: str
    duration: str = "5"
    aspect_ratio: str = "16:9"
    seed: int | None = None

    @classmethod
    def create(
        cls, prompt: Any, duration: Any = "5", aspect_ratio: Any = "16:9", seed: Any = None
    ) -> "GenerationRequest":
        """Validate and normalise; raise `InvalidRequestError` naming every bad field."""
        problems = validate_request(prompt, duration, aspect_ratio, seed)
        if problems:
            raise InvalidRequestError(field_errors=problems)
        return cls(
            prompt=prompt.strip(),
            duration=_check_duration(duration),  # type: ignore[arg-type]
            aspect_ratio=aspect_ratio.strip(),
            seed=_check_seed(seed)[0],
        )

    @property
    def seconds(self) -> int:
        return int(self.duration)

    def with_seed(self, seed: int | None) -> "GenerationRequest":
        return GenerationRequest(self.prompt, self.duration, self.aspect_ratio, seed)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body exactly as documented (duration as a string, seed only if set)."""
        body: dict[str, Any] = {
            "prompt": self.prompt,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        return body


@dataclass(frozen=True)
class Video:
    url: str
    duration: float
    width: int
    height: int
    content_type: str


@dataclass(frozen=True)
class GenerationResult:
    """A parsed 200 response."""

    videos: tuple[Video, ...]
    seed: int
    inference_s: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def video(self) -> Video:
        return self.videos[0]

    @classmethod
    def parse(cls, data: Any) -> "GenerationResult":
        """Read a success body strictly; raise `MalformedResponseError` on any deviation."""

        def bad(what: str) -> MalformedResponseError:
            return MalformedResponseError(
                f"Firemoon answered with something the studio could not read: {what}."
            )

        def number(value: Any, where: str, *, whole: bool = False) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(f"{where} should be a number but is {value!r:.80}")
            if not math.isfinite(value) or (whole and not float(value).is_integer()):
                raise bad(f"{where} should be a {'whole ' if whole else ''}number but is {value!r}")
            return value

        if not isinstance(data, dict):
            raise bad(f"the body should be a JSON object but is {type(data).__name__}")
        videos_data = data.get("videos")
        if not isinstance(videos_data, list) or not videos_data:
            raise bad("'videos' is missing or empty")
        videos = []
        for index, item in enumerate(videos_data):
            where = f"videos[{index}]"
            if not isinstance(item, dict):
                raise bad(f"{where} should be an object")
            for key in ("url", "duration", "width", "height", "content_type"):
                if key not in item:
                    raise bad(f"{where}.{key} is missing")
            url = item["url"]
            if not isinstance(url, str) or urlparse(url).scheme.lower() not in ("http", "https") \
                    or not urlparse(url).netloc:
                raise bad(f"{where}.url is not an http(s) address: {str(url)[:80]!r}")
            content_type = item["content_type"]
            if not isinstance(content_type, str):
                raise bad(f"{where}.content_type should be text")
            width = number(item["width"], f"{where}.width", whole=True)
            height = number(item["height"], f"{where}.height", whole=True)
            if width <= 0 or height <= 0:
                raise bad(f"{where} has no picture size ({width}x{height})")
            videos.append(Video(
                url=url,
                duration=float(number(item["duration"], f"{where}.duration")),
                width=int(width),
                height=int(height),
                content_type=content_type,
            ))
        if "seed" not in data:
            raise bad("'seed' is missing")
        seed = int(number(data["seed"], "seed", whole=True))
        timings = data.get("timings")
        if not isinstance(timings, dict) or "inference" not in timings:
            raise bad("'timings.inference' is missing")
        inference = float(number(timings["inference"], "timings.inference"))
        return cls(videos=tuple(videos), seed=seed, inference_s=inference, raw=data)


@dataclass(frozen=True)
class RateLimit:
    """`X-RateLimit-*` headers of one response; `reset` is Unix seconds."""

    limit: int | None
    remaining: int | None
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Any) -> "RateLimit | None":
        def read(name: str) -> float | None:
            try:
                value = float(headers.get(name))
            except (TypeError, ValueError):
                return None
            # "inf" or "nan" from a proxy must not turn a billed success into a crash.
            return value if math.isfinite(value) else None

        limit, remaining, reset = (read("X-RateLimit-Limit"), read("X-RateLimit-Remaining"),
                                   read("X-RateLimit-Reset"))
        if limit is None and remaining is None and reset is None:
            return None
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset=reset,
        )
