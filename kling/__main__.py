"""Command line: `python -m kling generate|batch|simulator|history`.

Exit status: 0 success; 2 bad input (nothing was sent); 1 the API or network failed,
with a one-line reason on stderr and no traceback. Generations made here are logged and
archived exactly like those from the studio (they go through the same job queue).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .batch import BatchFileError, parse_batch
from .errors import InvalidRequestError
from .models import ASPECT_RATIOS, DURATIONS, GenerationRequest
from .settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load()
    if getattr(args, "base_url", None):
        settings = replace(settings, base_url=args.base_url.rstrip("/"))
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
        return (f"{job.id}  succeeded  seed {job.result.seed}  "
                f"{job.result.inference_s:.1f} s  {where}")
    return f"{job.id}  failed  {job.error}"


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
        print(json.dumps(job.result.raw, indent=2))
    else:
        video = job.result.video
        print(f"Generated {job.id}\n"
              f"  prompt:    {request.prompt}\n"
              f"  settings:  {request.duration} s, {request.aspect_ratio}, seed {job.result.seed}\n"
              f"  video:     {video.width}x{video.height}, {video.duration:g} s\n"
              f"  inference: {job.result.inference_s:.1f} s\n"
              f"  url:       {video.url}\n"
              f"  saved to:  {job.video_path or '(not archived: ' + str(job.archive_error) + ')'}")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    try:
        plan = parse_batch(Path(args.file).read_bytes())
        settings = _settings(args)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror}", EXIT_BAD_INPUT)
    except (BatchFileError, SettingsError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if plan.row_errors:
        for line, problems in plan.row_errors.items():
            print(f"line {line}: {' '.join(problems)}", file=sys.stderr)
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
        print(format_table(frame.head(args.limit)))
    elif args.action == "stats":
        print(format_stats(log.stats(frame)))
    else:
        if not args.out:
            return _fail("export needs --out FILE", EXIT_BAD_INPUT)
        data = export_json(frame) if args.out.lower().endswith(".json") else export_csv(frame)
        try:
            Path(args.out).write_bytes(data)
        except OSError as exc:
            return _fail(f"cannot write {args.out}: {exc.strerror}", EXIT_FAILED)
        print(f"Exported {len(frame)} generations to {args.out}", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kling",
                                     description="Kling Studio from the terminal.")
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
    batch.add_argument("--concurrency", type=int, default=None)
    batch.add_argument("--base-url", help="API root (default: settings)")
    batch.set_defaults(func=cmd_batch)

    sim = commands.add_parser("simulator", help="run the Firemoon-compatible simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.set_defaults(func=cmd_simulator)

    hist = commands.add_parser("history", help="the generation log")
    hist.add_argument("action", choices=("list", "stats", "export"))
    hist.add_argument("--out", help="export file (.csv or .json)")
    hist.add_argument("--search", help="only prompts containing this text")
    hist.add_argument("--status", action="append",
                      choices=("pending", "succeeded", "failed", "interrupted"))
    hist.add_argument("--limit", type=int, default=20)
    hist.set_defaults(func=cmd_history)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad input, which is our code too
        return int(exc.code or 0)
    if getattr(args, "concurrency", None) is not None and args.concurrency < 1:
        return _fail("--concurrency must be at least 1", EXIT_BAD_INPUT)
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
    sys.exit(main())
