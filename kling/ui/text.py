"""The one way text that came from a person or a server reaches a page: literally.

Streamlit renders Markdown (and its own `:red[...]` colour and `:material/...:` icon
directives) in titles, captions, alerts and labels. A prompt, a template name or an
API message must never become a link, an image the browser fetches, or a red banner,
so every such string goes through `literal` before it is put into Markdown.
"""

from __future__ import annotations

_MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()<>#+-.!|~$:")


def literal(text: object) -> str:
    """`text` with every Markdown character escaped, on one line: shown exactly as typed."""
    value = "" if text is None else str(text)
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in value)
    return " ".join(escaped.split("\n"))
