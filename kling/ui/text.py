"""The one way text that came from a person or a server reaches a page: literally.

Streamlit renders Markdown (and its own `:red[...]` colour and `:material/...:` icon
directives) in titles, captions, alerts and labels. A prompt, a template name or an
API message must never become a link, an image the browser fetches, or a red banner,
so every such string goes through `literal` before it is put into Markdown. The price of
keeping bare addresses from becoming links is an invisible word joiner inside them,
which a person copying the text also copies.
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()<>#+-.!|~$:")

#: Streamlit's Markdown turns bare addresses into links (GFM autolink literals) even when
#: every character around them is escaped; a WORD JOINER (invisible, zero width) after
#: the scheme, `www` or before `@` keeps them text.
_WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)(?=[:.])|@")


def _no_autolink(match: re.Match) -> str:
    return _WORD_JOINER + "@" if match.group(0) == "@" else match.group(1) + _WORD_JOINER


def literal(text: object) -> str:
    """`text` with every Markdown character escaped, on one line: shown exactly as typed
    (an address in it stays text: no link)."""
    value = "" if text is None else str(text)
    value = _AUTOLINK.sub(_no_autolink, value)
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in value)
    return " ".join(escaped.split("\n"))
