"""A throwaway PostgreSQL server on loopback for the tests: Debian's `postgresql`
binaries (`make test` installs them), a new cluster in a temporary folder, a free port,
trust authentication for loopback only, stopped and deleted after.

`initdb` and `pg_ctl` refuse to run as root, and CI runs as root: there the cluster is
made and run as the unprivileged `nobody`, who owns its folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.net import free_port

#: Where Debian puts the server's programs, newest version first.
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
SUPERUSER = "kling"


class PostgresServer:
    """One cluster; `url(database)` is a SQLAlchemy URL, `create_database()` a new
    empty database for one test."""

    def __init__(self) -> None:
        if not BINARIES:
            raise RuntimeError("PostgreSQL is not installed: run `make test`, which "
                               "installs Debian's postgresql package")
        self.bin = Path(BINARIES[0])
        self.folder = Path(tempfile.mkdtemp(prefix="kling-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._user = "nobody" if os.geteuid() == 0 else None
        if self._user:
            account = pwd.getpwnam(self._user)
            os.chmod(self.folder, 0o755)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self._run("pg_ctl", "start", "-w", "-D", str(self.data),
                  "-l", str(self.folder / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F "
                        "-c fsync=off -c full_page_writes=off -c max_connections=100")

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([str(self.bin / program), *args], user=self._user,
                                cwd=self.folder, capture_output=True, text=True,
                                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"})
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr or result.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import sqlalchemy as sa

        name = "test_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
