"""Connecting to the team database and keeping its schema current.

A studio or a worker calls `check_current` before using the database and refuses to
start on another schema, saying to run `python -m kling db upgrade` (`upgrade`), which
applies the migrations in `migrations/versions` in one transaction each. The URL's
password is never shown: messages name the database by `safe_url`.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic import command
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..errors import DatabaseError

UPGRADE_COMMAND = "python -m kling db upgrade"
_MIGRATIONS = Path(__file__).with_name("migrations")


def safe_url(url: str) -> str:
    """`url` with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a KLING_DATABASE_URL that is not a database URL)"


def connect(url: str) -> Engine:
    """An engine for `url` (connections checked before use: a database restart costs
    one failed check, not a failed page)."""
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(
            f"KLING_DATABASE_URL is not a database URL: {safe_url(url)}",
            hint="Write it like postgresql+psycopg://user:password@host:5432/kling.",
        ) from exc
    except ImportError as exc:
        raise DatabaseError(
            "The database driver for KLING_DATABASE_URL is not installed.",
            hint="Install the team packages: pip install -r requirements-team.txt.",
        ) from exc


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema this code needs (the newest migration)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema the database is at; None when it has none yet."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to this code's schema; returns (from, to) revisions. Safe to
    run again: a current database is left as it is."""
    before = current_revision(engine)
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    return before, head_revision()


def check_current(engine: Engine) -> None:
    """`DatabaseError` unless the database is at this code's schema."""
    found, needed = current_revision(engine), head_revision()
    if found != needed:
        state = "has no studio schema yet" if found is None else f"is at schema {found}"
        raise DatabaseError(
            f"The team database {_named(engine)} {state}; "
            f"this studio needs schema {needed}.",
            hint=f"Run `{UPGRADE_COMMAND}` once, then start the studio and workers again.",
        )


def unreachable(engine: Engine, exc: SQLAlchemyError) -> DatabaseError:
    """What to tell a person when the database refused or failed a statement."""
    # The driver's own first line says why (refused, unknown database, bad password)
    # and never holds the password itself.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
    return DatabaseError(
        f"The team database {_named(engine)} could not be used: {reason}")


def _named(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
