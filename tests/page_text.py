"""What a person reads in an element whose value is Markdown: backslash escapes undone."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\(.)")


def plain(markdown: str) -> str:
    return _ESCAPE.sub(r"\1", markdown).replace("\u2060", "")
