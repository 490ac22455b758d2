"""The kinds of state the studio keeps, each as a small interface.

The pages, the command line and the job queue talk to these protocols, never to a file
or a database directly, so that a second backend (PostgreSQL, a bucket, worker
processes) can stand where today's files stand. The file-backed implementations are
`kling.history.HistoryLog`, `kling.templates.TemplateLibrary`, `kling.archive.VideoArchive`,
`kling.storyboards.StoryboardLibrary`, `kling.people.BudgetFile` and `kling.jobs.JobQueue`;
the team's are in `kling.db` (`DatabaseHistory`, `DatabaseQueue`).
`kling.services.open_studio` builds them from the settings and takes any of them as an
override.

Each protocol names only what the rest of the studio calls; an implementation may offer
more (the file log's damage reports, for instance) to the code that built it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from .history import Commitments, HistoryQuery, HistoryStats, TrailEvent
    from .history.stats import Spend
    from .timing import Expectation
    from .people.budgets import Budgets
    from .jobs import Job
    from .models import GenerationRequest, GenerationResult, RateLimit
    from .storyboards.model import Storyboard
    from .templates import ImportPlan, Template


class GenerationClient(Protocol):
    """What the job queue needs of an API client."""

    def generate(self, *, request: GenerationRequest) -> GenerationResult: ...

    @property
    def last_rate_limit(self) -> RateLimit | None: ...


class HistoryWriter(Protocol):
    """The writes of a generation's life: pending before sending, then its outcome."""

    def record_pending(self, request: GenerationRequest, *, created_by: str | None = None,
                       **fields: Any) -> str: ...

    def record_success(self, gen_id: str, result: GenerationResult, *, elapsed_s: float,
                       video_path: str | None = None) -> None: ...

    def record_failure(self, gen_id: str, error: BaseException, *, elapsed_s: float) -> None: ...

    def record_video_path(self, gen_id: str, video_path: str | None, *,
                          archive_error: str | None = None) -> None: ...


class HistoryStore(HistoryWriter, Protocol):
    """Every generation ever made, its annotations, and what is read from them."""

    def annotate(self, gen_ids: str | Iterable[str], *, by: str | None = None,
                 **fields: Any) -> None: ...

    def load(self) -> pd.DataFrame: ...

    def get(self, gen_id: str) -> dict[str, Any] | None: ...

    def query(self, q: HistoryQuery | None = None) -> pd.DataFrame: ...

    def count(self, q: HistoryQuery | None = None, *, at_most: int | None = None) -> int: ...

    def page(self, q: HistoryQuery, offset: int, limit: int) -> pd.DataFrame: ...

    def template_ids(self) -> list[str]: ...

    def template_stats(self) -> pd.DataFrame: ...

    def stats(self, df: pd.DataFrame | None = None, *,
              query: HistoryQuery | None = None) -> HistoryStats: ...

    def spend_by_person_month(self, df: pd.DataFrame | None = None, *,
                              query: HistoryQuery | None = None) -> pd.DataFrame: ...

    def spend(self) -> Spend: ...

    def expected_times(self) -> Mapping[str, Expectation]: ...

    def people(self) -> list[str]: ...

    def trail(self, gen_id: str) -> list[TrailEvent]: ...

    def commitments(self, month: Any = None) -> Commitments: ...

    def record_assembled(self, *, gen_id: str, title: str, aspect_ratio: str, seconds: float,
                         width: int, height: int, video_path: str, storyboard_id: str,
                         elapsed_s: float, created_by: str | None = None) -> str: ...


class Archiver(Protocol):
    """What the job queue needs of the video store: keep a copy of a finished video."""

    def download(self, gen_id: str, url: str) -> Path: ...

    def keep(self, gen_id: str, source: Path) -> Path: ...


class VideoStore(Archiver, Protocol):
    """The studio's own copy of every video, by generation id."""

    def path_for(self, gen_id: str) -> Path: ...

    def url_for(self, gen_id: str, *, download_name: str | None = None) -> str | None: ...

    def exists(self, gen_id: str) -> bool: ...

    def delete(self, gen_id: str) -> bool: ...

    def retry_missing(self, history: HistoryStore, limit: int = 20) -> int: ...


class TemplateStore(Protocol):
    """The prompt-template library: built-ins, the team's own, and their versions."""

    def all(self) -> list[Template]: ...

    def builtins(self) -> list[Template]: ...

    def get(self, template_id: str) -> Template: ...

    def versions(self, template_id: str) -> list[Template]: ...

    def create(self, *, author: str = "", **fields: Any) -> Template: ...

    def update(self, template_id: str, *, author: str = "", **fields: Any) -> Template: ...

    def delete(self, template_id: str) -> None: ...

    def restore(self, template_id: str, version: int, *, author: str = "") -> Template: ...

    def export_json(self, ids: Iterable[str] | None = None) -> bytes: ...

    def preview_import(self, data: bytes | str) -> ImportPlan: ...

    def validate(self, fields: Mapping[str, Any],
                 template_id: str | None = None) -> dict[str, str]: ...


class StoryboardStore(Protocol):
    """The storyboards: each saved whole, listed newest first, with its end-card logo."""

    def all(self) -> list[Storyboard]: ...

    def damaged(self) -> list[str]: ...

    def get(self, board_id: str) -> Storyboard: ...

    def save(self, board: Storyboard, *, by: str = "") -> Storyboard: ...

    def create(self, title: str, *, aspect_ratio: str = "16:9", style: str = "",
               by: str = "") -> Storyboard: ...

    def rename(self, board_id: str, title: str, *, by: str = "") -> Storyboard: ...

    def duplicate(self, board_id: str, *, by: str = "") -> Storyboard: ...

    def delete(self, board_id: str) -> None: ...

    def save_logo(self, board_id: str, data: bytes, file_name: str) -> str: ...

    def logo_path(self, board: Storyboard) -> Path | None: ...


class JobRunner(Protocol):
    """Where generations wait and run; a person follows their own jobs by `owner`."""

    max_concurrency: int

    def submit(self, request: GenerationRequest, *, owner: str, **fields: Any) -> Job: ...

    def submit_many(self, requests: list[GenerationRequest], *, owner: str,
                    **fields: Any) -> list[Job]: ...

    def submit_each(self, items: list[tuple[GenerationRequest, Mapping[str, Any]]], *,
                    owner: str) -> list[Job]: ...

    def retry(self, job_id: str, *, owner: str | None = None,
              possibly_billed_again: bool = False, created_by: str | None = None) -> Job: ...

    def rerun(self, gen_id: str, *, owner: str, possibly_billed_again: bool = False,
              created_by: str | None = None) -> Job: ...

    def get(self, job_id: str) -> Job | None: ...

    def jobs(self, owner: str | None = None) -> list[Job]: ...

    def wait(self, job_ids: list[str], timeout: float | None = None) -> list[Job]: ...

    def active_count(self, owner: str | None = None) -> int: ...

    def worker_notice(self) -> str | None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class BudgetStore(Protocol):
    """The monthly caps (`kling.people.budgets`), and the lock that makes a budget check
    and the pending rows it lets through one step."""

    def load(self) -> Budgets: ...

    def save(self, budgets: Budgets) -> Budgets: ...

    def reserving(self) -> AbstractContextManager[None]: ...
