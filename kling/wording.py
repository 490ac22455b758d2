"""How messages count things, quote a person's text and list names."""

from __future__ import annotations

from collections.abc import Sequence

#: Longest piece of a person's (or a file's) own text quoted back in a message.
MAX_QUOTE = 40


def counted(count: int, word: str) -> str:
    """`1 video`, `2 videos`, `1,200 videos`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def join_names(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    """`text` as quoted back in a message: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
