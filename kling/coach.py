"""The prompt coach: the provider's prompting advice turned into checks on a prompt.

Firemoon advises that a Kling prompt include motion or action, a camera movement, timing or
pacing, and stay under 200 characters. `review_prompt` checks each of these with word lists
and light stemming (no model, so it is instant on every keystroke and the same on every
machine) and returns a `CoachReport` with one `CoachCheck` per piece of advice, a score, the
suggestions for what is missing and a one-line summary. It is advice, never a block: it
accepts any text and never raises. `platform_hint` and `duration_hint` say which platforms
an aspect ratio or a duration suits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .models import MAX_PROMPT_CHARS

#: The provider recommends prompts under this many characters; longer ones are still sent.
RECOMMENDED_MAX_CHARS = 200

# A prompt longer than the hard limit cannot be sent anyway, so only its head is analysed:
# that keeps the coach instant even when someone pastes a whole document.
_ANALYSED_CHARS = 4 * MAX_PROMPT_CHARS

#: What each aspect ratio and duration suits (the provider's advice), for every screen.
ASPECT_RATIO_USES = {
    "16:9": "YouTube, websites, presentations",
    "9:16": "TikTok, Instagram Reels, YouTube Shorts",
}
DURATION_USES = {
    "5": "social media, quick hooks and teasers",
    "10": "detailed scenes and storytelling",
}
_ORIENTATIONS = {"16:9": "Landscape", "9:16": "Portrait"}

# Words are listed in their base form; `_forms` maps inflections back to it ("crashing",
# "crashed", "crashes" -> "crash"). Irregular past forms are listed as they are. Where the
# base form is also a common static noun ("product launch", "a pop of color", "a drink"),
# only the inflections that mean movement are listed.
_MOTION_WORDS = frozenset("""
    approach arrive ascend assemble bloom blow bob bounce burst bubbles bubbling cascade
    catch chase chop cheer circling clap climb collapse cooking crash crawl creep crumble
    curl dance descend dive drift drip drinking drive eat emerge enters entering exits
    exiting expand explode explosion fall firework flap flicker flip float flow flutter fly
    flyby gallop glide grow gush hop hover hug ignite inflate jog jump juggle kick kiss
    landing lands laugh launches launching leap levitate lift marching marches melt move
    nod opens opening opened paddle play playing pops popping popped pour punch race
    raining rainfall ride ripple rise rolling rolls rotate run rush rustle sail scatter
    shaking shatter shimmer shrink sing sinking sip scroll sizzle skating skiing slicing slide
    smash smile soar spark sparkle spin splash spraying sprays sprint sprinkle sprout steam
    stepping stir stretch stride stroll surf sway sweep swim swing swipe swirl swoop talk tap throw
    toss transform travel tumble turn twinkle twirl twisting twists typing unfold unroll
    unwrap walk wander wave waterfall whirl wink wobble writing zips zipping
    ran risen flew flown fell fallen blew blown spun swam swum threw thrown rode drove
    grew shook broke sprang sank
""".split())

_MOTION_PHRASES = ("take off", "break apart", "light up")

_CAMERA_PHRASES = (
    "pan", "whip pan", "tilt", "zoom", "dolly", "dolly in", "dolly out", "dolly zoom",
    "tracking", "tracking shot", "drone", "drone shot", "aerial", "orbit", "crane shot",
    "crane up", "crane down", "jib", "handheld", "hand held", "shaky cam", "steadicam",
    "gimbal", "push in", "pull back", "pull out", "pull away", "fpv", "pov",
    "point of view", "first person", "follow shot", "following shot", "arc shot",
    "sweeping shot", "flyover", "fly over", "flythrough", "fly through", "boom shot",
    "boom up", "truck left", "truck right", "trucking shot", "slider shot",
    "rotating shot", "360 degree",
    # A locked-off camera is a deliberate camera choice too, not a missing one.
    "static shot", "static camera", "locked off", "fixed camera", "tripod shot",
)

# "The camera slowly rises" names a camera movement without any fixed phrase, so a camera
# verb shortly after the word "camera" counts as well, and so does a participle just
# before it ("a gliding camera").
_CAMERA_NOUNS = frozenset({"camera", "cam", "lens"})
_CAMERA_VERBS = frozenset("""
    move glide circle orbit rise descend sweep follow track push pull pan tilt zoom swing
    rotate spin fly drift float race rush travel approach crane dolly truck arc slide whip
    shake lower lift climb dive swoop soar hover retreat
""".split())
_CAMERA_WINDOW_AFTER = 3

# Cookware is not a camera move: "sizzling in a frying pan".
_NOT_A_CAMERA_PAN = frozenset({"frying", "sauce", "baking", "sheet", "cake", "roasting",
                               "grill", "grilling", "dust", "saute", "wok"})

_PACING_PHRASES = (
    "slow motion", "slow mo", "slowmo", "slo mo", "slow", "fast", "fast paced", "quick",
    "rapid", "gentle", "gradual", "steady", "smoothly", "leisurely", "relaxed", "calm",
    "unhurried", "lazy", "languid", "brisk", "swift", "sudden", "abrupt", "frantic",
    "energetic", "lively", "hurried", "graceful", "snappy", "punchy", "time lapse",
    "timelapse", "hyperlapse", "real time", "speed ramp", "high speed", "full speed",
    "freeze frame", "jump cut", "pace", "paced", "tempo", "rhythm", "rhythmic", "linger",
    "pause", "accelerate", "decelerate", "one by one", "step by step",
)


@dataclass(frozen=True)
class CoachCheck:
    """One piece of advice applied to a prompt.

    `suggestion` is always set, with an example phrase, so the page can show it as a tip
    whether or not the check passed; `found` lists the words that satisfied the check.
    """

    id: str
    label: str
    passed: bool
    suggestion: str
    found: tuple[str, ...] = ()


@dataclass(frozen=True)
class CoachReport:
    """The coach's review of one prompt."""

    checks: tuple[CoachCheck, ...]
    char_count: int
    summary: str

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(check.passed for check in self.checks)

    @property
    def total(self) -> int:
        """How many checks there are."""
        return len(self.checks)

    @property
    def score(self) -> float:
        """Share of checks passed, from 0.0 to 1.0."""
        return self.passed / self.total if self.checks else 0.0

    @property
    def score_text(self) -> str:
        """The score for a heading, e.g. "3/4 tips followed"."""
        return f"{self.passed}/{self.total} tips followed"

    @property
    def all_passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def suggestions(self) -> tuple[str, ...]:
        """The tips of the checks that failed, in check order."""
        return tuple(check.suggestion for check in self.checks if not check.passed)

    @property
    def over_limit(self) -> bool:
        """True when the prompt is longer than the API accepts at all."""
        return self.char_count > MAX_PROMPT_CHARS

    def check(self, check_id: str) -> CoachCheck:
        """The check with this id (`motion`, `camera`, `pacing` or `length`)."""
        for item in self.checks:
            if item.id == check_id:
                return item
        raise KeyError(check_id)


@lru_cache(maxsize=8192)
def _forms(word: str) -> frozenset[str]:
    """The word plus the base forms it may be an inflection of (a deliberately loose stemmer).

    Over-generating is harmless because the candidates are only looked up in the word lists.
    """
    forms = {word}

    def add_stem(stem: str) -> None:
        if len(stem) < 2:
            return
        forms.update((stem, stem + "e"))
        if len(stem) >= 3 and stem[-1] == stem[-2]:
            forms.add(stem[:-1])  # spinning -> spin, but also keeps rolling -> roll above

    if word.endswith(("ied", "ies")) and len(word) > 4:
        forms.add(word[:-3] + "y")
    elif word.endswith("ing") and len(word) > 4:
        add_stem(word[:-3])
    elif word.endswith("ed") and len(word) > 3:
        add_stem(word[:-2])
    elif word.endswith("es") and len(word) > 3:
        forms.update((word[:-2], word[:-1]))
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        forms.add(word[:-1])
    if word.endswith("ily") and len(word) > 4:
        forms.add(word[:-3] + "y")
    elif word.endswith("ly") and len(word) > 3:
        forms.update((word[:-2], word[:-1] + "e"))
    return frozenset(forms)


def _tokens(text: str) -> list[str]:
    # Hyphens, apostrophes and punctuation all split words: "slow-motion" == "slow motion".
    return re.findall(r"[^\W_]+", text.casefold())


def _phrase_index(phrases: Iterable[str]) -> dict[str, list[tuple[str, ...]]]:
    """Phrases keyed by their first word, longest first, so the longest match wins."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        words = tuple(_tokens(phrase))
        index.setdefault(words[0], []).append(words)
    for options in index.values():
        options.sort(key=len, reverse=True)
    return index


_MOTION_INDEX = _phrase_index(list(_MOTION_WORDS) + list(_MOTION_PHRASES))
_CAMERA_INDEX = _phrase_index(_CAMERA_PHRASES)
_PACING_INDEX = _phrase_index(_PACING_PHRASES)


def _find(tokens: list[str], index: dict[str, list[tuple[str, ...]]]) -> list[tuple[int, int]]:
    """(start, end) token spans of the phrases of `index` in `tokens`, left to right."""
    spans = []
    position = 0
    while position < len(tokens):
        match_end = 0
        for form in _forms(tokens[position]):
            for phrase in index.get(form, ()):
                end = position + len(phrase)
                if end > match_end and end <= len(tokens) and all(
                        word in _forms(tokens[position + offset])
                        for offset, word in enumerate(phrase[1:], start=1)):
                    match_end = end
        if match_end:
            spans.append((position, match_end))
            position = match_end
        else:
            position += 1
    return spans


def _camera_spans(tokens: list[str]) -> list[tuple[int, int]]:
    spans = [(start, end) for start, end in _find(tokens, _CAMERA_INDEX)
             if not (tokens[start] in ("pan", "pans") and start > 0
                     and tokens[start - 1] in _NOT_A_CAMERA_PAN)]
    for position, token in enumerate(tokens):
        if token not in _CAMERA_NOUNS:
            continue
        before = position - 1
        if (before >= 0 and tokens[before].endswith("ing")
                and _forms(tokens[before]) & _CAMERA_VERBS):
            spans.append((before, position + 1))
            continue
        for after in range(position + 1, min(len(tokens), position + 1 + _CAMERA_WINDOW_AFTER)):
            if _forms(tokens[after]) & _CAMERA_VERBS:
                spans.append((position, after + 1))
                break
    return sorted(spans)


def _phrases(tokens: list[str], spans: list[tuple[int, int]]) -> tuple[str, ...]:
    found: list[str] = []
    for start, end in spans:
        phrase = " ".join(tokens[start:end])
        if phrase not in found:
            found.append(phrase)
    return tuple(found)


_MOTION_TIP = ("Add motion or action, e.g. 'waves crashing on the shore' or "
               "'steam rising from the cup'.")
_CAMERA_TIP = ("Add a camera movement, e.g. 'slow dolly-in', 'drone shot' or "
               "'tracking shot'.")
_PACING_TIP = ("Describe the timing or pacing, e.g. 'slow motion', 'fast-paced' or "
               "'gentle floating'.")
_LENGTH_TIP = (f"Keep it under {RECOMMENDED_MAX_CHARS} characters: one subject, one action, "
               "one camera move, e.g. 'surfer riding a wave, drone shot, slow motion'.")

# Short imperative forms of the tips, for the one-line summary.
_TODO = {
    "motion": "add motion or action",
    "camera": "add a camera movement",
    "pacing": "describe the pacing",
    "length": f"shorten it to under {RECOMMENDED_MAX_CHARS} characters",
}


def _length_check(char_count: int) -> CoachCheck:
    suggestion = _LENGTH_TIP
    if char_count > MAX_PROMPT_CHARS:
        suggestion = (f"At {char_count:,} characters this prompt will be refused: the limit is "
                      f"{MAX_PROMPT_CHARS:,}. " + _LENGTH_TIP)
    return CoachCheck(
        id="length",
        label=f"Concise (up to {RECOMMENDED_MAX_CHARS} characters)",
        passed=char_count <= RECOMMENDED_MAX_CHARS,
        suggestion=suggestion,
    )


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _summary(checks: tuple[CoachCheck, ...], char_count: int) -> str:
    if char_count == 0:
        return ("Describe a scene with its action, a camera movement and the pacing, e.g. "
                "'waves crashing on rocks, drone shot, slow motion'.")
    if char_count > MAX_PROMPT_CHARS:
        return (f"Too long to send: {char_count:,} characters, and Firemoon accepts at most "
                f"{MAX_PROMPT_CHARS:,}. Aim for under {RECOMMENDED_MAX_CHARS}.")
    failed = [check.id for check in checks if not check.passed]
    if not failed:
        return (f"Strong prompt: motion, a camera movement and pacing in {char_count} "
                "characters.")
    passed = len(checks) - len(failed)
    todo = _join([_TODO[check_id] for check_id in failed])
    return f"{passed} of {len(checks)} tips followed: {todo[0].upper()}{todo[1:]}."


def review_prompt(prompt: Any) -> CoachReport:
    """Check a prompt against the provider's advice; accepts anything and never raises.

    The character count is of the trimmed prompt, as the API counts it.
    """
    text = "" if prompt is None else prompt if isinstance(prompt, str) else str(prompt)
    text = text.strip()
    tokens = _tokens(text[:_ANALYSED_CHARS])
    motion = _phrases(tokens, _find(tokens, _MOTION_INDEX))
    camera = _phrases(tokens, _camera_spans(tokens))
    pacing = _phrases(tokens, _find(tokens, _PACING_INDEX))
    checks = (
        CoachCheck("motion", "Motion or action", bool(motion), _MOTION_TIP, motion),
        CoachCheck("camera", "Camera movement", bool(camera), _CAMERA_TIP, camera),
        CoachCheck("pacing", "Timing or pacing", bool(pacing), _PACING_TIP, pacing),
        _length_check(len(text)),
    )
    return CoachReport(checks=checks, char_count=len(text), summary=_summary(checks, len(text)))


def platform_hint(aspect_ratio: str) -> str:
    """Which platforms an aspect ratio suits; empty for a ratio the API does not offer."""
    ratio = str(aspect_ratio).strip()
    return f"{_ORIENTATIONS[ratio]}: {ASPECT_RATIO_USES[ratio]}" if ratio in _ORIENTATIONS else ""


def duration_hint(duration: str | int) -> str:
    """What a duration (5 or 10 s) suits; empty for a duration the API does not offer."""
    seconds = str(duration).strip()
    return f"{seconds} s: {DURATION_USES[seconds]}" if seconds in DURATION_USES else ""
