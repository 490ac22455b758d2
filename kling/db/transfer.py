"""Moving a one-person data folder into the team database, and back out.

`import_folder` copies a folder's history and annotations (and videos, into the team's
video store) in one transaction: all of it or nothing. It is safe to run twice: a
generation already in the database is left as the database has it, and an annotation
row already there (same generation, field, value, time and author) is not added again.
Each generation's latest annotations are then worked out again from every row it has.
The folder's templates join the team's library (a template the team has already, by
id, is left as the team has it, every version of the others is kept), so do its
storyboards with their logos, and its budgets become the team's when the team has set
none.

`export_folder` writes the files a one-person studio reads (`history.csv` in the log's
own format, which pandas reads directly, `annotations.csv`, `templates.json`,
`budgets.json`, the storyboards and the videos), into a folder that does not hold a history yet, each
file whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..archive import VideoArchive
from ..errors import HistoryError
from ..history import ANNOTATION_COLUMNS, HISTORY_COLUMNS, HistoryLog
from ..history.annotations import latest_annotations, merge_annotations
from ..history.csvformat import encode
from ..people.budgets import BudgetFile, Budgets
from ..storage.atomic import replacing
from ..storyboards.library import StoryboardLibrary, Storyboards
from ..templates.file_format import versions_to_json
from ..templates.files import write_atomically
from ..templates.library_file import LibraryFile
from .budgets import DatabaseBudgets
from .engine import unreachable
from .storyboards import DatabaseStoryboards
from .templates import LibraryRow
from .tables import annotation_latest, annotations, generations, store_versions

_CHUNK = 5_000
_LATEST = [c.name for c in annotation_latest.columns if c.name != "gen_id"]


@dataclass(frozen=True)
class Moved:
    """What one import or export moved."""

    generations: int = 0
    #: Generations of the folder the database had already (an import run twice).
    already_there: int = 0
    annotations: int = 0
    videos: int = 0
    templates: int = 0
    storyboards: int = 0
    #: Whether the budgets were copied.
    budgets: bool = False


def _value(value: Any) -> Any:
    """A frame's cell as the database takes it: no NA, NaN or "" (NULL instead)."""
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _present(connection: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(connection.execute(
            sa.select(generations.c.id).where(generations.c.id.in_(chunk))).scalars())
    return found


def _time(text: Any) -> datetime | None:
    stamp = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return None if pd.isna(stamp) else stamp.to_pydatetime()


def import_folder(engine: Engine, data_dir: Path, archive: VideoArchive) -> Moved:
    """Copy the history, annotations and videos of `data_dir` into the team database
    and `archive`; what was added. `ValueError` when the folder holds no history."""
    data_dir = Path(data_dir)
    archive_dir = archive.directory.parent
    source = HistoryLog(data_dir)
    if not source.path.exists() and not source.annotations_path.exists():
        raise ValueError(f"{data_dir} holds no history.csv or annotations.csv, so there is "
                         "nothing to import: name the data folder of a one-person studio")
    frame = source.load()[list(HISTORY_COLUMNS)]
    notes = source.annotation_log()
    try:
        with engine.begin() as connection:
            there = _present(connection, list(frame["id"]))
            rows = [{name: _value(value) for name, value in row.items()}
                    for row in frame[~frame["id"].isin(there)].to_dict("records")]
            videos = _keep_videos([row["id"] for row in rows], data_dir, archive)
            for row in rows:
                if row["id"] in videos:
                    row["video_path"] = str(videos[row["id"]])
            for chunk in _chunks(rows):
                connection.execute(sa.insert(generations), chunk)
            added = _import_annotations(connection, notes)
            connection.execute(sa.update(store_versions).where(store_versions.c.name == "history")
                               .values(version=store_versions.c.version + 1))
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    return Moved(generations=len(rows), already_there=len(there), annotations=added,
                 videos=len(videos), templates=_import_templates(engine, data_dir),
                 storyboards=_copy_storyboards(StoryboardLibrary(data_dir),
                                               DatabaseStoryboards(engine, archive_dir)),
                 budgets=_import_budgets(engine, data_dir))


def _copy_storyboards(source: Storyboards, target: Storyboards) -> int:
    """Copy the storyboards (and logos) `target` lacks, as they were saved; how many."""
    copied = 0
    for board in source.all():
        logo = source.logo_path(board)
        copied += target.keep_as_saved(board, logo.read_bytes() if logo else None)
    return copied


def _import_templates(engine: Engine, data_dir: Path) -> int:
    """Add the folder's templates the team's library lacks; how many."""
    source = LibraryFile(data_dir, lock_timeout=10).readable("imported")
    if not source:
        return 0
    with LibraryRow(engine, data_dir).editing() as records:
        added = [template_id for template_id in source if template_id not in records]
        records.update({template_id: source[template_id] for template_id in added})
    return len(added)


def _import_budgets(engine: Engine, data_dir: Path) -> bool:
    """The folder's budgets, where the team has set none; whether they were copied."""
    folder, team = BudgetFile(data_dir), DatabaseBudgets(engine)
    if not folder.path.exists() or team.load() != Budgets():
        return False
    caps = folder.load()
    team.save(caps)
    return True


def _keep_videos(ids: list[str], data_dir: Path, archive: VideoArchive) -> dict[str, Path]:
    """Copy the folder's videos of the generations being added into the archive (where
    it is another folder); their paths there, by generation id."""
    source = VideoArchive(data_dir)
    kept: dict[str, Path] = {}
    for gen_id in ids:
        if not source.exists(gen_id):
            continue
        if source.directory == archive.directory:
            kept[gen_id] = archive.path_for(gen_id)
        else:
            kept[gen_id] = archive.keep(gen_id, source.path_for(gen_id))
    return kept


def _import_annotations(connection: Connection, notes: pd.DataFrame) -> int:
    """Add the annotation rows the database lacks, then fold each touched generation's
    rows into `annotation_latest` again; how many rows were added."""
    if notes.empty:
        return 0
    a = annotations.c
    rows = [{"gen_id": r["id"], "field": r["field"], "value": r["value"] or "",
             "annotated_at": _time(r["annotated_at"]), "annotated_by": r["annotated_by"] or ""}
            for r in notes.fillna("").to_dict("records")]
    ids = sorted({row["gen_id"] for row in rows})
    seen = set()
    for chunk in _chunks(ids):
        seen.update(tuple(r) for r in connection.execute(
            sa.select(a.gen_id, a.field, a.value, a.annotated_at, a.annotated_by)
            .where(a.gen_id.in_(chunk))))
    key = ("gen_id", "field", "value", "annotated_at", "annotated_by")
    added = [row for row in rows if tuple(row[k] for k in key) not in seen]
    for chunk in _chunks(added):
        connection.execute(sa.insert(annotations), chunk)
    touched = sorted({row["gen_id"] for row in added})
    for chunk in _chunks(touched):
        _fold_latest(connection, chunk)
    return len(added)


def _fold_latest(connection: Connection, ids: list[str]) -> None:
    a = annotations.c
    written = connection.execute(
        sa.select(a.gen_id, a.field, a.value, a.annotated_at, a.annotated_by)
        .where(a.gen_id.in_(ids)).order_by(a.annotated_at.asc().nulls_first(), a.seq)).all()
    log = pd.DataFrame(written, columns=list(ANNOTATION_COLUMNS))
    log["annotated_at"] = [at.isoformat() if at else "" for at in log["annotated_at"]]
    merged = merge_annotations(pd.DataFrame({"id": ids}), latest_annotations(log))
    rows = [{"gen_id": row["id"], **{name: _value(row[name]) for name in _LATEST}}
            for row in merged.to_dict("records")]
    for row in rows:  # the defaults a generation never annotated has, not NULL
        row.update({name: "" for name in ("notes", "tags") if row[name] is None})
        row.setdefault("review_status", "draft")
    upsert = pg_insert(annotation_latest).values(rows)
    connection.execute(upsert.on_conflict_do_update(
        index_elements=[annotation_latest.c.gen_id],
        set_={name: upsert.excluded[name] for name in _LATEST}))


def export_folder(engine: Engine, out_dir: Path, archive: VideoArchive) -> Moved:
    """Write the team's history, annotations and videos as a one-person data folder.
    `ValueError` when `out_dir` holds a history already (nothing is written)."""
    target = HistoryLog(out_dir)
    if target.path.exists() or target.annotations_path.exists():
        raise ValueError(f"{out_dir} already holds a history, so nothing was written: "
                         "export into a new or empty folder")
    into = VideoArchive(out_dir)
    g, a = generations.c, annotations.c
    counts = {"generations": 0, "annotations": 0, "videos": 0}
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with engine.connect().execution_options(
                isolation_level="REPEATABLE READ") as connection, connection.begin():
            with replacing(target.path) as out:
                out.write(encode(HISTORY_COLUMNS, [], header=True))
                result = connection.execution_options(yield_per=_CHUNK).execute(
                    sa.select(generations).order_by(g.created_at.asc().nulls_first(), g.id))
                for rows in result.partitions():
                    batch = [dict(row._mapping) for row in rows]
                    for row in batch:
                        if archive.exists(row["id"]):
                            row["video_path"] = str(into.keep(
                                row["id"], archive.path_for(row["id"])))
                            counts["videos"] += 1
                    out.write(encode(HISTORY_COLUMNS, batch))
                    counts["generations"] += len(batch)
            with replacing(target.annotations_path) as out:
                out.write(encode(ANNOTATION_COLUMNS, [], header=True))
                result = connection.execution_options(yield_per=_CHUNK).execute(
                    sa.select(a.gen_id.label("id"), a.field, a.value, a.annotated_at,
                              a.annotated_by).order_by(a.seq))
                for rows in result.partitions():
                    out.write(encode(ANNOTATION_COLUMNS, [dict(r._mapping) for r in rows]))
                    counts["annotations"] += len(rows)
        records = LibraryRow(engine, out_dir).readable("exported")
        if records:
            write_atomically(Path(out_dir) / "templates.json", versions_to_json(records))
        caps = DatabaseBudgets(engine).load()
        if caps != Budgets():
            BudgetFile(out_dir).save(caps)
        boards = _copy_storyboards(DatabaseStoryboards(engine, out_dir),
                                   StoryboardLibrary(out_dir))
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    except OSError as exc:
        raise HistoryError(f"{out_dir} could not be written ({exc.strerror or exc}).") from exc
    return Moved(**counts, templates=len(records), storyboards=boards,
                 budgets=caps != Budgets())
