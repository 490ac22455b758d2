"""The studio as one person may use it: every change checked against their role, every
request against the budgets, and their name put on what they make.

`Studio.for_person` wraps each store and the job queue in the classes here. A page or a
command only ever holds the wrapped ones, so a viewer's session cannot enqueue, approve or
delete whatever widget or request it crafts: the refusal comes from here, not from a
hidden button. Reads pass through unchanged. The writes that belong to the job queue
itself (a generation's pending row, its outcome, its archived video) are not offered to a
person at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..models import estimate_cost
from .budgets import Budgets, check_fits
from .person import Person
from .roles import Action

if TYPE_CHECKING:
    from ..jobs import Job
    from ..models import GenerationRequest
    from ..stores import BudgetStore, HistoryStore, JobRunner

#: The annotation each field is, as an action a role may take.
ANNOTATION_ACTIONS: dict[str, Action] = {
    "notes": Action.COMMENT,
    "rating": Action.CURATE,
    "tags": Action.CURATE,
    "favourite": Action.CURATE,
    "review_status": Action.REVIEW,
    "hidden": Action.REMOVE,
}


class _Guarded:
    """A store as `person` may use it; reads not named here pass through."""

    #: Methods of the store a person never calls (the job queue's own writes).
    _not_for_people: frozenset[str] = frozenset()

    def __init__(self, inner: Any, person: Person, admins: list[str]) -> None:
        self._inner = inner
        self._person = person
        self._admins = admins

    def __getattr__(self, name: str) -> Any:
        if name in self._not_for_people:
            raise AttributeError(f"{name} is written by the studio itself, not by a person")
        return getattr(self._inner, name)

    def _require(self, action: Action) -> None:
        self._person.require(action, self._admins)


class PersonalQueue(_Guarded):
    """The job queue: creators and above queue generations, within the budgets."""

    def __init__(self, inner: JobRunner, person: Person, admins: list[str], *,
                 history: HistoryStore, budgets: BudgetStore,
                 price_per_second: float) -> None:
        super().__init__(inner, person, admins)
        self._history = history
        self._budgets = budgets
        self._price = price_per_second

    @contextmanager
    def _within_budget(self, requests: list[GenerationRequest], what: str) -> Iterator[None]:
        """Held while the pending rows are written, so a second check sees them."""
        self._require(Action.GENERATE)
        if not self._budgets.load().any:
            yield
            return
        cost = sum(estimate_cost(r.duration, self._price) or 0.0 for r in requests)
        with self._budgets.reserving():
            check_fits(self._budgets.load(), self._history.commitments(),
                       self._person.email, cost, what)
            yield

    def submit(self, request: GenerationRequest, *, owner: str, **fields: Any) -> Job:
        with self._within_budget([request], "this generation"):
            return self._inner.submit(request, owner=owner, created_by=self._person.email,
                                      **fields)

    def submit_many(self, requests: list[GenerationRequest], *, owner: str,
                    **fields: Any) -> list[Job]:
        what = ("this batch" if fields.get("batch_id") else "this generation"
                if len(requests) == 1 else f"these {len(requests)} videos")
        with self._within_budget(list(requests), what):
            return self._inner.submit_many(requests, owner=owner,
                                           created_by=self._person.email, **fields)

    def submit_each(self, items: list[tuple[GenerationRequest, Mapping[str, Any]]], *,
                    owner: str) -> list[Job]:
        with self._within_budget([r for r, _ in items], f"these {len(items)} takes"):
            return self._inner.submit_each(
                [(r, {**f, "created_by": self._person.email}) for r, f in items], owner=owner)

    def retry(self, job_id: str, *, owner: str | None = None,
              possibly_billed_again: bool = False) -> Job:
        old = self._inner.get(job_id)
        if old is None:
            raise KeyError(job_id)
        with self._within_budget([old.request], "this retry"):
            return self._inner.retry(job_id, owner=owner,
                                     possibly_billed_again=possibly_billed_again,
                                     created_by=self._person.email)

    def rerun(self, gen_id: str, *, owner: str, possibly_billed_again: bool = False) -> Job:
        from ..jobs import rerun_request

        row = self._history.get(gen_id)
        if row is None:
            raise KeyError(gen_id)
        with self._within_budget([rerun_request(row)[0]], "this re-run"):
            return self._inner.rerun(gen_id, owner=owner,
                                     possibly_billed_again=possibly_billed_again,
                                     created_by=self._person.email)


class PersonalHistory(_Guarded):
    """The history: anyone reads it and writes notes; rating, reviewing and hiding take
    the roles `ANNOTATION_ACTIONS` names, and every change carries the person's name."""

    _not_for_people = frozenset({"record_pending", "record_success", "record_failure",
                                 "record_video_path", "record_assembled"})

    def annotate(self, gen_ids: str | Iterable[str], **fields: Any) -> None:
        for name in fields:
            action = ANNOTATION_ACTIONS.get(name)
            if action is not None:
                self._require(action)
        self._inner.annotate(gen_ids, by=self._person.email, **fields)


class PersonalTemplates(_Guarded):
    """The template library: creators and above save versions (as their author); only
    admins delete."""

    def create(self, **fields: Any) -> Any:
        self._require(Action.EDIT)
        return self._inner.create(author=self._person.email, **fields)

    def update(self, template_id: str, **fields: Any) -> Any:
        self._require(Action.EDIT)
        return self._inner.update(template_id, author=self._person.email, **fields)

    def duplicate(self, template_id: str, new_name: str | None = None) -> Any:
        self._require(Action.EDIT)
        return self._inner.duplicate(template_id, new_name, author=self._person.email)

    def restore(self, template_id: str, version: int) -> Any:
        self._require(Action.EDIT)
        return self._inner.restore(template_id, version, author=self._person.email)

    def apply_import(self, plan: Any, resolution: Mapping[str, str] | None = None) -> Any:
        self._require(Action.EDIT)
        return self._inner.apply_import(plan, resolution, author=self._person.email)

    def set_aside_damaged(self) -> Any:
        self._require(Action.EDIT)
        return self._inner.set_aside_damaged()

    def restore_backup(self) -> Any:
        self._require(Action.EDIT)
        return self._inner.restore_backup()

    def delete(self, template_id: str) -> None:
        self._require(Action.REMOVE)
        self._inner.delete(template_id)


class PersonalStoryboards(_Guarded):
    """The storyboards: creators and above make and change them, under their name."""

    def create(self, title: str, **fields: Any) -> Any:
        self._require(Action.EDIT)
        return self._inner.create(title, by=self._person.email, **fields)

    def save(self, board: Any) -> Any:
        self._require(Action.EDIT)
        return self._inner.save(board, by=self._person.email)

    def rename(self, board_id: str, title: str) -> Any:
        self._require(Action.EDIT)
        return self._inner.rename(board_id, title, by=self._person.email)

    def duplicate(self, board_id: str) -> Any:
        self._require(Action.EDIT)
        return self._inner.duplicate(board_id, by=self._person.email)

    def delete(self, board_id: str) -> None:
        self._require(Action.EDIT)
        self._inner.delete(board_id)

    def save_logo(self, board_id: str, data: bytes, file_name: str) -> str:
        self._require(Action.EDIT)
        return self._inner.save_logo(board_id, data, file_name)


class PersonalArchive(_Guarded):
    """The video archive: anyone watches; only admins remove a video."""

    _not_for_people = frozenset({"download", "retry_missing"})

    def delete(self, gen_id: str) -> bool:
        self._require(Action.REMOVE)
        return self._inner.delete(gen_id)


class PersonalSpots(_Guarded):
    """Assembly and delivery: creators and above; the spot carries the person's name."""

    def assemble(self, board: Any, takes: Any, **options: Any) -> Any:
        self._require(Action.GENERATE)
        return self._inner.assemble(board, takes, created_by=self._person.email, **options)

    def deliver(self, board: Any, formats: Any) -> Any:
        self._require(Action.GENERATE)
        return self._inner.deliver(board, formats)


class PersonalBudgets(_Guarded):
    """The budgets: everyone sees them; only admins change them."""

    def save(self, budgets: Budgets) -> Budgets:
        self._require(Action.SET_BUDGETS)
        return self._inner.save(Budgets(team_usd=budgets.team_usd,
                                        person_usd=budgets.person_usd,
                                        people=dict(budgets.people),
                                        updated_by=self._person.email))

    def reserving(self) -> Any:
        raise AttributeError("reserving is the job queue's, not a person's")
