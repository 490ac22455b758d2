"""`db import` moves a one-person data folder into the team database (history,
annotations and their authors, videos, templates with every version, budgets), safe to
run twice; `db export` writes it back out as a folder a one-person studio (and pandas)
reads alike."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from kling import db
from kling.db.budgets import DatabaseBudgets
from kling.db.history import DatabaseHistory
from kling.db.templates import LibraryRow
from kling.errors import OutcomeUnknownError, ServerError
from kling.history import HistoryLog
from kling.people import BudgetFile, Budgets
from kling.storyboards import StoryboardLibrary
from kling.storyboards.model import EndCardPlan
from kling.templates.library import TemplateLibrary
from tests.history.support import ROOT, request, result
from tests.test_cli import Run


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


def folder(path: Path) -> HistoryLog:
    """A one-person studio's folder: made, failed, possibly billed, annotated, a video
    on disk, a generation whose writer was killed, and a prompt full of CSV's traps."""
    history = HistoryLog(path)
    made = history.record_pending(request("Waves, \"drone shot\",\nslow motion"),
                                  created_by="cy@acme.com", template_id="tpl-a",
                                  template_vars={"product": "shoes"})
    history.record_success(made, result(), elapsed_s=14)
    (path / "videos").mkdir(parents=True)
    (path / "videos" / f"{made}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 100)
    history.record_video_path(made, str(path / "videos" / f"{made}.mp4"))
    failed = history.record_pending(request("A fox", duration="10"), created_by="bo@acme.com")
    history.record_failure(failed, ServerError("busy"), elapsed_s=2)
    unsure = history.record_pending(request("A kite"))
    history.record_failure(unsure, OutcomeUnknownError(), elapsed_s=900)
    history.annotate(made, by="cy@acme.com", rating=4, tags="beach, summer", notes="ok")
    history.annotate(made, by="bo@acme.com", review_status="rejected")
    history.annotate(made, by="ana@acme.com", review_status="approved")
    history.annotate(failed, by="ana@acme.com", hidden=True)
    child = textwrap.dedent("""
        import os, signal, sys
        from kling.history import HistoryLog
        from kling.models import GenerationRequest
        HistoryLog(sys.argv[1]).record_pending(GenerationRequest.create("lost", "5", "16:9", 3))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", child, str(path)], cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    library = TemplateLibrary(path)
    hero = library.create(name="Hero shot", body="A {product} on a pedestal, orbit shot",
                          author="cy@acme.com")
    library.update(hero.id, description="second version", author="bo@acme.com")
    BudgetFile(path).save(Budgets.checked(team_usd=250, updated_by="ana@acme.com"))
    boards = StoryboardLibrary(path)
    board = boards.create("Summer drop", by="cy@acme.com")
    logo = boards.save_logo(board.id, b"\x89PNG logo", "acme.png")
    boards.save(dataclasses.replace(board, end_card=EndCardPlan(title="Acme", logo=logo)))
    return history


def same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True))


def test_import_then_export_round_trips(tmp_path, upgraded):
    source = folder(tmp_path / "alone")
    team = tmp_path / "team"
    code, out, err = Run.start(["db", "import", str(source.data_dir)], team,
                               KLING_DATABASE_URL=upgraded).out
    assert code == 0, err
    assert ("4 generations (0 were there already), 6 annotations, 1 video, 1 template, "
            "1 storyboard, the budgets.") in out

    engine = db.connect(upgraded)
    history = DatabaseHistory(engine)
    expected = source.load()
    imported = history.load()
    assert set(imported["status"]) == {"succeeded", "failed", "interrupted"}
    moved = imported["video_path"].str.startswith(str(team / "videos")).sum()
    assert moved == 1 and (team / "videos").is_dir()
    same(imported.drop(columns="video_path"), expected.drop(columns="video_path"))
    made = expected.loc[expected["prompt"].str.startswith("Waves"), "id"].item()
    assert history.trail(made) == source.trail(made)

    library = TemplateLibrary(team, records=LibraryRow(engine, team))
    [hero] = library.user_templates()
    assert [v.author for v in library.versions(hero.id)] == ["cy@acme.com", "bo@acme.com"]
    assert DatabaseBudgets(engine).load().team_usd == 250

    code, out, _ = Run.start(["db", "import", str(source.data_dir)], team,
                             KLING_DATABASE_URL=upgraded).out
    assert code == 0 and ("0 generations (4 were there already), 0 annotations, 0 videos, "
                          "0 templates, 0 storyboards.") in out
    assert pd.read_sql("select count(*) as n from annotations", engine)["n"].item() == 6

    out_dir = tmp_path / "out"
    code, out, err = Run.start(["db", "export", "--out", str(out_dir)], team,
                               KLING_DATABASE_URL=upgraded).out
    assert code == 0, err
    assert ("4 generations, 6 annotations, 1 video, 1 template, 1 storyboard, "
            "the budgets.") in out
    [board] = StoryboardLibrary(out_dir).all()
    assert board.title == "Summer drop" and board.created_by == "cy@acme.com"
    assert StoryboardLibrary(out_dir).logo_path(board).read_bytes() == b"\x89PNG logo"
    assert TemplateLibrary(out_dir).versions(hero.id) == library.versions(hero.id)
    assert BudgetFile(out_dir).load().team_usd == 250
    exported = HistoryLog(out_dir).load()
    same(exported.drop(columns="video_path"), expected.drop(columns="video_path"))
    assert (out_dir / "videos" / f"{made}.mp4").read_bytes() == \
        (source.data_dir / "videos" / f"{made}.mp4").read_bytes()
    by_pandas = pd.read_csv(out_dir / "history.csv")
    assert len(by_pandas) == 4 and by_pandas["prompt"].str.contains("\n").any()
    engine.dispose()

    code, _, err = Run.start(["db", "export", "--out", str(out_dir)], team,
                             KLING_DATABASE_URL=upgraded).out
    assert code == 2 and "already holds a history" in err


def test_an_import_changed_in_the_team_keeps_the_teams_changes(tmp_path, upgraded):
    source = folder(tmp_path / "alone")
    engine = db.connect(upgraded)
    archive_dir = tmp_path / "team"
    from kling.archive import VideoArchive
    from kling.db.transfer import import_folder

    import_folder(engine, source.data_dir, VideoArchive(archive_dir))
    history = DatabaseHistory(engine)
    made = source.load().loc[lambda f: f["rating"] == 4, "id"].item()
    history.annotate(made, by="vi@acme.com", rating=2)
    source.annotate(made, by="cy@acme.com", favourite=True)
    moved = import_folder(engine, source.data_dir, VideoArchive(archive_dir))
    assert (moved.generations, moved.annotations) == (0, 1)
    row = history.get(made)
    assert (row["rating"], row["favourite"], row["reviewed_by"]) == (2, True, "ana@acme.com")
    engine.dispose()


def test_an_import_that_fails_leaves_nothing_behind(tmp_path, upgraded):
    source = folder(tmp_path / "alone")
    engine = db.connect(upgraded)
    with engine.begin() as connection:  # a later step of the import will fail
        connection.execute(sa.text("revoke all on annotations from public"))
        connection.execute(sa.text("create role tired nologin"))
        connection.execute(sa.text("alter table annotations add constraint no_tags "
                                   "check (field <> 'tags')"))
    code, _, err = Run.start(["db", "import", str(source.data_dir)], tmp_path / "team",
                             KLING_DATABASE_URL=upgraded).out
    assert code == 1 and "Traceback" not in err and err.startswith("error: "), err
    assert pd.read_sql("select count(*) as n from generations", engine)["n"].item() == 0
    engine.dispose()


@pytest.mark.parametrize("args, message", [
    (["db", "import", "{empty}"], "nothing to import"),
    (["db", "export"], "needs --out"),
    (["db", "upgrade", "somewhere"], "takes no folder"),
])
def test_bad_input_says_what_to_do(tmp_path, upgraded, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty") for a in args]
    code, _, err = Run.start(args, tmp_path / "data", KLING_DATABASE_URL=upgraded).out
    assert code == 2 and message in err and "Traceback" not in err
