"""A studio whose `KLING_DATABASE_URL` names a team database keeps its history there:
its replicas queue generations for the workers, the pages and the command line read and
write the same rows, nothing of it lands in the data folder, and a database at another
schema stops them all with the command that fixes it, the password never shown."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kling import db
from kling.db.history import DatabaseHistory
from kling.errors import DatabaseError
from kling.models import GenerationRequest
from kling.services import open_studio, open_worker
from kling.settings import Settings
from page_text import plain
from tests.conftest import APP
from tests.test_cli import Run


def test_the_studio_queues_for_the_workers_and_keeps_its_history_in_the_database(
        studio_env, upgraded, monkeypatch):
    monkeypatch.setenv("KLING_DATABASE_URL", upgraded)
    studio = open_studio(retry_downloads=False)
    worker = open_worker(concurrency=1)
    running = threading.Thread(target=worker.run)
    try:
        assert isinstance(studio.history, DatabaseHistory)
        job = studio.queue.submit(GenerationRequest.create("a kite over dunes", "5", "16:9", 7),
                                  owner="me")
        assert "No worker" in studio.queue.worker_notice()
        running.start()
        (job,) = studio.queue.wait([job.id], timeout=60)
        assert job.result is not None
        rows = pd.read_sql("select * from generations", studio.database)
    finally:
        worker.stop()
        running.join(timeout=60)
        studio.close()
    assert list(rows["id"]) == [job.id]
    assert (rows.loc[0, "status"], rows.loc[0, "seed"]) == ("succeeded", 7)
    assert rows.loc[0, "video_path"].endswith(f"{job.id}.mp4")
    assert not (studio_env / "history.csv").exists()


def test_a_database_without_the_schema_stops_the_studio(studio_env, database_url,
                                                        monkeypatch):
    monkeypatch.setenv("KLING_DATABASE_URL", database_url)
    with pytest.raises(DatabaseError, match="db upgrade"):
        open_studio(Settings.load(), retry_downloads=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    shown = plain(" ".join(e.value for e in at.error))
    assert "Kling Studio cannot start" in shown and db.UPGRADE_COMMAND in shown


def test_the_history_page_shows_the_databases_generations(studio_env, upgraded, monkeypatch):
    monkeypatch.setenv("KLING_DATABASE_URL", upgraded)
    engine = db.connect(upgraded)
    history = DatabaseHistory(engine)
    for prompt in ("Paper boats on a canal, tracking shot", "Red kites over a valley"):
        history.record_pending(GenerationRequest.create(prompt, "5", "16:9", 1))
    engine.dispose()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**2** generations" in [m.value for m in at.markdown]
    at.text_input(key="q").input("kites").run()
    assert "**1** of 2 generations match" in [m.value for m in at.markdown]


def test_the_command_line_uses_the_database(tmp_path, upgraded):
    data = tmp_path / "data"
    code, _, err = Run.start(["generate", "--prompt", "A lighthouse at dusk, drone shot",
                              "--seed", "5"], data, KLING_DATABASE_URL=upgraded).out
    assert code == 0, err
    code, out, _ = Run.start(["history", "list"], data, KLING_DATABASE_URL=upgraded).out
    assert code == 0 and "A lighthouse at dusk" in out
    assert not (data / "history.csv").exists()


def test_the_command_line_refuses_an_old_schema_in_one_line(tmp_path, postgres):
    secret = "pa55-w0rd-xyz"
    url = postgres.create_database().replace("kling@", f"kling:{secret}@")
    for args in (["history", "list"], ["generate", "--prompt", "A quiet harbour, pan"]):
        code, out, err = Run.start(args, tmp_path / "data", KLING_DATABASE_URL=url).out
        assert code == 1 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("error: ")
        assert db.UPGRADE_COMMAND in err and secret not in out + err


def test_the_generate_page_says_when_no_worker_runs(studio_env, upgraded, monkeypatch):
    monkeypatch.setenv("KLING_DATABASE_URL", upgraded)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    warnings = plain(" ".join(w.value for w in at.warning))
    assert "No worker has been seen for 30 seconds" in warnings
    assert "python -m kling worker" in warnings
