"""Request and response models of the Kling 2.1 Master endpoint.

`GenerationRequest.create` checks every field at once and reports every problem by field
before anything is sent. A prompt made only of spaces and invisible characters (zero-width
spaces, BOM, format and control characters) is missing; a prompt may hold tabs and line
breaks but no other control character (NUL, ESC, DEL, C1), which would reach terminals
and the CSV log; its length is counted after trimming spaces at the ends.

`GenerationResult.parse` reads a 200 body strictly: anything missing or of the wrong type
becomes a `MalformedResponseError` quoting what was wrong, so no `KeyError` ever travels
into the studio.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .errors import InvalidRequestError, MalformedResponseError

DURATIONS = ("5", "10")
ASPECT_RATIOS = ("16:9", "9:16")
MAX_PROMPT_CHARS = 2500
MAX_SEED = 2**32 - 1
MODEL_NAME = "kling-2-1-master"
#: Written into every video's recipe, so a file says which studio made it.
STUDIO_VERSION = "0.9.0"


def estimate_cost(seconds: Any, price_per_second: float, takes: int = 1) -> float | None:
    """USD for `takes` videos of `seconds` each, to the cent (Firemoon bills per second of
    output video); None if `seconds` is no number. Every estimate in the studio is this."""
    try:
        return round(float(seconds) * takes * price_per_second, 2)
    except (TypeError, ValueError):
        return None


def _check_duration(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    # Compared as numbers: str() of an int of thousands of digits raises ValueError.
    if isinstance(value, (int, float)) and value in (5, 10):
        return str(int(value))
    if isinstance(value, str) and value.strip() in DURATIONS:
        return value.strip()
    return None


SEED_PROBLEM = f"Seed must be a whole number from 0 to {MAX_SEED}."
_SEED_DIGITS = len(str(MAX_SEED))


def _check_seed(value: Any) -> tuple[int | None, str | None]:
    """Return (seed, problem). Accepts ints, integral floats and digit strings.

    Never raises and stays fast on any input: a digit string is measured before `int()`
    sees it (Python refuses more than 4,300 digits, and is slow long before that).
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None, None
    if isinstance(value, bool):
        return None, SEED_PROBLEM
    seed: int | None = None
    if isinstance(value, int):
        seed = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        seed = int(value)
    elif isinstance(value, str):
        text = value.strip()
        text = text[1:] if text.startswith("+") else text
        # isdecimal(), unlike isdigit(), refuses superscripts that int() cannot read.
        if text.isdecimal():
            significant = text.lstrip("0") or "0"
            if len(significant) <= _SEED_DIGITS:
                seed = int(significant)
    if seed is None or not 0 <= seed <= MAX_SEED:
        return None, SEED_PROBLEM
    return seed, None


#: Code points Unicode calls default-ignorable: nothing is drawn for them (soft hyphen,
#: zero-width space and joiners, bidi marks, word joiner, BOM, Hangul fillers, variation
#: selectors, tags...), and the braille blank, drawn as nothing too. With whitespace and
#: the control and format characters they make a prompt blank.
_IGNORABLE = (r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
              r"\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
              r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
#: Characters that might be visible (the rest are whitespace or default-ignorable).
_MAYBE_VISIBLE = re.compile(rf"[^\s{_IGNORABLE}]")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
#: What a prompt may not contain: C0 controls but tab, line feed and carriage return
#: (ESC starts terminal escape sequences), DEL, C1 controls, and lone surrogates (bytes
#: that were not valid UTF-8). They would reach terminals, logs and the CSV log raw.
_FORBIDDEN_IN_PROMPT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x1B: "ESC", 0x7F: "DEL"}


def is_blank_text(text: str) -> bool:
    """True when nothing of `text` would be seen: only spaces and invisible characters."""
    return all(unicodedata.category(found.group()) in _INVISIBLE_CATEGORIES
               for found in _MAYBE_VISIBLE.finditer(text))


def _prompt_character_problem(prompt: str) -> str | None:
    found = _FORBIDDEN_IN_PROMPT.search(prompt)
    if found is None:
        return None
    code = ord(found.group())
    where = f"at character {found.start() + 1:,}"
    if 0xD800 <= code <= 0xDFFF:
        return (f"Prompt contains text that is not valid Unicode {where} (U+{code:04X}); "
                "type it or paste it again.")
    name = _CONTROL_NAMES.get(code)
    label = f"{name}, U+{code:04X}" if name else f"U+{code:04X}"
    return (f"Prompt contains a control character ({label}) {where}; remove it "
            "(only tabs and line breaks may be used).")


def validate_request(
    prompt: Any, duration: Any = "5", aspect_ratio: Any = "16:9", seed: Any = None
) -> dict[str, str]:
    """Every problem with these fields, as {field: message}; empty when all is well."""
    problems: dict[str, str] = {}
    if not isinstance(prompt, str) or is_blank_text(prompt):
        problems["prompt"] = "Prompt is required: describe the scene and its action."
    elif (character_problem := _prompt_character_problem(prompt)) is not None:
        problems["prompt"] = character_problem
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
