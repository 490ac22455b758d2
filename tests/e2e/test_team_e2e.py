"""The team topology in the browser: two `streamlit run` replicas and worker processes
on one PostgreSQL database, videos in an S3-compatible bucket (moto's server), the
simulator as its own service. A generation queued on replica A finishes and plays on
replica B, from the bucket by a presigned link; A killed mid-generation changes nothing; a
worker killed mid-call leaves the job possibly billed on B, and it is never sent again.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
import boto3
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from isolation import isolated_environ
from kling import db
from kling.db.queue import now
from tests.e2e.conftest import (
    ROOT, ServerProcess, StudioServer, assert_video_plays, click_and_wait, commit_text,
    free_port, open_studio,
)

pytestmark = pytest.mark.e2e

PRICE = 1.4  # a 5 s video at the default price


class Service(ServerProcess):
    """`python -m kling ARGS` (or another program) as a service of the topology."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path,
                 health_url: str, name: str) -> None:
        self._start(args if Path(args[0]).is_absolute() else
                    [sys.executable, "-m", "kling", *args], cwd=ROOT,
                    env=isolated_environ(**env), log_path=log_path, health_url=health_url,
                    name=name, healthy=lambda response: True, timeout=60)


class Worker(ServerProcess):
    """`python -m kling worker`, ready once the database has seen it."""

    def __init__(self, env: dict[str, str], log_path: Path, engine: sa.Engine) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kling", "worker", "--concurrency", "2"], cwd=ROOT,
            env=isolated_environ(**env), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        with engine.connect() as connection:
            for _ in range(600):
                seen = connection.execute(sa.text(
                    "select count(*) from workers where stopped_at is null "
                    "and seen_at > now() - interval '30 seconds'")).scalar()
                if seen or self.process.poll() is not None:
                    break
                connection.rollback()
                try:
                    self.process.wait(0.1)
                except subprocess.TimeoutExpired:
                    continue
        assert self.process.poll() is None, self.log()


@pytest.fixture
def team(tmp_path, upgraded) -> Iterator[dict]:
    database_url = upgraded
    engine = db.connect(database_url)
    port = free_port()
    simulator = Service(["simulator", "--port", str(port)], {"KLING_SIM_LATENCY": "6"},
                        tmp_path / "simulator.log",
                        f"http://127.0.0.1:{port}/api/credits/balance", "the simulator")
    s3_port = free_port()
    bucket = Service(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
         str(s3_port)], {}, tmp_path / "s3.log", f"http://127.0.0.1:{s3_port}/",
        "the S3 server")
    aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test-secret",
                 ).create_bucket(Bucket="team-videos")
    env = {"KLING_DATABASE_URL": database_url,
           "FIREMOON_BASE_URL": f"http://127.0.0.1:{port}",
           "KLING_STUDIO_DATA_DIR": str(tmp_path / "data"),
           "KLING_VIDEO_STORE": "s3://team-videos/studio", **aws}
    parts: list[ServerProcess] = [simulator, bucket]
    try:
        parts.append(Worker(env, tmp_path / "worker.log", engine))
        parts.append(StudioServer(tmp_path / "data", env))
        parts.append(StudioServer(tmp_path / "data", env))
        yield {"engine": engine, "simulator": simulator, "worker": parts[2],
               "a": parts[3], "b": parts[4], "env": env, "s3": aws["AWS_ENDPOINT_URL"],
               "balance": f"http://127.0.0.1:{port}/api/credits/balance"}
    finally:
        for part in parts:
            part.stop()
        engine.dispose()


def balance(team) -> float:
    answer = requests.get(team["balance"], headers={"Authorization": "Bearer demo"}, timeout=5)
    return answer.json()["balance"]


def billed_before_kill(team, paid: float) -> None:
    """Wait until the simulator has the worker's request (and has charged it)."""
    worker = team["worker"].process
    for _ in range(300):
        if balance(team) < paid:
            return
        try:  # the pause between two polls is a wait for the worker to die
            worker.wait(0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the worker exited:\n{team['worker'].log()}")
    raise AssertionError("the simulator never received the request")


def generate(page, prompt: str) -> str:
    """Queue one video on `page`; the address that shows this person's jobs elsewhere."""
    commit_text(page.get_by_label("Prompt", exact=True), prompt)
    click_and_wait(page.get_by_role("button", name="Generate", exact=True))
    expect(page).to_have_url(re.compile(r"[?&]s="))
    return page.url.split("?", 1)[1]


def on(server: StudioServer, query: str) -> str:
    return f"{server.url}/?{query}"


def test_a_team_of_replicas_and_workers(new_page, team):
    a, b = new_page(), new_page()

    # Generate on A, watch it finish and play on B.
    open_studio(a, team["a"].url)
    query = generate(a, "Paper boats on a canal at dawn, tracking shot")
    open_studio(b, on(team["b"], query))
    expect(b.get_by_text("Paper boats on a canal at dawn")).to_be_visible()
    expect(b.locator("video")).to_have_count(1, timeout=60_000)
    # Played from the bucket by a presigned link, not from a replica's memory.
    source = b.locator("video").first.get_attribute("src")
    assert source.startswith(team["s3"] + "/team-videos/studio/") and "Signature=" in source
    assert_video_plays(b.locator("video").first)

    # A killed while its generation runs: the worker finishes it, B shows it.
    query = generate(a, "Red kites over a green valley, drone shot")
    expect(a.get_by_text("Generating").first).to_be_visible()
    team["a"].process.send_signal(signal.SIGKILL)
    team["a"].process.wait(10)
    open_studio(b, on(team["b"], query))
    expect(b.locator("video")).to_have_count(2, timeout=60_000)
    assert_video_plays(b.locator("video").first)
    paid = balance(team)

    # The worker killed mid-call: the job ends possibly billed and is not sent again.
    commit_text(b.get_by_label("Prompt", exact=True), "A lighthouse in a storm, slow push-in")
    click_and_wait(b.get_by_role("button", name="Generate", exact=True))
    expect(b.get_by_text("Generating").first).to_be_visible()
    billed_before_kill(team, paid)
    team["worker"].process.send_signal(signal.SIGKILL)
    team["worker"].process.wait(10)
    with team["engine"].begin() as connection:  # its 30 s of silence, without waiting
        connection.execute(sa.update(db.workers).values(seen_at=now() - timedelta(seconds=31)))
    survivor = Worker(team["env"], team["a"].data_dir.parent / "worker2.log", team["engine"])
    try:
        expect(b.get_by_text("possibly billed").first).to_be_visible(timeout=60_000)
        b.screenshot(path=str(team["a"].data_dir.parent / "team-possibly-billed.png"),
                     full_page=True)
        assert balance(team) == pytest.approx(paid - PRICE)  # sent once, never again
        with team["engine"].connect() as connection:
            states = dict(connection.execute(sa.text(
                "select state, count(*) from jobs group by state")).all())
        assert states == {"succeeded": 2, "failed": 1}
    finally:
        survivor.stop()
