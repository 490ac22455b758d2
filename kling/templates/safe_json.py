"""Reading JSON bytes that may be anything, as the library file and import files may be.

`load_json` takes UTF-8 (a byte-order mark allowed) nested at most `MAX_JSON_DEPTH` deep,
with numbers of at most `MAX_NUMBER_CHARS` characters, and ends anything else (UTF-16,
binary, `[[[[...`, a 5,000-digit number, text cut short) in `Unreadable`, whose phrase says
what is wrong in words a person understands.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any

#: A template file nests 7 deep (file, list, template, versions, version, variables,
#: variable); past this a file is not a template file, whatever else it is.
MAX_JSON_DEPTH = 32
#: Longest number (in characters) a template file may hold: its numbers are 1, 5 or 10.
MAX_NUMBER_CHARS = 30

_SAVE_AS_UTF8 = "Save it as UTF-8 in your editor and try again."
#: Byte-order marks of encodings other than UTF-8, longest first (UTF-32 LE starts with
#: the UTF-16 LE mark).
_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
#: A JSON string, or one bracket: all `_nesting_exceeds` needs to see.
_JSON_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class Unreadable(Exception):
    """Why some bytes are not a template file, as a phrase that follows "The file" or "it"
    ("is not valid JSON: ..."); `advice` says what to do, when there is something to say;
    `newer` when a newer studio wrote it."""

    def __init__(self, phrase: str, *, advice: str = "", newer: bool = False) -> None:
        super().__init__(phrase)
        self.phrase, self.advice, self.newer = phrase, advice, newer


class _NumberTooLong(Exception):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _short_number(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_number(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(len(text))
        return parse(text)
    return parse_number


_PARSE_INT, _PARSE_FLOAT = _short_number(int), _short_number(float)


def _nesting_exceeds(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than `limit`; a linear scan, so that
    `[[[[...` is refused before any recursive parser (or walker) meets it."""
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def load_json(data: bytes) -> Any:
    """The JSON value of `data` (UTF-8, a BOM allowed), or `Unreadable` saying why not.

    Raises nothing else, whatever the bytes: not text, another encoding, empty, not JSON,
    nested past `MAX_JSON_DEPTH`, or numbers longer than `MAX_NUMBER_CHARS`.
    """
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise Unreadable(f"is not UTF-8 text: it is saved as {encoding}",
                             advice=_SAVE_AS_UTF8)
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"is not UTF-8 text (unreadable byte at position {exc.start:,})",
                         advice=_SAVE_AS_UTF8) from None
    if not text.strip():
        raise Unreadable("is empty")
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise Unreadable(f"is nested too deeply (more than {MAX_JSON_DEPTH} levels of "
                         "brackets) to be a template file")
    try:
        return json.loads(text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT)
    except _NumberTooLong as exc:
        raise Unreadable(f"holds a number {exc.digits:,} characters long; a template file's "
                         f"numbers are short, such as 1 or 10") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno:,}, column {exc.colno:,}"
        # The text ended inside a value, or inside a string that never closes.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise Unreadable(f"is not valid JSON: it ends too early, as if cut short "
                             f"({where})") from None
        what = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise Unreadable(f"is not valid JSON: {what} at {where}") from None
    except (ValueError, RecursionError):  # past the checks above all the same
        raise Unreadable("is not a JSON file Kling Studio can read") from None
