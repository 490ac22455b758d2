"""`python -m kling`: the argument parser, wired to the commands in `kling.cli`.

Flags are checked here before any command runs (bad input exits 2 with a one-line
reason, and nothing is sent); the commands themselves, their exit statuses and the
text they print are in `kling/cli.py`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from typing import Any, Sequence

from .batch import MAX_BATCH_ROWS
from .cli import (
    EXIT_BAD_INPUT, EXIT_FAILED, cmd_assemble, cmd_batch, cmd_db, cmd_generate, cmd_history,
    cmd_inspect, cmd_simulator, cmd_worker, fail, terminal_safe,
)
from .models import ASPECT_RATIOS, DURATIONS
from .settings import check_base_url


class _Parser(argparse.ArgumentParser):
    """argparse quotes the arguments it refuses: they reach stderr through `terminal_safe`."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(terminal_safe(message, lines=True), file)


def _whole(flag: str, text: str | None, low: int, high: int) -> int | None:
    """A whole-number flag within bounds; `ValueError` naming the flag otherwise.

    The text is measured before `int()` reads it (thousands of digits are refused by
    Python, and floats, `inf` or `nan` are not whole numbers).
    """
    if text is None:
        return None
    raw = text.strip()
    digits = raw[1:] if raw.startswith(("+", "-")) else raw
    if digits.isascii() and digits.isdigit() and len(digits.lstrip("0")) <= len(str(high)):
        value = int(raw)
        if low <= value <= high:
            return value
    shown = f" (not '{terminal_safe(raw)}')" if len(raw) <= 20 else ""
    raise ValueError(f"{flag} must be at least {low} and at most {high}, a whole "
                     f"number{shown}.")


def _seconds(flag: str, text: str, low: float, high: float) -> float:
    """A number of seconds within bounds; `ValueError` naming the flag otherwise."""
    try:
        value = float(text) if len(text) <= 20 else math.nan
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise ValueError(f"{flag} must be a number of seconds from {low:g} to {high:g}.")
    return value


def _formats(text: str) -> list[str]:
    """A --formats list: delivery formats by name, comma-separated."""
    from .assembly.formats import FORMATS

    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"--formats takes {', '.join(FORMATS)} (comma-separated), not "
                         f"'{terminal_safe(text[:40])}'.")
    return chosen


def _host(text: str) -> str:
    """A --host value: a host name or IP address, nothing a socket would choke on."""
    if not (0 < len(text) <= 253 and all("!" <= char <= "~" for char in text)):
        raise ValueError("--host must be a host name or IP address, such as 127.0.0.1.")
    return text


AS_HELP = ("act for this person: their role, budget and name "
           "(needs KLING_ALLOW_CLI_AS=true; default: the operating-system user)")


def build_parser() -> argparse.ArgumentParser:
    """Every command and flag of `python -m kling`."""
    parser = _Parser(prog="python -m kling", description="Kling Studio from the terminal.")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="make one video")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--duration", default="5", choices=DURATIONS)
    gen.add_argument("--aspect-ratio", default="16:9", choices=ASPECT_RATIOS)
    gen.add_argument("--seed", default=None, help="whole number 0-4294967295")
    gen.add_argument("--json", action="store_true", help="print the API's JSON")
    gen.add_argument("--base-url", help="API root (default: settings)")
    gen.add_argument("--as", dest="act_as", metavar="EMAIL", help=AS_HELP)
    gen.set_defaults(func=cmd_generate)

    batch = commands.add_parser("batch", help="one video per CSV row, concurrently")
    batch.add_argument("file")
    batch.add_argument("--concurrency", default=None,
                       help=f"generations in flight at once, 1-{MAX_BATCH_ROWS}")
    batch.add_argument("--base-url", help="API root (default: settings)")
    batch.add_argument("--as", dest="act_as", metavar="EMAIL", help=AS_HELP)
    batch.set_defaults(func=cmd_batch)

    sim = commands.add_parser("simulator", help="run the Firemoon-compatible simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", default="8765", help="0-65535 (0: any free port)")
    sim.set_defaults(func=cmd_simulator)

    hist = commands.add_parser("history", help="the generation log")
    hist.add_argument("action", choices=("list", "stats", "export"))
    hist.add_argument("--out", help="export file (.csv or .json)")
    hist.add_argument("--search", help="only prompts containing this text")
    hist.add_argument("--status", action="append",
                      choices=("pending", "succeeded", "failed", "interrupted"))
    hist.add_argument("--limit", default="20", help="rows to list (default 20)")
    hist.set_defaults(func=cmd_history)

    spot = commands.add_parser("assemble", help="one spot from history ids")
    spot.add_argument("ids", nargs="+", metavar="ID")
    spot.add_argument("--out", required=True, help="the spot's MP4 file")
    spot.add_argument("--crossfade", default="0", help="seconds between clips, 0-1")
    spot.add_argument("--captions", help="text file: one caption per clip, a line each")
    spot.add_argument("--end-card", help="title of an end card")
    spot.add_argument("--logo", help="PNG or JPEG for the end card")
    spot.add_argument("--music", help="MP3, WAV or M4A under the spot")
    spot.add_argument("--formats", help="also deliver these, e.g. 16:9,9:16,4:5,1:1")
    spot.set_defaults(func=cmd_assemble)

    inspect = commands.add_parser("inspect", help="the recipe kept in a video's metadata")
    inspect.add_argument("file")
    inspect.set_defaults(func=cmd_inspect)

    worker = commands.add_parser("worker", help="run the team database's generation jobs")
    worker.add_argument("--concurrency", default=None,
                        help="generations at once (default: KLING_MAX_CONCURRENCY)")
    worker.set_defaults(func=cmd_worker)

    db = commands.add_parser("db", help="the team database (KLING_DATABASE_URL)")
    db.add_argument("action", choices=("upgrade", "import", "export"),
                    help="upgrade: create or migrate its schema; import [DIR]: copy a data "
                         "folder in (safe to run twice); export --out DIR: write it back "
                         "out as a data folder")
    db.add_argument("folder", nargs="?", metavar="DIR",
                    help="import: the data folder to copy in (default: "
                         "KLING_STUDIO_DATA_DIR)")
    db.add_argument("--out", metavar="DIR", help="export: a new or empty folder")
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, check the flags, run the command; its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad input, which is our code too
        return int(exc.code or 0)
    try:
        if hasattr(args, "concurrency"):
            args.concurrency = _whole("--concurrency", args.concurrency, 1, MAX_BATCH_ROWS)
        if hasattr(args, "limit"):
            args.limit = _whole("--limit", args.limit, 1, 1_000_000)
        if hasattr(args, "port"):
            args.port = _whole("--port", args.port, 0, 65535)
        if hasattr(args, "host"):
            args.host = _host(args.host)
        if hasattr(args, "crossfade"):
            args.crossfade = _seconds("--crossfade", args.crossfade, 0.0, 1.0)
        if getattr(args, "formats", None):
            args.formats = _formats(args.formats)
        if getattr(args, "base_url", None):
            args.base_url = check_base_url(args.base_url, "--base-url")
    except ValueError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    # A job that crashes is reported as its one-line error; the log's traceback stays
    # off the terminal unless the caller set up logging itself. So does the database
    # driver's own note on a failed statement, which the one-line error already says.
    if not logging.getLogger().handlers:
        for name in ("kling", "psycopg"):
            if not logging.getLogger(name).handlers:
                logging.getLogger(name).addHandler(logging.NullHandler())
    try:
        return args.func(args)
    except KeyboardInterrupt:
        fail("interrupted; generations still in flight are logged as interrupted",
             EXIT_FAILED)
        sys.stdout.flush()
        sys.stderr.flush()
        # Worker threads may wait on the network for minutes and would be joined at
        # exit; the pending rows are already durable and read as interrupted.
        os._exit(EXIT_FAILED)


if __name__ == "__main__":
    # A terminal that cannot show some character gets `\u...` for it, not a traceback.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    sys.exit(main())
