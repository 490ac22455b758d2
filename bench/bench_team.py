"""The team deployment measured, each figure beside a baseline of the same run:

(a) the History page (AppTest, a new session opening it with nothing cached, then a
    search) on PostgreSQL with 100,000 and 1,000,000 generations, beside the CSV store
    with 100,000 (goal: the 1,000,000-row page within 2x of the CSV page);
(b) enqueue-to-start latency, from `submit` to the worker's claim, through the database
    queue beside the in-process queue (reported; goal: under half a second);
(c) the memory of a `streamlit run` replica with 10 sessions open on History at
    1,000,000 rows in PostgreSQL, beside the same with the CSV store at 100,000 rows.

The databases live in a throwaway cluster (`kling.db.cluster`); the generations are the
CSV benchmark's synthetic rows (`bench.bench_history.synthetic_rows`), written with COPY.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from bench.bench_history import synthetic_rows, write_synthetic_log
from bench.bench_history_page import timed_run
from bench.bench_load import Server, free_port
from bench.common import Figure, isolated_settings, table
from bench.session_client import LightSession
from kling import db
from kling.db.cluster import LocalCluster
from kling.db.history import DatabaseHistory
from kling.db.queue import DatabaseQueue
from kling.db.worker import Worker
from kling.history import HISTORY_COLUMNS, HistoryLog
from kling.jobs import JobQueue
from kling.models import GenerationRequest
from kling.client import KlingClient, RetryPolicy
from kling.simulator import SimulatorConfig
from kling.simulator.server import Simulator

ROOT = Path(__file__).resolve().parents[1]
CSV_ROWS, MILLION = 100_000, 1_000_000
_CHUNK = 100_000
SESSIONS = 10
STARTS = 20


def fill(url: str, count: int) -> None:
    """`count` synthetic generations, copied in chunks (ids made unique per chunk)."""
    import psycopg

    columns = ", ".join(HISTORY_COLUMNS)
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        with connection.cursor() as cursor:
            for chunk in range(-(-count // _CHUNK)):
                rows = synthetic_rows(min(_CHUNK, count - chunk * _CHUNK), seed=chunk)
                with cursor.copy(f"COPY generations ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        row["id"] = f"{row['id']}-{chunk}"
                        copy.write_row([row.get(name) for name in HISTORY_COLUMNS])
        connection.execute("ANALYZE")
        connection.execute("update store_versions set version = version + 1")


def _database(cluster: LocalCluster, count: int) -> str:
    url = cluster.create_database()
    engine = db.connect(url)
    db.upgrade(engine)
    engine.dispose()
    fill(url, count)
    return url


def _page(settings: dict[str, str], touch) -> dict[str, float]:
    """A new session opens History (after `touch()` made every cache stale), then
    searches."""
    with isolated_settings(KLING_SIM_LATENCY="0", **settings):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        at.switch_page("pages/history.py")
        touch()
        first = timed_run(at)
        at.text_input(key="q").set_value("fox")
        search = timed_run(at)
        assert any("generations match" in m.value for m in at.markdown)
    return {"first": first, "search": search}


def _touch_database(url: str):
    def touch() -> None:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("update store_versions set version = version + 1"))
        engine.dispose()
    return touch


def _touch_file(data_dir: Path):
    def touch() -> None:
        now = time.time_ns()
        os.utime(data_dir / "history.csv", ns=(now, now))
    return touch


def _starts_in_process(sim: Simulator, folder: Path) -> float:
    client = KlingClient(api_key="demo", base_url=sim.url, retry=RetryPolicy.none())
    queue = JobQueue(client, HistoryLog(folder), None, max_concurrency=1)
    waits = []
    for n in range(STARTS):
        job = queue.submit(GenerationRequest.create("A kite, drone shot", "5", "16:9", n),
                           owner="bench")
        (job,) = queue.wait([job.id], timeout=60)
        waits.append(job.started_at - job.submitted_at)
    queue.shutdown()
    return statistics.median(waits)


def _starts_through_database(sim: Simulator, url: str) -> float:
    engine = db.connect(url)
    history = DatabaseHistory(engine)
    queue = DatabaseQueue(engine, history)
    client = KlingClient(api_key="demo", base_url=sim.url,
                         retry=RetryPolicy(retry_rate_limits=False))
    worker = Worker(engine, client, history, None, concurrency=1)
    running = threading.Thread(target=worker.run)
    running.start()
    waits = []
    try:
        for n in range(STARTS):
            job = queue.submit(GenerationRequest.create("A kite, drone shot", "5", "16:9", n),
                               owner="bench")
            (job,) = queue.wait([job.id], timeout=60)
            waits.append(job.started_at - job.submitted_at)
    finally:
        worker.stop()
        running.join()
        engine.dispose()
    return statistics.median(waits)


def _replica_memory(data_dir: Path, env: dict[str, str]) -> float:
    """RSS (MB) of a replica once `SESSIONS` sessions have each rendered History."""
    server = Server(data_dir, env)
    try:
        async def open_all() -> None:
            sessions = [LightSession(server.ws_url, "history") for _ in range(SESSIONS)]
            for session in sessions:  # one after another: each renders the whole page
                await session.open(timeout=300)
            for session in sessions:
                await session.close()

        asyncio.run(open_all())
        return server.rss_mb()
    finally:
        server.stop()


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="kling-bench-team-") as tmp:
        root = Path(tmp)
        cluster = LocalCluster(free_port())
        try:
            csv_dir = root / "csv"
            write_synthetic_log(csv_dir, CSV_ROWS, archived=True)
            small = _database(cluster, CSV_ROWS)
            large = _database(cluster, MILLION)
            _page({"KLING_STUDIO_DATA_DIR": str(csv_dir)}, lambda: None)  # imports, once
            csv_page = _page({"KLING_STUDIO_DATA_DIR": str(csv_dir)}, _touch_file(csv_dir))
            db_pages = {count: _page({"KLING_STUDIO_DATA_DIR": str(root / f"db{count}"),
                                      "KLING_DATABASE_URL": url}, _touch_database(url))
                        for count, url in ((CSV_ROWS, small), (MILLION, large))}
            with Simulator(SimulatorConfig(latency=(0, 0))).start() as sim:
                in_process = _starts_in_process(sim, root / "starts")
                through_db = _starts_through_database(sim, _database(cluster, 0))
            csv_memory = _replica_memory(csv_dir, {})
            db_memory = _replica_memory(root / "replica", {"KLING_DATABASE_URL": large})
        finally:
            cluster.stop()

    def figure(name: str, value: float, baseline_name: str, baseline: float, goal: str,
               met: bool, unit: str = "s") -> Figure:
        return Figure(area="team", name=name, value=value, unit=unit,
                      baseline_name=baseline_name, baseline_value=baseline, goal=goal,
                      met=met)

    csv_name = f"CSV store, {CSV_ROWS:,} generations"
    figures = []
    for what in ("first", "search"):
        label = "first render" if what == "first" else "search and rerun"
        for count in (CSV_ROWS, MILLION):
            value = db_pages[count][what]
            figures.append(figure(f"History {label}, PostgreSQL, {count:,} generations",
                                  value, csv_name, csv_page[what], "ratio <= 2",
                                  value <= 2 * csv_page[what]))
    figures.append(figure("enqueue to start, database queue and a worker (median)",
                          through_db, "in-process queue", in_process, "value < 0.5 s",
                          through_db < 0.5))
    figures.append(figure(f"replica memory, {SESSIONS} sessions on History, PostgreSQL, "
                          f"{MILLION:,} generations", db_memory,
                          f"{SESSIONS} sessions, {csv_name}", csv_memory, "ratio <= 1",
                          db_memory <= csv_memory, unit="MB"))
    return figures


if __name__ == "__main__":
    print(table(run()))
