"""The commands of `python -m kling` (generate, batch, simulator, history) and the text
they print; `kling/__main__.py` parses the arguments and calls them.

Exit status: 0 success; 2 bad input (nothing was sent); 1 the API or network failed,
with a one-line reason on stderr and no traceback. Generations made here are logged and
archived exactly like those from the studio (they go through the same job queue).

Text from outside (prompts, the log, server messages, file names) reaches the terminal
only through `terminal_safe`, so an escape sequence in it is shown, never obeyed.
Heavy modules (the history with pandas, the studio's services, the simulator) are
imported by the commands that need them, so that bad input is refused at once.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import BatchFileError, new_batch_id, parse_batch, read_batch_file
from .errors import InvalidRequestError, KlingError, RefusedError, StorageError
from .models import STUDIO_VERSION, GenerationRequest
from .settings import Settings, SettingsError
from .wording import counted

if TYPE_CHECKING:
    import pandas as pd

    from .history.stats import HistoryStats
    from .stores import HistoryStore

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


def fail(message: str, code: int) -> int:
    """Print `message` as the one-line error of a command; return its exit status."""
    print(f"error: {terminal_safe(message)}", file=sys.stderr)
    return code


# -- commands -----------------------------------------------------------------------------

def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load()
    if getattr(args, "base_url", None):
        settings = replace(settings, base_url=args.base_url)  # checked by __main__.main
    return settings


def _open(settings: Settings, concurrency: int | None = None, act_as: str | None = None):
    """The studio as this command's person uses it (`command_line_person`)."""
    # Imported here so that `history` and bad-input paths never start a simulator.
    from .people import PeopleConfig, command_line_person
    from .services import open_studio

    person = command_line_person(PeopleConfig.load(settings), act_as)

    if concurrency:
        settings = replace(settings, max_concurrency=concurrency)
    if settings.demo:
        print("Demo mode: no FIREMOON_API_KEY is set, so the built-in simulator makes "
              "the videos (nothing is billed).", file=sys.stderr)
    # A short-lived command does not start the archive's background catch-up, and runs
    # its own generations, as it waits for them, even beside a team's workers.
    return open_studio(settings, retry_downloads=False, jobs_here=True).for_person(person)


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
        return fail(str(exc), EXIT_BAD_INPUT)
    try:
        studio = _open(settings, act_as=args.act_as)
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KlingError as exc:  # the team database: unreachable, or an old schema
        return fail(str(exc), EXIT_FAILED)
    try:
        job = studio.queue.submit(request, owner="cli", source="cli")
        (job,) = studio.queue.wait([job.id])
    except RefusedError as exc:
        studio.close()
        return fail(str(exc), EXIT_BAD_INPUT)
    except BaseException:
        studio.queue.shutdown(wait=False)
        raise
    studio.close()
    if job.result is None:
        return fail(job.error or "the generation failed", EXIT_FAILED)
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
        return fail(f"cannot read {args.file}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    except (BatchFileError, SettingsError) as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:  # a path with a NUL character (from a caller of main())
        return fail(f"cannot read {args.file}: {exc}", EXIT_BAD_INPUT)
    if plan.row_errors:
        for line, problems in plan.row_errors.items():
            print(terminal_safe(f"line {line}: {' '.join(problems)}"), file=sys.stderr)
        return fail(f"{len(plan.row_errors)} row(s) are invalid; nothing was sent",
                     EXIT_BAD_INPUT)
    try:
        studio = _open(settings, args.concurrency, args.act_as)
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KlingError as exc:  # the team database: unreachable, or an old schema
        return fail(str(exc), EXIT_FAILED)
    batch_id = new_batch_id()
    try:
        jobs = studio.queue.submit_many(plan.requests, owner="cli", source="cli",
                                        batch_id=batch_id)
        jobs = studio.queue.wait([j.id for j in jobs])
    except RefusedError as exc:
        studio.close()
        return fail(f"{exc} Nothing was sent.", EXIT_BAD_INPUT)
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
        return fail(str(exc), EXIT_BAD_INPUT)
    return main_simulator(args.host, args.port, config)


def _history_log() -> tuple[Settings, "HistoryStore"]:
    """The settings and the history they name (no simulator, no client)."""
    from .services import open_database, open_history

    settings = Settings.load()
    return settings, open_history(settings, open_database(settings))


def cmd_history(args: argparse.Namespace) -> int:
    from .history.export import export_csv, export_json
    from .history.query import HistoryQuery

    try:
        _, log = _history_log()
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KlingError as exc:
        return fail(str(exc), EXIT_FAILED)
    query = HistoryQuery(text=args.search or "",
                         statuses=tuple(args.status or ()))
    if args.action == "list":
        shown = log.page(query, 0, args.limit).copy()
        for name in shown.columns:  # before the layout is measured
            if shown[name].dtype == object or str(shown[name].dtype) == "string":
                shown[name] = shown[name].map(
                    lambda value: terminal_safe(value) if isinstance(value, str) else value)
        print(terminal_safe(format_table(shown), lines=True))
    elif args.action == "stats":
        print(terminal_safe(format_stats(log.stats(query=query)), lines=True))
    else:
        if not args.out:
            return fail("export needs --out FILE", EXIT_BAD_INPUT)
        frame = log.query(query)
        data = export_json(frame) if args.out.lower().endswith(".json") else export_csv(frame)
        try:
            Path(args.out).write_bytes(data)
        except OSError as exc:
            return fail(f"cannot write {args.out}: {exc.strerror or exc}", EXIT_FAILED)
        except ValueError as exc:  # a NUL character in the path
            return fail(f"cannot write {args.out}: {exc}", EXIT_BAD_INPUT)
        print(terminal_safe(f"Exported {len(frame)} generations to {args.out}"),
              file=sys.stderr)
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    """`db upgrade|import|export`: the team database's schema, and data folders in and out."""
    try:
        settings = Settings.load()
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    if not settings.database_url:
        return fail("KLING_DATABASE_URL is not set: it names the team database, e.g. "
                    "postgresql+psycopg://kling:PASSWORD@db:5432/kling", EXIT_BAD_INPUT)
    if args.action == "export" and not args.out:
        return fail("db export needs --out DIR, a new or empty folder", EXIT_BAD_INPUT)
    if args.action != "import" and args.folder:
        return fail(f"db {args.action} takes no folder", EXIT_BAD_INPUT)
    try:
        from . import db
    except ImportError:
        return fail("the team packages are not installed: "
                    "pip install -r requirements-team.txt", EXIT_BAD_INPUT)
    try:
        engine = db.connect(settings.database_url)
        try:
            if args.action == "upgrade":
                return _upgrade(engine, settings)
            return _transfer(engine, settings, args)
        finally:
            engine.dispose()
    except ValueError as exc:  # a folder with nothing to import, or one not to write over
        return fail(str(exc), EXIT_BAD_INPUT)
    except StorageError as exc:
        return fail(str(exc), EXIT_FAILED)


def _upgrade(engine, settings: Settings) -> int:
    from . import db

    before, after = db.upgrade(engine)
    where = db.safe_url(settings.database_url or "")
    if before == after:
        print(terminal_safe(f"{where} is already at schema {after}."))
    else:
        print(terminal_safe(f"{where}: schema {before or '(none)'} -> {after}."))
    return EXIT_OK


def _transfer(engine, settings: Settings, args: argparse.Namespace) -> int:
    from . import db
    from .db.transfer import export_folder, import_folder
    from .services import open_archive

    db.check_current(engine)
    archive = open_archive(settings)
    if args.action == "import":
        folder = Path(args.folder) if args.folder else settings.data_dir
        moved = import_folder(engine, folder, archive)
        print(terminal_safe(
            f"Imported from {folder}: {counted(moved.generations, 'generation')} "
            f"({moved.already_there:,} were there already), "
            f"{counted(moved.annotations, 'annotation')}, "
            f"{counted(moved.videos, 'video')}, {counted(moved.templates, 'template')}, "
            f"{counted(moved.storyboards, 'storyboard')}"
            f"{', the budgets' if moved.budgets else ''}."))
    else:
        moved = export_folder(engine, Path(args.out), archive)
        print(terminal_safe(
            f"Exported to {args.out}: {counted(moved.generations, 'generation')}, "
            f"{counted(moved.annotations, 'annotation')}, {counted(moved.videos, 'video')}, "
            f"{counted(moved.templates, 'template')}, "
            f"{counted(moved.storyboards, 'storyboard')}"
            f"{', the budgets' if moved.budgets else ''}."))
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the team database's generation jobs until stopped (SIGTERM or Ctrl+C)."""
    from .services import open_worker

    try:
        settings = Settings.load()
        worker = open_worker(settings, concurrency=args.concurrency)
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KlingError as exc:
        return fail(str(exc), EXIT_FAILED)
    if settings.demo:
        print("Demo mode: no FIREMOON_API_KEY is set, so the simulator makes the videos "
              "(nothing is billed).", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    print(f"Worker {worker.id} runs up to {worker.concurrency} generations at once; "
          "Ctrl+C stops it once the calls under way are recorded.", file=sys.stderr,
          flush=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        pass  # run() recorded the calls under way before returning
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the recipe a video carries in its metadata."""
    from .assembly import AssemblyError, read_recipe

    try:
        recipe = read_recipe(args.file)
    except AssemblyError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    if recipe is None:
        return fail(f"{args.file} carries no Kling Studio recipe", EXIT_BAD_INPUT)
    print(terminal_safe(json.dumps(recipe, ensure_ascii=False, indent=2), lines=True))
    return EXIT_OK


def _captions(path: str | None, count: int) -> list[str | None] | None:
    """One caption per line of a text file (an empty line: no caption for that clip)."""
    if path is None:
        return None
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    if len(lines) > count:
        raise ValueError(f"{path} has {len(lines)} captions for {count} clips")
    return [line.strip() or None for line in lines] + [None] * (count - len(lines))


def cmd_assemble(args: argparse.Namespace) -> int:
    """One spot from history ids, and its delivery formats beside it."""
    from .assembly import AssemblyError, EndCard, assemble, deliver, read_recipe
    from .services import open_archive

    try:
        settings, history = _history_log()
        archive = open_archive(settings)
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KlingError as exc:
        return fail(str(exc), EXIT_FAILED)
    clips = []
    for gen_id in args.ids:
        if not archive.exists(gen_id) or history.get(gen_id) is None:
            return fail(f"{gen_id} is not a generation with a video in the archive "
                        f"({settings.video_store or settings.data_dir})", EXIT_BAD_INPUT)
        try:
            clips.append(archive.path_for(gen_id))
        except KlingError as exc:
            return fail(str(exc), EXIT_FAILED)
    try:
        captions = _captions(args.captions, len(clips))
        card = (EndCard(title=args.end_card, logo=args.logo) if args.end_card else None)
        spot = assemble(clips, args.out, crossfade=args.crossfade, captions=captions,
                        end_card=card, music=args.music,
                        recipe={"studio_version": STUDIO_VERSION,
                                "clips": [read_recipe(p) or {"id": i}
                                          for p, i in zip(clips, args.ids)]})
        written = [spot.path]
        if args.formats:
            written += deliver(spot.path, Path(args.out).parent, Path(args.out).stem,
                               {fmt: ("crop", (0.5, 0.5)) for fmt in args.formats})
    except (AssemblyError, OSError, ValueError) as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    for path in written:
        print(terminal_safe(str(path)))
    print(terminal_safe(f"Assembled {len(clips)} clips: {spot.duration:.2f} s, "
                        f"{spot.width}x{spot.height}"), file=sys.stderr)
    return EXIT_OK


# -- text for the terminal ----------------------------------------------------------------

def _one_line(text: Any, width: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(frame: pd.DataFrame, *, prompt_width: int = 60) -> str:
    """The rows of a history frame as a plain-text table for the terminal (`history list`)."""
    if frame.empty:
        return "No generations."
    header = ("id", "created", "status", "dur", "ratio", "seed", "infer", "prompt")
    # Blanks are found column by column, with the frame's own methods.
    created = frame["created_at"].dt.strftime("%Y-%m-%d %H:%M").fillna("")
    seeds = frame["seed"].astype("string").fillna("")
    infer = frame["inference_s"].map("{:.1f}s".format, na_action="ignore").fillna("")
    lines = [(gen_id, when, status, f"{duration}s", ratio, seed, took,
              _one_line(prompt, prompt_width))
             for gen_id, when, status, duration, ratio, seed, took, prompt in zip(
                 frame["id"], created, frame["status"], frame["duration"],
                 frame["aspect_ratio"], seeds, infer, frame["prompt"])]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    render = ["  ".join(v.ljust(w) for v, w in zip(cells, widths)).rstrip()
              for cells in [header, *lines]]
    return "\n".join(render)


def format_stats(stats: HistoryStats) -> str:
    """History statistics as plain text for the terminal (`history stats`)."""
    from .billing import POSSIBLY_BILLED

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.0%}"
    lines = [
        f"Generations:        {stats.total:,} ({stats.succeeded:,} succeeded, "
        f"{stats.failed:,} failed)",
        f"Success rate:       {rate}",
        f"Inference p50/p95:  {seconds(stats.inference_p50)} / "
        f"{seconds(stats.inference_p95)}",
        f"Seconds generated:  {stats.seconds_generated:,.0f}",
        f"Estimated spend:    ${stats.spend_total:,.2f} in all, "
        f"${stats.spend_today:,.2f} today, ${stats.spend_this_month:,.2f} this month",
    ]
    if stats.possibly_billed:
        lines.append(f"Possibly billed:    ${stats.possibly_billed_usd:,.2f} for "
                     f"{stats.possibly_billed:,} generation(s) sent without an answer "
                     "(not in the spend above; check your Firemoon account)")
    if not stats.per_month.empty:
        lines.append("By month:")
        for row in stats.per_month.itertuples(index=False):
            unsure = (f"  (+ ${row.possibly_billed:,.2f} {POSSIBLY_BILLED})"
                      if row.possibly_billed else "")
            lines.append(f"  {row.month}  {row.generations:>6,} generations  "
                         f"{row.seconds:>8,.0f} s  ${row.spend:,.2f}{unsure}")
    if not stats.top_templates.empty:
        lines.append("Most used templates:")
        for row in stats.top_templates.itertuples(index=False):
            rate = "-" if math.isnan(row.success_rate) else f"{row.success_rate:.0%}"
            lines.append(f"  {row.template_id}  {row.uses:,} uses, {rate} succeeded")
    return "\n".join(lines)
