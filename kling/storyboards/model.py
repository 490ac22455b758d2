"""What a storyboard is: a titled spot of 2-8 shots that share an aspect ratio and a style.

A shot is one Kling generation call (5 or 10 s, silent), made in 1-4 takes; the person picks
one take per shot and the picked takes are assembled into the spot. The storyboard's
**style** line is appended to every shot's prompt, so that the shots share a look. Shots
keep a stable `key` of their own (reordering, duplicating or removing others never changes
it), which is what the history records beside `storyboard_id`; the shot's *number* is its
place in the storyboard now.

Every value here is immutable; an edit makes a new `Storyboard` (`with_shots`,
`dataclasses.replace`), which the library saves whole.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS, MAX_SEED, GenerationRequest

MIN_SHOTS, MAX_SHOTS = 2, 8
MAX_TAKES = 4
MAX_TITLE_CHARS = 80
MAX_STYLE_CHARS = 200
MAX_CAPTION_CHARS = 80


def new_key() -> str:
    """A shot's stable key: short, unique within any storyboard, safe in a CSV cell."""
    return uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Shot:
    """One shot: what to make, how many takes, its caption, and the take picked for the spot."""

    key: str = field(default_factory=new_key)
    prompt: str = ""
    duration: str = "5"
    takes: int = 1
    caption: str = ""
    template_id: str | None = None
    template_version: int | None = None
    #: The generation id of the take chosen for the spot; None until a person (or the
    #: best-rated take) picks one.
    picked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Shot":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class EndCardPlan:
    """What the spot's closing card will say (`kling.assembly.EndCard` draws it); an empty
    title means no end card."""

    title: str = ""
    tagline: str = ""
    seconds: float = 2.0
    #: File name of the logo image in the storyboard's folder, if one was uploaded.
    logo: str | None = None


@dataclass(frozen=True)
class Storyboard:
    """A spot in the making. Build a new one with `Storyboard.new`."""

    id: str
    title: str
    aspect_ratio: str = "16:9"
    style: str = ""
    shots: tuple[Shot, ...] = ()
    crossfade: float = 0.5
    end_card: EndCardPlan | None = None
    created_at: str = ""
    updated_at: str = ""
    #: The history id of the last assembled spot.
    assembled: str | None = None
    #: Who made it, and the last person who saved it; "" when not known (a storyboard from
    #: before people were recorded, or only ever saved by the studio itself).
    created_by: str = ""
    updated_by: str = ""

    @classmethod
    def new(cls, title: str, *, aspect_ratio: str = "16:9", style: str = "",
            created_at: str = "") -> "Storyboard":
        """A storyboard with the two empty shots every spot starts from."""
        return cls(id="sb-" + uuid.uuid4().hex[:10], title=title, aspect_ratio=aspect_ratio,
                   style=style, shots=(Shot(), Shot()), created_at=created_at,
                   updated_at=created_at)

    # -- editing ------------------------------------------------------------------------
    def with_shots(self, shots: list[Shot] | tuple[Shot, ...]) -> "Storyboard":
        return dataclasses.replace(self, shots=tuple(shots))

    def replace_shot(self, key: str, **changes: Any) -> "Storyboard":
        return self.with_shots([dataclasses.replace(s, **changes) if s.key == key else s
                                for s in self.shots])

    def add_shot(self, shot: Shot | None = None) -> "Storyboard":
        if len(self.shots) >= MAX_SHOTS:
            raise ValueError(f"A storyboard has at most {MAX_SHOTS} shots.")
        return self.with_shots([*self.shots, shot or Shot()])

    def duplicate_shot(self, key: str) -> "Storyboard":
        """A copy of the shot right after it (same prompt, takes and caption; no takes yet)."""
        if len(self.shots) >= MAX_SHOTS:
            raise ValueError(f"A storyboard has at most {MAX_SHOTS} shots.")
        shots = list(self.shots)
        index = self.index_of(key)
        shots.insert(index + 1, dataclasses.replace(shots[index], key=new_key(), picked=None))
        return self.with_shots(shots)

    def remove_shot(self, key: str) -> "Storyboard":
        if len(self.shots) <= MIN_SHOTS:
            raise ValueError(f"A storyboard has at least {MIN_SHOTS} shots.")
        return self.with_shots([s for s in self.shots if s.key != key])

    def move_shot(self, key: str, offset: int) -> "Storyboard":
        """Move a shot `offset` places (-1 earlier, +1 later), staying within the board."""
        shots = list(self.shots)
        index = self.index_of(key)
        target = max(0, min(len(shots) - 1, index + offset))
        shots.insert(target, shots.pop(index))
        return self.with_shots(shots)

    def index_of(self, key: str) -> int:
        for index, shot in enumerate(self.shots):
            if shot.key == key:
                return index
        raise KeyError(key)

    def shot(self, key: str) -> Shot:
        return self.shots[self.index_of(key)]

    # -- what it sends and costs --------------------------------------------------------
    def prompt_of(self, shot: Shot) -> str:
        """The prompt sent for `shot`: its own words, then the shared style."""
        words, style = shot.prompt.strip().rstrip(",. "), self.style.strip()
        return f"{words}, {style}" if words and style else words

    def seconds(self) -> int:
        """Length of the spot before crossfades and end card: one take of every shot."""
        return sum(int(s.duration) for s in self.shots)

    def takes_seconds(self, shots: list[Shot] | None = None) -> int:
        """Seconds of video generated by making every take of `shots` (default: all)."""
        return sum(int(s.duration) * s.takes for s in (self.shots if shots is None else shots))

    def requests_for(self, shot: Shot, first_seed: int) -> list[GenerationRequest]:
        """One request per take of `shot`, with consecutive seeds from `first_seed`, so a
        good take can be found again and its neighbours are close variations."""
        return [GenerationRequest.create(self.prompt_of(shot), shot.duration, self.aspect_ratio,
                                         (first_seed + take) % (MAX_SEED + 1))
                for take in range(shot.takes)]

    # -- saving -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shots"] = [s.to_dict() for s in self.shots]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Storyboard":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["shots"] = tuple(Shot.from_dict(s) for s in data.get("shots") or ())
        card = data.get("end_card")
        values["end_card"] = EndCardPlan(**card) if isinstance(card, dict) else None
        return cls(**values)


def problems(board: Storyboard, *, for_generation: bool = False) -> dict[str, str]:
    """What is wrong with `board`, as {place: sentence}; empty when it can be saved (and,
    with `for_generation`, when every shot can be sent). Places are `title`, `style`,
    `shots` and `shot-<key>`."""
    found: dict[str, str] = {}
    if not board.title.strip():
        found["title"] = "Give the storyboard a title."
    elif len(board.title) > MAX_TITLE_CHARS:
        found["title"] = f"The title is {len(board.title)} characters; at most {MAX_TITLE_CHARS}."
    if len(board.style) > MAX_STYLE_CHARS:
        found["style"] = f"The style is {len(board.style)} characters; at most {MAX_STYLE_CHARS}."
    if board.aspect_ratio not in ASPECT_RATIOS:
        found["aspect_ratio"] = "The aspect ratio must be 16:9 or 9:16."
    if not MIN_SHOTS <= len(board.shots) <= MAX_SHOTS:
        found["shots"] = f"A storyboard has {MIN_SHOTS} to {MAX_SHOTS} shots."
    for number, shot in enumerate(board.shots, start=1):
        problem = _shot_problem(board, shot, for_generation)
        if problem:
            found[f"shot-{shot.key}"] = f"Shot {number}: {problem}"
    return found


def _shot_problem(board: Storyboard, shot: Shot, for_generation: bool) -> str | None:
    if shot.duration not in DURATIONS:
        return "the duration must be 5 or 10 seconds."
    if not 1 <= shot.takes <= MAX_TAKES:
        return f"make 1 to {MAX_TAKES} takes."
    if len(shot.caption) > MAX_CAPTION_CHARS:
        return f"the caption is {len(shot.caption)} characters; at most {MAX_CAPTION_CHARS}."
    prompt = board.prompt_of(shot)
    if for_generation and not prompt:
        return "describe what happens in this shot."
    if len(prompt) > MAX_PROMPT_CHARS:
        return (f"with the style its prompt is {len(prompt):,} characters; the limit is "
                f"{MAX_PROMPT_CHARS:,}.")
    return None
