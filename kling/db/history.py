"""`DatabaseHistory`: the generation history of a team, in PostgreSQL.

The same `kling.stores.HistoryStore` as the CSV log (`kling.history.HistoryLog`), and
what one writes the other reads alike: the rows come from `kling.history.changes`, and
the frames it returns have the log's columns, types and order.

* **One transaction per event.** A pending row is inserted (and committed) before the
  request is sent; its outcome updates that row. An annotation is appended to
  `annotations` (the trail) and folded into `annotation_latest` in one transaction, so
  the two never disagree and no rating is lost when several people write at once.
* **Interrupted, decided once.** A pending row whose writer process is gone (this host)
  or that has waited `PENDING_TIMEOUT_S` (another host) is marked `interrupted` in the
  database the first time a reader sees it, so every replica shows it alike. A
  generation run by a worker (`kling.db.queue`) is its job's to decide: a replica that
  queued it may go away while it runs.
* **Asked in SQL.** Filters, search and sort run in the database. What is computed from
  the whole history (the frame, statistics, a month's commitments) is kept until the
  history's change counter (`store_versions`) moves, read in the same snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import date, datetime, timezone, tzinfo
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import HistoryError
from ..history.annotations import annotation_value
from ..history.changes import (
    assembled_row, failure_changes, pending_row, success_changes, video_path_changes,
)
from ..history.frame import PENDING_TIMEOUT_S, local_timezone
from ..history.query import HistoryQuery
from ..history.schema import (
    AUTHOR_COLUMNS, FLOAT_COLUMNS, HISTORY_COLUMNS, INT_COLUMNS,
    ID_PATTERN, TIME_COLUMNS, check_id,
)
from ..history.stats import (
    Commitments, HistoryStats, Spend, compute_stats, month_commitments, spend_by_person_month,
)
from ..history.store import plain_row
from ..history.trail import TrailEvent, trail_of
from ..models import MODEL_NAME, GenerationRequest, GenerationResult
from ..timing import Expectation
from ..storage.process import owner_alive
from .engine import unreachable
from .history_query import (
    JOINED, VISIBLE, favourite, hidden, noted, order_by, review_status, text_pattern, where,
)
from .history_stats import sql_expected, sql_spend, sql_stats, template_table
from .tables import annotation_latest, annotations, generations, jobs, store_versions

log = logging.getLogger("kling.db.history")
T = TypeVar("T")

_NAME = "history"
#: Figures kept for one version of the history (counts of the queries people ask, ...).
_KEPT_AT_MOST = 256
#: Past this many annotated matches, a search asks for them inside the query instead.
_NOTED_AT_MOST = 5_000
g, a = generations.c, annotation_latest.c

#: What a row of the frame is made of, in `HistoryLog.load()`'s column order.
_COLUMNS: dict[str, sa.ColumnElement] = {
    **{name: g[name] for name in HISTORY_COLUMNS},
    "favourite": favourite, "rating": a.rating, "review_status": review_status,
    "notes": a.notes, "tags": a.tags, "hidden": hidden,
    **{name: a[name] for name in AUTHOR_COLUMNS},
}
#: The columns commitments and spend by person are computed from.
_MONEY = ("status", "duration", "cost_usd", "error_type", "created_at", "created_by")


def _typed(rows: list[tuple], names: Iterable[str], tz: tzinfo) -> pd.DataFrame:
    """Database rows as `HistoryLog.load()` types them: nullable `Int64` whole numbers,
    floats, times in `tz`, bools, and text ("" for nothing)."""
    names = list(names)
    columns = list(zip(*rows)) if rows else [()] * len(names)
    frame: dict[str, Any] = {}
    for name, values in zip(names, columns):
        data = np.array(values, dtype=object)
        if name in INT_COLUMNS or name == "rating":
            series = pd.Series(pd.array(data, dtype="Int64"))
        elif name in FLOAT_COLUMNS:
            series = pd.Series(pd.to_numeric(data, errors="coerce"), dtype="float64")
        elif name in TIME_COLUMNS or name == "reviewed_at":
            series = (pd.to_datetime(pd.Series(data, dtype=object), utc=True)
                      .dt.tz_convert(tz).dt.as_unit("us"))
        elif name in ("favourite", "hidden"):
            series = pd.Series(data.astype(bool), dtype=bool)
        else:
            series = pd.Series(np.where(pd.isna(data), "", data), dtype=object)
        frame[name] = series
    return pd.DataFrame(frame, copy=False)


def _stored(row: Mapping[str, Any]) -> dict[str, Any]:
    """A history row with its times as the database takes them."""
    stored = dict(row)
    for name in TIME_COLUMNS:
        if isinstance(stored.get(name), str):
            stored[name] = datetime.fromisoformat(stored[name])
    return stored


class DatabaseHistory:
    """The generation log in the team database. Safe to share between threads."""

    def __init__(self, engine: Engine, *, price_per_second: float = 0.28) -> None:
        self.engine = engine
        self.price_per_second = float(price_per_second)
        self._lock = threading.RLock()
        self._version: int | None = None
        self._computed: dict[Hashable, Any] = {}
        self._dead_owners: set[str] = set()

    # -- writing ------------------------------------------------------------------------
    def _write(self, change: Callable[[Connection], T]) -> T:
        """`change` in one transaction that also moves the history's change counter."""
        try:
            with self.engine.begin() as connection:
                done = change(connection)
                connection.execute(
                    sa.update(store_versions).where(store_versions.c.name == _NAME)
                    .values(version=store_versions.c.version + 1))
                return done
        except SQLAlchemyError as exc:
            raise HistoryError(
                f"The generation history could not be written: "
                f"{unreachable(self.engine, exc)}") from exc

    def record_pending(self, request: GenerationRequest, *, gen_id: str | None = None,
                       along: Callable[[Connection, str], None] | None = None,
                       **fields: Any) -> str:
        """Record a generation about to be sent (committed before sending); its id.
        `along(connection, id)` writes in the same transaction (its job, say)."""
        row = pending_row(request, price_per_second=self.price_per_second, gen_id=gen_id,
                          **fields)

        def change(connection: Connection) -> None:
            connection.execute(sa.insert(generations).values(_stored(row)))
            if along is not None:
                along(connection, row["id"])

        self._write(change)
        return row["id"]

    def record_assembled(self, **fields: Any) -> str:
        """Record a spot assembled from a storyboard's picked takes; its id."""
        row = assembled_row(**fields)
        self._write(lambda c: c.execute(sa.insert(generations).values(_stored(row))))
        return row["id"]

    def _update(self, gen_id: str, changes: Callable[[Any], dict[str, Any]], *,
                create: bool) -> None:
        """Apply `changes(duration)` to one generation's row; a generation with no row
        gets one when `create` (its outcome is never dropped)."""
        check_id(gen_id)

        def change(connection: Connection) -> None:
            duration = connection.execute(
                sa.select(g.duration).where(g.id == gen_id).with_for_update()).first()
            if duration is not None:
                connection.execute(sa.update(generations).where(g.id == gen_id)
                                   .values(_stored(changes(duration[0]))))
            elif create:
                log.warning("history has no row for %s; recording its outcome alone", gen_id)
                row = {"id": gen_id, "created_at": datetime.now(timezone.utc),
                       "model": MODEL_NAME, **changes(None)}
                connection.execute(sa.insert(generations).values(_stored(row)))

        self._write(change)

    def record_success(self, gen_id: str, result: GenerationResult, *, elapsed_s: float,
                       video_path: str | None = None) -> None:
        """Record that the video was made."""
        self._update(gen_id, lambda duration: success_changes(
            duration, result, elapsed_s=elapsed_s, video_path=video_path,
            price_per_second=self.price_per_second), create=True)

    def record_failure(self, gen_id: str, error: BaseException, *, elapsed_s: float) -> None:
        """Record that the generation failed, with the plain-language reason."""
        self._update(gen_id, lambda duration: failure_changes(
            duration, error, elapsed_s=elapsed_s, price_per_second=self.price_per_second),
            create=True)

    def record_video_path(self, gen_id: str, video_path: str | None, *,
                          archive_error: str | None = None) -> None:
        """Record where the video was archived, or why it could not be."""
        self._update(gen_id, lambda _: video_path_changes(video_path, archive_error),
                     create=False)

    def annotate(self, gen_ids: str | Iterable[str], *, by: str = "", **fields: Any) -> None:
        """Set annotations of one or several generations in one transaction, `by`
        someone (fields and checks as `HistoryLog.annotate`)."""
        ids = [gen_ids] if isinstance(gen_ids, str) else list(gen_ids)
        for gen_id in ids:
            check_id(gen_id)
        values = {name: annotation_value(name, value) for name, value in fields.items()}
        if not ids or not values:
            return
        now = datetime.now(timezone.utc)
        latest: dict[str, Any] = {}
        for name, text in values.items():
            if name in ("favourite", "hidden"):
                latest[name] = text == "true"
            elif name == "rating":
                latest[name] = int(text) if text else None
            else:
                latest[name] = text
        if "review_status" in values:
            latest.update(reviewed_by=by, reviewed_at=now)
        if "notes" in values:
            latest["notes_by"] = by
        upsert = pg_insert(annotation_latest).values(
            [{"gen_id": gen_id, **latest} for gen_id in ids])
        upsert = upsert.on_conflict_do_update(
            index_elements=[a.gen_id], set_={name: upsert.excluded[name] for name in latest})

        def change(connection: Connection) -> None:
            connection.execute(sa.insert(annotations), [
                {"gen_id": gen_id, "field": name, "value": text, "annotated_at": now,
                 "annotated_by": by}
                for gen_id in ids for name, text in values.items()])
            connection.execute(upsert)

        self._write(change)

    # -- reading ------------------------------------------------------------------------
    def _read(self, read: Callable[[Connection], T]) -> T:
        """`read` in one snapshot, after marking dead writers' pending rows interrupted."""
        self._mark_interrupted()
        try:
            with self.engine.connect().execution_options(
                    isolation_level="REPEATABLE READ") as connection, connection.begin():
                return read(connection)
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc

    def _mark_interrupted(self) -> None:
        try:
            with self.engine.connect() as connection:
                pending = connection.execute(
                    sa.select(g.id, g.owner, g.created_at).where(
                        g.status == "pending",
                        ~sa.exists().where(jobs.c.id == g.id))).all()
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from exc
        now = datetime.now(timezone.utc)
        dead = []
        for gen_id, owner, created in pending:
            alive = False if owner in self._dead_owners else owner_alive(owner or "")
            if alive is False:
                self._dead_owners.add(owner)
            late = created is None or (now - created).total_seconds() >= PENDING_TIMEOUT_S
            if alive is False or (alive is None and late):
                dead.append(gen_id)
        if dead:
            # Only rows still pending: an outcome that arrived meanwhile stays.
            self._write(lambda c: c.execute(
                sa.update(generations).where(g.id.in_(dead), g.status == "pending")
                .values(status="interrupted")))

    def _computed_once(self, key: Hashable, compute: Callable[[Connection], T]) -> T:
        """`compute` of the history as it is now, kept until the history changes."""
        def read(connection: Connection) -> T:
            version = connection.execute(sa.select(store_versions.c.version).where(
                store_versions.c.name == _NAME)).scalar_one()
            with self._lock:
                if version != self._version or len(self._computed) > _KEPT_AT_MOST:
                    self._version, self._computed = version, {}
                if key not in self._computed:
                    self._computed[key] = compute(connection)
                return self._computed[key]

        return self._read(read)

    def _frame(self, connection: Connection, names: Iterable[str] = tuple(_COLUMNS),
               conditions: Iterable[sa.ColumnElement[bool]] = (),
               order: Iterable[sa.ColumnElement] = (), *, offset: int = 0,
               limit: int | None = None) -> pd.DataFrame:
        names = list(names)
        statement = (sa.select(*(_COLUMNS[name].label(name) for name in names))
                     .select_from(JOINED).where(*conditions).order_by(*order)
                     .offset(offset or None).limit(limit))
        return _typed(connection.execute(statement).all(), names, local_timezone())

    def load(self) -> pd.DataFrame:
        """One row per generation, newest first, annotations merged (as `HistoryLog.load`);
        kept while nothing changed, and a copy-on-write view of what is kept."""
        newest = order_by(HistoryQuery())
        frame = self._computed_once(
            "load", lambda connection: self._frame(connection, order=newest))
        return frame.copy(deep=False)

    def get(self, gen_id: str) -> dict[str, Any] | None:
        """Everything about one generation, as plain Python values; None if unknown
        (an id from a link may be anything)."""
        if not isinstance(gen_id, str) or not ID_PATTERN.fullmatch(gen_id):
            return None
        frame = self._read(lambda c: self._frame(c, conditions=[g.id == gen_id]))
        return plain_row(frame.iloc[0]) if len(frame) else None

    def query(self, q: HistoryQuery | None = None) -> pd.DataFrame:
        """The generations matching `q` (default: everything visible), in its sort order."""
        q = q or HistoryQuery()
        return self._read(lambda c: self._frame(c, conditions=self._where(c, q),
                                                order=order_by(q)))

    @staticmethod
    def _where(connection: Connection, q: HistoryQuery) -> list[sa.ColumnElement[bool]]:
        """`where(q)`, the few ids whose notes or tags match asked first, so that both
        text indexes serve a search."""
        pattern = text_pattern(q)
        ids = None
        if pattern:
            found = connection.execute(noted(pattern).limit(_NOTED_AT_MOST + 1)).scalars()
            ids = list(found)
            ids = ids if len(ids) <= _NOTED_AT_MOST else None
        return where(q, local_timezone(), ids)

    def count(self, q: HistoryQuery | None = None, *, at_most: int | None = None) -> int:
        """How many generations match `q` (default: everything visible); past `at_most`,
        `at_most + 1`, found without reading the rest of the matches."""
        q = q or HistoryQuery()

        def count(connection: Connection) -> int:
            matches = sa.select(generations.c.id).where(*self._where(connection, q))
            if at_most is not None:
                matches = matches.limit(at_most + 1)
            return int(connection.execute(
                sa.select(sa.func.count()).select_from(matches.subquery())).scalar_one())

        return self._computed_once(("count", q, at_most), count)

    def page(self, q: HistoryQuery, offset: int, limit: int) -> pd.DataFrame:
        """`limit` generations matching `q` from the `offset`-th on, in its sort order:
        only they are read."""
        return self._read(lambda c: self._frame(c, conditions=self._where(c, q),
                                                order=order_by(q), offset=offset,
                                                limit=limit))

    def template_stats(self) -> pd.DataFrame:
        """Per template: uses, success rate, average rating, last use, of every
        generation; aggregated in SQL."""
        return self._read(lambda c: template_table(c, [], local_timezone()))

    def template_ids(self) -> list[str]:
        """The template ids generations were made from, sorted."""
        return self._read(lambda c: list(c.execute(
            sa.select(g.template_id).distinct().where(g.template_id != "")
            .order_by(g.template_id)).scalars()))

    def stats(self, df: pd.DataFrame | None = None, *, query: HistoryQuery | None = None,
              today: date | None = None) -> HistoryStats:
        """Statistics of `df`, or of what `query` matches, aggregated in SQL (default:
        every visible generation; kept while unchanged)."""
        if df is not None:
            return compute_stats(df, self.price_per_second, today=today)
        tz = local_timezone()
        day = today or datetime.now(tz).date()
        if query is not None and not query.unfiltered:
            return self._read(lambda c: sql_stats(c, where(query, tz), self.price_per_second,
                                                  day, tz))
        return self._computed_once(("stats", day), lambda c: sql_stats(
            c, [VISIBLE], self.price_per_second, day, tz))

    def spend(self, today: date | None = None) -> Spend:
        """Confirmed spend today and this month, possibly billed apart, of the visible
        generations; kept while unchanged."""
        tz = local_timezone()
        day = today or datetime.now(tz).date()
        return self._computed_once(("spend", day), lambda c: sql_spend(
            c, [VISIBLE], self.price_per_second, day, tz))

    def expected_times(self) -> dict[str, Expectation]:
        """Measured inference times per duration; kept while unchanged."""
        return self._computed_once("expected", lambda c: sql_expected(c, [VISIBLE]))

    def people(self) -> list[str]:
        """Everyone a generation names as its maker (`created_by`), sorted."""
        maker = sa.func.trim(g.created_by)
        names = self._read(lambda c: c.execute(
            sa.select(maker).distinct().where(maker != "")).scalars().all())
        return sorted(names, key=str.casefold)

    def commitments(self, month: date | None = None) -> Commitments:
        """What this month's (or `month`'s) generations spent or may still cost, in all
        and by person; kept while unchanged. Hidden ones count, as in the log."""
        tz = local_timezone()
        month = month or datetime.now(tz).date()
        start = datetime(month.year, month.month, 1, tzinfo=tz)
        end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=tz)
        inside = [g.created_at >= start, g.created_at < end]
        return self._computed_once(("commitments", month.year, month.month), lambda c:
                                   month_commitments(self._frame(c, _MONEY, inside),
                                                     self.price_per_second, month))

    def spend_by_person_month(self, df: pd.DataFrame | None = None, *,
                              query: HistoryQuery | None = None) -> pd.DataFrame:
        """Generations, spend and possibly billed estimate per month and person, of `df`
        or of what `query` matches (default: every visible generation)."""
        if df is None:
            conditions = where(query or HistoryQuery(), local_timezone())
            df = self._read(lambda c: self._frame(c, _MONEY, conditions))
        return spend_by_person_month(df, self.price_per_second)

    def trail(self, gen_id: str) -> list[TrailEvent]:
        """Who did what to one generation and when, oldest first; [] if unknown."""
        row = self.get(check_id(gen_id))
        if row is None:
            return []
        rows = self._read(lambda c: c.execute(
            sa.select(annotations.c.field, annotations.c.value, annotations.c.annotated_at,
                      annotations.c.annotated_by)
            .where(annotations.c.gen_id == gen_id).order_by(annotations.c.seq)).all())
        table = pd.DataFrame(rows, columns=["field", "value", "annotated_at", "annotated_by"])
        table["annotated_at"] = pd.to_datetime(table["annotated_at"], utc=True)
        return trail_of(row, table, local_timezone())
