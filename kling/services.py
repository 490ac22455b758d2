"""The studio's parts, wired together once per process for the pages and the CLI.

This is the one place that knows about demo mode: with no API key it starts the built-in
simulator on a free loopback port and points the same `KlingClient` at it. Everything
else receives a client and never asks which server is behind it.

It is also the one place that chooses the stores (`kling.stores`): the files in the data
folder, or, where `KLING_DATABASE_URL` names a team database, its history, jobs (run by
`python -m kling worker`), templates, storyboards and budgets, and with
`KLING_VIDEO_STORE` a bucket for the videos. What a person may do with them is
`Studio.for_person` (`kling.people`). Tests and other callers hand in any part they
built themselves (a client against a scripted server, a store in a temporary folder)
and get the rest wired as the studio wires it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .archive import VideoArchive
from .client import KlingClient, RetryPolicy
from .errors import DatabaseError
from .history import HistoryLog
from .jobs import JobQueue
from .models import estimate_cost
from .people import BudgetFile, BudgetStatus, PeopleConfig, Person, local_person, status
from .people.guard import (
    PersonalArchive, PersonalBudgets, PersonalHistory, PersonalQueue, PersonalSpots,
    PersonalStoryboards, PersonalTemplates,
)
from .settings import DEFAULT_BASE_URL, Settings, SettingsError
from .simulator import SimulatorConfig, shared_simulator
from .stores import (
    BudgetStore, HistoryStore, JobRunner, StoryboardStore, TemplateStore, VideoStore,
)
from .storyboards import SpotMaker, StoryboardLibrary
from .templates.library import TemplateLibrary

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .db.worker import Worker

log = logging.getLogger("kling.services")

#: Sent to the simulator, which accepts any bearer token when started without a key.
DEMO_KEY = "kling-studio-demo-key"


@dataclass
class Studio:
    """Everything a page or a command needs, built by `open_studio`."""

    settings: Settings
    demo: bool
    client: KlingClient
    history: HistoryStore
    archive: VideoStore
    templates: TemplateStore
    queue: JobRunner
    storyboards: StoryboardStore
    spots: SpotMaker
    budgets: BudgetStore
    people: PeopleConfig = field(default_factory=PeopleConfig)
    #: Whom this view of the studio acts for (`for_person`); the local user by default.
    person: Person = field(default_factory=local_person)
    #: The team database's connections, when the stores live there.
    database: "Engine | None" = None

    def for_person(self, person: Person) -> "Studio":
        """The studio as `person` may use it: every change checked against their role
        and the budgets, and stamped with their name (`kling.people.guard`)."""
        admins = self.people.roles.admins()
        return dataclasses.replace(
            self, person=person,
            queue=PersonalQueue(self.queue, person, admins, history=self.history,
                                budgets=self.budgets,
                                price_per_second=self.settings.price_per_second),
            history=PersonalHistory(self.history, person, admins),
            archive=PersonalArchive(self.archive, person, admins),
            templates=PersonalTemplates(self.templates, person, admins),
            storyboards=PersonalStoryboards(self.storyboards, person, admins),
            spots=PersonalSpots(self.spots, person, admins),
            budgets=PersonalBudgets(self.budgets, person, admins),
        )

    def budget_status(self) -> BudgetStatus:
        """This person's and the team's budget this month, counting what may be spent."""
        return status(self.budgets.load(), self.history.commitments(), self.person.email)

    def estimate_cost(self, seconds: float, takes: int = 1) -> float:
        """USD estimate for `takes` videos of `seconds` each, at the configured price."""
        return estimate_cost(seconds, self.settings.price_per_second, takes) or 0.0

    def close(self) -> None:
        """Let running jobs finish, then release connections."""
        self.spots.shutdown()
        self.queue.shutdown(wait=True)
        self.client.close()
        if self.database is not None:
            self.database.dispose()


def backend(settings: Settings) -> tuple[str, str]:
    """(base_url, api_key) to talk to: the real API, or the simulator in demo mode."""
    if settings.api_key:
        return settings.base_url, settings.api_key
    if settings.base_url != DEFAULT_BASE_URL:
        # A simulator run as its own service (`python -m kling simulator`), shared by a
        # team's workers and replicas, as `make team` runs it.
        log.info("demo mode: no FIREMOON_API_KEY, using the simulator at %s",
                 settings.base_url)
        return settings.base_url, DEMO_KEY
    config = SimulatorConfig.from_env(settings=settings)
    simulator = shared_simulator(config)
    log.info("demo mode: no FIREMOON_API_KEY, using the built-in simulator at %s",
             simulator.url)
    return simulator.url, config.api_key or DEMO_KEY


def open_database(settings: Settings) -> "Engine | None":
    """The team database `KLING_DATABASE_URL` names, checked to be at this code's schema
    (`DatabaseError` otherwise, saying to run `db upgrade`); None without one."""
    if not settings.database_url:
        return None
    try:
        from . import db
    except ImportError as exc:
        raise DatabaseError(
            "KLING_DATABASE_URL is set, but the team packages are not installed.",
            hint="Install them: .venv/bin/pip install -r requirements-team.txt") from exc
    engine = db.connect(settings.database_url)
    try:
        db.check_current(engine)
    except DatabaseError:
        engine.dispose()
        raise
    return engine


def open_history(settings: Settings, database: "Engine | None") -> HistoryStore:
    """The history the settings name: the team database's, or the data folder's log."""
    if database is None:
        return HistoryLog(settings.data_dir, price_per_second=settings.price_per_second)
    from .db.history import DatabaseHistory

    return DatabaseHistory(database, price_per_second=settings.price_per_second)


def open_archive(settings: Settings) -> VideoArchive:
    """The video archive: the data folder's `videos/`, or a bucket (`KLING_VIDEO_STORE`)
    with that folder as its staging cache."""
    if not settings.video_store:
        return VideoArchive(settings.data_dir)
    from .bucket import BucketArchive

    return BucketArchive(settings.data_dir, settings.video_store)


def open_templates(settings: Settings, database: "Engine | None") -> TemplateLibrary:
    """The template library: in the team database, or the data folder's file."""
    if database is None:
        return TemplateLibrary(settings.data_dir)
    from .db.templates import LibraryRow

    return TemplateLibrary(settings.data_dir, records=LibraryRow(database, settings.data_dir))


def _storyboards(settings: Settings, database: "Engine | None") -> StoryboardStore:
    if database is None:
        return StoryboardLibrary(settings.data_dir)
    from .db.storyboards import DatabaseStoryboards

    return DatabaseStoryboards(database, settings.data_dir)


def _budgets(settings: Settings, database: "Engine | None") -> BudgetStore:
    if database is None:
        return BudgetFile(settings.data_dir)
    from .db.budgets import DatabaseBudgets

    return DatabaseBudgets(database)


def _queue(settings: Settings, database: "Engine | None", client: KlingClient,
           history: HistoryStore, archive: VideoStore) -> JobRunner:
    """Where generations run: in this process, or, with a team database, in its workers
    (`python -m kling worker`), which this studio only queues for."""
    if database is None:
        return JobQueue(client, history, archive, max_concurrency=settings.max_concurrency)
    from .db.history import DatabaseHistory
    from .db.queue import DatabaseQueue

    if not isinstance(history, DatabaseHistory):
        raise TypeError("a team studio's jobs need the team database's history")
    return DatabaseQueue(database, history, max_concurrency=settings.max_concurrency)


def _client(settings: Settings) -> KlingClient:
    """The API client of this process: the real service, or the simulator."""
    base_url, api_key = backend(settings)
    # The queue waits out rate limits itself, visibly, so its client does not.
    return KlingClient(api_key=api_key, base_url=base_url, settings=settings,
                       retry=RetryPolicy(retry_rate_limits=False))


def open_worker(settings: Settings | None = None, *, concurrency: int | None = None
                ) -> "Worker":
    """A worker for the team database's jobs (`python -m kling worker`), wired as the
    studio is: the same client, history and video archive."""
    from .db.history import DatabaseHistory
    from .db.worker import Worker

    settings = settings or Settings.load()
    database = open_database(settings)
    if database is None:
        raise SettingsError("KLING_DATABASE_URL is not set: a worker runs the jobs a team "
                            "studio queued in its database.")
    history = DatabaseHistory(database, price_per_second=settings.price_per_second)
    archive = open_archive(settings)
    catch_up(archive, history)
    return Worker(database, _client(settings), history, archive,
                  concurrency=concurrency or settings.max_concurrency)


def catch_up(archive: VideoStore, history: HistoryStore) -> None:
    """Fetch again, in the background, the videos whose download failed earlier."""
    threading.Thread(target=_retry_downloads, args=(archive, history),
                     name="kling-archive-retry", daemon=True).start()


def _retry_downloads(archive: VideoStore, history: HistoryStore) -> None:
    try:
        archived = archive.retry_missing(history)
    except Exception:  # noqa: BLE001 - a catch-up must never take the studio down
        log.exception("retrying missing video downloads failed")
        return
    if archived:
        log.info("archived %d video(s) whose download had failed before", archived)


def open_studio(
    settings: Settings | None = None,
    *,
    retry_downloads: bool = True,
    jobs_here: bool = False,
    client: KlingClient | None = None,
    history: HistoryStore | None = None,
    archive: VideoStore | None = None,
    templates: TemplateStore | None = None,
) -> Studio:
    """Build the studio's services from the settings (environment, secrets, defaults).

    Any part given is used as it is and the rest is built around it; the job queue is
    always built here, on the client, history and archive in use.
    With `retry_downloads`, videos whose download failed earlier are fetched again in
    the background, once per start, so the archive catches up without anyone waiting
    (by the workers, where they run the jobs).
    With `jobs_here` this process runs its own generations even beside a team database
    (a command that waits for its result), instead of queueing them for the workers.
    """
    settings = settings or Settings.load()
    people = PeopleConfig.load(settings)
    database = open_database(settings)
    if client is None:
        client = _client(settings)
    if history is None:
        history = open_history(settings, database)
    if archive is None:
        archive = open_archive(settings)
    if templates is None:
        templates = open_templates(settings, database)
    queue = _queue(settings, None if jobs_here else database, client, history, archive)
    # Where workers run the jobs, they catch up too: a replica only queues and reads.
    if retry_downloads and isinstance(queue, JobQueue):
        catch_up(archive, history)
    storyboards = _storyboards(settings, database)
    return Studio(
        settings=settings,
        demo=settings.demo,
        client=client,
        history=history,
        archive=archive,
        templates=templates,
        queue=queue,
        storyboards=storyboards,
        spots=SpotMaker(history, archive, storyboards, settings.data_dir),
        budgets=_budgets(settings, database),
        people=people,
        database=database,
    )
