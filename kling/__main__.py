"""Command line: `python -m kling generate|batch|simulator|history`.

Exit status: 0 success; 2 bad input (nothing was sent); 1 the API or network failed,
with a one-line reason on stderr and no traceback. Generations made here are logged and
archived exactly like those from the studio (they go through the same job queue).

Text from outside (prompts, the log, server messages, file names) reaches the terminal
only through `terminal_safe`, so an escape sequence in it is shown, never obeyed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from .batch import MAX_BATCH_ROWS, BatchFileError, parse_batch, read_batch_file
from .errors import InvalidRequestError
from .models import ASPECT_RATIOS, DURATIONS, GenerationRequest
from .settings import Settings, SettingsError, check_base_url

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: What a terminal may act on instead of showing: C0 controls but tab (ESC, CR, BEL,
#: backspace...), DEL, C1 controls (CSI...), line and paragraph separators, the bidi
#: embeddings, overrides and isolates that reorder what follows, and lone surrogates
#: (undecodable bytes, which would also make `print` raise).
_TERMINAL_UNSAFE = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_ONE_LINE = re.compile(rf"[\n{_TERMINAL_UNSAFE}]")
_UNSAFE_LINES = re.compile(f"[{_TERMINAL_UNSAFE}]")
_SHOWN_AS = {"\n": "\\n", "\r": "\\r"}


def _shown(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char)
    return _SHOWN_AS.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def terminal_safe(text: Any, *, lines: bool = False) -> str:
    """`text` as the terminal may print it: control characters shown as `\\x1b`, `\\r`,
    `\\u202e`... instead of acted on. One line unless `lines` (then line feeds stay)."""
    value = "" if text is None else str(text)
    return (_UNSAFE_LINES if lines else _UNSAFE_ONE_LINE).sub(_shown, value)


def _fail(message: str, code: int) -> int:
    print(f"error: {terminal_safe(message)}", file=sys.stderr)
    return code


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


def _host(text: str) -> str:
    """A --host value: a host name or IP address, nothing a socket would choke on."""
    if not (0 < len(text) <= 253 and all("!" <= char <= "~" for char in text)):
        raise ValueError("--host must be a host name or IP address, such as 127.0.0.1.")
    return text


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load()
    if getattr(args, "base_url", None):
        settings = replace(settings, base_url=args.base_url)  # checked by main()
    return settings


def _open(settings: Settings, concurrency: int | None = None):
    # Imported here so that `history` and bad-input paths never start a simulator.
    from .services import open_studio

    if concurrency:
        settings = replace(settings, max_concurrency=concurrency)
    if settings.demo:
        print("Demo mode: no FIREMOON_API_KEY is set, so the built-in simulator makes "
              "the videos (nothing is billed).", file=sys.stderr)
    # A short-lived command does not start the archive's background catch-up.
    return open_studio(settings, retry_downloads=False)


def _job_line(job) -> str:
    if job.result is not None:
        where = job.video_path or job.result.video.url
        return terminal_safe(f"{job.id}  succeeded  seed {job.result.seed}  "
                             f"{job.result.inference_s:.1f} s  {where}")
    return terminal_safe(f"{job.id}  failed  {job.error}")


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities (which Python's json reads, but JSON has not) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _api_json(result) -> str:
    """The API's answer as JSON (ASCII, so controls and bidi characters are escaped).

    NaN and infinities become null; an answer nested too deep to print is shown as the
    fields the studio read from it.
    """
    try:
        return json.dumps(_finite(result.raw), indent=2, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        read = {"videos": [asdict(video) for video in result.videos], "seed": result.seed,
                "timings": {"inference": result.inference_s}}
        return json.dumps(read, indent=2, allow_nan=False)


def cmd_generate(args: argparse.Namespace) -> int:
    try:
        request = GenerationRequest.create(args.prompt, args.duration, args.aspect_ratio,
                                           args.seed)
        settings = _settings(args)
    except (InvalidRequestError, SettingsError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        studio = _open(settings)
    except SettingsError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        job = studio.queue.submit(request, owner="cli", source="cli")
        (job,) = studio.queue.wait([job.id])
    except BaseException:
        studio.queue.shutdown(wait=False)
        raise
    studio.close()
    if job.result is None:
        return _fail(job.error or "the generation failed", EXIT_FAILED)
    if args.json:
        print(_api_json(job.result))
    else:
        video = job.result.video
        saved = job.video_path or f"(not archived: {job.archive_error})"
        print(f"Generated {terminal_safe(job.id)}\n"
              f"  prompt:    {terminal_safe(request.prompt)}\n"
              f"  settings:  {request.duration} s, {request.aspect_ratio}, seed {job.result.seed}\n"
              f"  video:     {video.width}x{video.height}, {video.duration:g} s\n"
              f"  inference: {job.result.inference_s:.1f} s\n"
              f"  url:       {terminal_safe(video.url)}\n"
              f"  saved to:  {terminal_safe(saved)}")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    try:
        plan = parse_batch(read_batch_file(args.file))
        settings = _settings(args)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    except (BatchFileError, SettingsError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:  # a path with a NUL character (from a caller of main())
        return _fail(f"cannot read {args.file}: {exc}", EXIT_BAD_INPUT)
    if plan.row_errors:
        for line, problems in plan.row_errors.items():
            print(terminal_safe(f"line {line}: {' '.join(problems)}"), file=sys.stderr)
        return _fail(f"{len(plan.row_errors)} row(s) are invalid; nothing was sent",
                     EXIT_BAD_INPUT)
    try:
        studio = _open(settings, args.concurrency)
    except SettingsError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    batch_id = "batch-" + uuid.uuid4().hex[:8]
    try:
        jobs = studio.queue.submit_many(plan.requests, owner="cli", source="cli",
                                        batch_id=batch_id)
        jobs = studio.queue.wait([j.id for j in jobs])
    except BaseException:
        studio.queue.shutdown(wait=False)
        raise
    studio.close()
    for job in jobs:
        print(_job_line(job))
    failed = sum(1 for j in jobs if j.result is None)
    print(f"{batch_id}: {len(jobs) - failed} succeeded, {failed} failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_simulator(args: argparse.Namespace) -> int:
    from .simulator import SimulatorConfig, main_simulator

    try:
        config = SimulatorConfig.from_env()
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    return main_simulator(args.host, args.port, config)


def cmd_history(args: argparse.Namespace) -> int:
    from .history import HistoryLog, HistoryQuery, export_csv, export_json, format_stats, format_table

    try:
        settings = Settings.load()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    log = HistoryLog(settings.data_dir, price_per_second=settings.price_per_second)
    query = HistoryQuery(text=args.search or "",
                         statuses=tuple(args.status or ()))
    frame = log.query(query)
    if args.action == "list":
        shown = frame.head(args.limit).copy()
        for name in shown.columns:  # before the layout is measured
            if shown[name].dtype == object or str(shown[name].dtype) == "string":
                shown[name] = shown[name].map(
                    lambda value: terminal_safe(value) if isinstance(value, str) else value)
        print(terminal_safe(format_table(shown), lines=True))
    elif args.action == "stats":
        print(terminal_safe(format_stats(log.stats(frame)), lines=True))
    else:
        if not args.out:
            return _fail("export needs --out FILE", EXIT_BAD_INPUT)
        data = export_json(frame) if args.out.lower().endswith(".json") else export_csv(frame)
        try:
            Path(args.out).write_bytes(data)
        except OSError as exc:
            return _fail(f"cannot write {args.out}: {exc.strerror or exc}", EXIT_FAILED)
        except ValueError as exc:  # a NUL character in the path
            return _fail(f"cannot write {args.out}: {exc}", EXIT_BAD_INPUT)
        print(terminal_safe(f"Exported {len(frame)} generations to {args.out}"),
              file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m kling", description="Kling Studio from the terminal.")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="make one video")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--duration", default="5", choices=DURATIONS)
    gen.add_argument("--aspect-ratio", default="16:9", choices=ASPECT_RATIOS)
    gen.add_argument("--seed", default=None, help="whole number 0-4294967295")
    gen.add_argument("--json", action="store_true", help="print the API's JSON")
    gen.add_argument("--base-url", help="API root (default: settings)")
    gen.set_defaults(func=cmd_generate)

    batch = commands.add_parser("batch", help="one video per CSV row, concurrently")
    batch.add_argument("file")
    batch.add_argument("--concurrency", default=None,
                       help=f"generations in flight at once, 1-{MAX_BATCH_ROWS}")
    batch.add_argument("--base-url", help="API root (default: settings)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
        if getattr(args, "base_url", None):
            args.base_url = check_base_url(args.base_url, "--base-url")
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    # A job that crashes is reported as its one-line error; the log's traceback stays
    # off the terminal unless the caller set up logging itself.
    if not logging.getLogger().handlers and not logging.getLogger("kling").handlers:
        logging.getLogger("kling").addHandler(logging.NullHandler())
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _fail("interrupted; generations still in flight are logged as interrupted",
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
