"""A `HistoryQuery` in SQL: the History page's filters, search and sort orders, asked of
`generations` joined to `annotation_latest`, with the answers `apply_query` gives the
CSV log's frame.

Text search is a case-insensitive substring test over prompts, notes, tags and ids: a
`LIKE '%...%'` whose `%`, `_` and backslash are escaped (a person's `%` is only a character),
over the same expressions the trigram indexes of migration 0005 hold, so a search of
a million generations reads only the rows that may match. A generation never
annotated has no `annotation_latest` row, so every annotation is read with its default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from ..billing import UNKNOWN_OUTCOME
from ..history.query import POSSIBLY_BILLED_STATUS, HistoryQuery
from ..history.schema import REVIEW_STATUSES
from .tables import annotation_latest, generations

g, a = generations.c, annotation_latest.c

#: The searched text of each table, exactly as the indexes of migration 0005 hold it.
PROMPT_TEXT = sa.literal_column("lower(coalesce(generations.prompt, '') || chr(31) || "
                                "generations.id)")
NOTES_TEXT = sa.literal_column("lower(annotation_latest.notes || chr(31) || "
                               "annotation_latest.tags)")
_LIKE_SPECIAL = re.compile(r"[\\%_]")

#: Both tables as one: every generation, with its annotations where it has any.
JOINED = generations.outerjoin(annotation_latest, a.gen_id == g.id)

favourite = sa.func.coalesce(a.favourite, sa.false())
hidden = sa.func.coalesce(a.hidden, sa.false())
review_status = sa.func.coalesce(a.review_status, "draft")


def _day_start(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _annotated(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Generations whose latest annotations meet `condition` (a never annotated one has
    none): a semi-join the planner runs once, so the generations need no join to be
    filtered, counted or walked in the order of an index."""
    return g.id.in_(sa.select(a.gen_id).where(condition))


#: Not removed from view.
VISIBLE = sa.not_(_annotated(a.hidden))


def text_pattern(q: HistoryQuery) -> str | None:
    """The `LIKE` pattern of `q`'s search text (its `%`, `_` and backslash escaped)."""
    needle = q.text.strip().lower()
    return "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", needle) + "%" if needle else None


def noted(pattern: str) -> sa.Select:
    """The generations whose notes or tags hold the search text."""
    return sa.select(a.gen_id).where(NOTES_TEXT.like(pattern))


def where(q: HistoryQuery, tz: tzinfo, notes_match: Sequence[str] | None = None
          ) -> list[ColumnElement[bool]]:
    """The conditions a generation meets to match `q` (days in `tz`); they name the
    columns of `generations` alone. `notes_match`, the ids `noted` gives when the
    caller asked first, lets the planner combine both text indexes."""
    conditions: list[ColumnElement[bool]] = []
    if not q.include_hidden:
        conditions.append(VISIBLE)
    pattern = text_pattern(q)
    if pattern:
        in_notes = (g.id.in_(noted(pattern)) if notes_match is None
                    else g.id.in_(notes_match) if notes_match else sa.false())
        conditions.append(sa.or_(PROMPT_TEXT.like(pattern), in_notes))
    if q.statuses:
        status = g.status.in_(q.statuses)
        if POSSIBLY_BILLED_STATUS in q.statuses:  # `kling.billing`'s rule, in SQL
            status = sa.or_(status, g.status == "interrupted", sa.and_(
                g.status == "failed", g.error_type == UNKNOWN_OUTCOME))
        conditions.append(status)
    for column, wanted in ((g.aspect_ratio, q.aspect_ratios), (g.duration, q.durations),
                           (g.template_id, q.template_ids), (g.storyboard_id, q.storyboards)):
        if wanted:
            conditions.append(column.in_(wanted))
    if q.review_statuses:
        others = tuple(r for r in REVIEW_STATUSES if r not in q.review_statuses)
        # "draft" is also every generation never reviewed.
        conditions.append(sa.not_(_annotated(a.review_status.in_(others)))
                          if "draft" in q.review_statuses
                          else _annotated(a.review_status.in_(q.review_statuses)))
    if q.people:
        maker = sa.func.lower(sa.func.trim(g.created_by))
        conditions.append(maker.in_([person.strip().lower() for person in q.people]))
    if q.date_from is not None:
        conditions.append(g.created_at >= _day_start(q.date_from, tz))
    if q.date_to is not None:
        conditions.append(g.created_at < _day_start(q.date_to + timedelta(days=1), tz))
    if q.favourites_only:
        conditions.append(_annotated(a.favourite))
    if q.min_rating is not None:
        conditions.append(_annotated(a.rating >= q.min_rating))
    return conditions


#: Newest first; among equal times the later id (ids sort by time); unknown times last
#: (the order of the index `generations_newest`).
_NEWEST = (g.created_at.desc().nulls_last(), g.id.desc())


def order_by(q: HistoryQuery) -> tuple[ColumnElement, ...]:
    """`q`'s sort order; ties keep the newest first, as the log's stable sorts do."""
    if q.sort == "oldest":
        return (g.created_at.asc().nulls_first(), g.id.asc())
    if q.sort == "inference_fast":
        return (g.inference_s.asc().nulls_last(), *_NEWEST)
    if q.sort == "inference_slow":
        return (g.inference_s.desc().nulls_last(), *_NEWEST)
    if q.sort == "rating":
        return (a.rating.desc().nulls_last(), *_NEWEST)
    return _NEWEST
