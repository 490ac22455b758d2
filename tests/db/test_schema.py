"""The team database's schema on a real PostgreSQL: `db upgrade` creates it and is safe
to run again, the tables hold the columns of the files they stand for, and a database
at another schema is refused with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kling import db
from kling.errors import DatabaseError
from kling.history.schema import ANNOTATION_COLUMNS, HISTORY_COLUMNS
from tests.net import free_port
from tests.test_cli import Run



@pytest.fixture
def engine(database_url):
    engine = db.connect(database_url)
    yield engine
    engine.dispose()


def kling(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `python -m kling ARGS`."""
    return Run.start(list(args), tmp_path / "data", **settings).out


def test_a_new_database_is_refused_until_upgraded(engine):
    with pytest.raises(DatabaseError) as refused:
        db.check_current(engine)
    assert "has no studio schema yet" in str(refused.value)
    assert db.UPGRADE_COMMAND in str(refused.value)
    assert db.upgrade(engine) == (None, db.head_revision())
    db.check_current(engine)
    assert db.upgrade(engine) == (db.head_revision(), db.head_revision())  # again: no-op


def test_the_tables_read_like_the_files(engine):
    db.upgrade(engine)
    generations = pd.read_sql("select * from generations", engine)
    assert tuple(generations.columns) == HISTORY_COLUMNS
    annotations = pd.read_sql("select * from annotations", engine)
    assert [c for c in annotations.columns if c != "seq"] == [
        "gen_id" if c == "id" else c for c in ANNOTATION_COLUMNS]


def test_the_migrations_build_what_the_code_describes(engine):
    db.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, db.metadata) == []


def test_a_database_at_another_schema_is_refused(engine):
    db.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("update alembic_version set version_num = 'zz99'"))
    with pytest.raises(DatabaseError, match="is at schema zz99") as refused:
        db.check_current(engine)
    assert db.UPGRADE_COMMAND in str(refused.value)


def test_db_upgrade_from_the_command_line(database_url, tmp_path):
    code, out, err = kling(tmp_path, "db", "upgrade", KLING_DATABASE_URL=database_url)
    assert code == 0, err
    assert f"schema (none) -> {db.head_revision()}" in out
    code, out, _ = kling(tmp_path, "db", "upgrade", KLING_DATABASE_URL=database_url)
    assert code == 0 and "already at schema" in out


def test_db_upgrade_says_what_is_missing_and_never_shows_the_password(tmp_path):
    code, _, err = kling(tmp_path, "db", "upgrade")
    assert code == 2 and "KLING_DATABASE_URL is not set" in err
    secret = "s3cr3t-Passw0rd"
    nobody_there = f"postgresql+psycopg://kling:{secret}@127.0.0.1:{free_port()}/kling"
    code, out, err = kling(tmp_path, "db", "upgrade", KLING_DATABASE_URL=nobody_there)
    assert code == 1
    assert err.startswith("error: The team database") and "Traceback" not in err
    assert secret not in err + out
    code, _, err = kling(tmp_path, "db", "upgrade", KLING_DATABASE_URL=f"not a url {secret}")
    assert code == 1 and "not a database URL" in err
    assert secret not in err
