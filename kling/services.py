"""The studio's parts, wired together once per process for the pages and the CLI.

This is the one place that knows about demo mode: with no API key it starts the built-in
simulator on a free loopback port and points the same `KlingClient` at it. Everything
else receives a client and never asks which server is behind it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .archive import VideoArchive
from .client import KlingClient, RetryPolicy
from .history import HistoryLog
from .jobs import JobQueue
from .settings import Settings
from .simulator import SimulatorConfig, shared_simulator
from .templates.library import TemplateLibrary

log = logging.getLogger("kling.services")

#: Sent to the simulator, which accepts any bearer token when started without a key.
DEMO_KEY = "kling-studio-demo-key"


@dataclass
class Studio:
    """Everything a page or a command needs, built by `open_studio`."""

    settings: Settings
    demo: bool
    client: KlingClient
    history: HistoryLog
    archive: VideoArchive
    templates: TemplateLibrary
    queue: JobQueue

    def close(self) -> None:
        """Let running jobs finish, then release connections."""
        self.queue.shutdown(wait=True)
        self.client.close()


def backend(settings: Settings) -> tuple[str, str]:
    """(base_url, api_key) to talk to: the real API, or the simulator in demo mode."""
    if settings.api_key:
        return settings.base_url, settings.api_key
    config = SimulatorConfig.from_env(settings=settings)
    simulator = shared_simulator(config)
    log.info("demo mode: no FIREMOON_API_KEY, using the built-in simulator at %s",
             simulator.url)
    return simulator.url, config.api_key or DEMO_KEY


def _retry_downloads(archive: VideoArchive, history: HistoryLog) -> None:
    try:
        archived = archive.retry_missing(history)
    except Exception:  # noqa: BLE001 - a catch-up must never take the studio down
        log.exception("retrying missing video downloads failed")
        return
    if archived:
        log.info("archived %d video(s) whose download had failed before", archived)


def open_studio(settings: Settings | None = None, *, retry_downloads: bool = True) -> Studio:
    """Build the studio's services from the settings (environment, secrets, defaults).

    With `retry_downloads`, videos whose download failed earlier are fetched again in
    the background, once per start, so the archive catches up without anyone waiting.
    """
    settings = settings or Settings.load()
    base_url, api_key = backend(settings)
    # The queue waits out rate limits itself, visibly, so its client does not.
    client = KlingClient(api_key=api_key, base_url=base_url, settings=settings,
                         retry=RetryPolicy(retry_rate_limits=False))
    history = HistoryLog(settings.data_dir, price_per_second=settings.price_per_second)
    archive = VideoArchive(settings.data_dir)
    queue = JobQueue(client, history, archive, max_concurrency=settings.max_concurrency)
    if retry_downloads:
        threading.Thread(target=_retry_downloads, args=(archive, history),
                         name="kling-archive-retry", daemon=True).start()
    return Studio(
        settings=settings,
        demo=settings.demo,
        client=client,
        history=history,
        archive=archive,
        templates=TemplateLibrary(settings.data_dir),
        queue=queue,
    )
