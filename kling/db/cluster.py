"""A PostgreSQL cluster of this machine's own, for `make team`'s trial and for the tests:
Debian's `postgresql` binaries (`make test` installs them), a cluster in a folder, on a
loopback port, trust authentication for loopback only.

`initdb` and `pg_ctl` refuse to run as root, and CI runs as root: there the cluster is
made and run as the unprivileged `nobody`, who owns its folder. A folder that holds a
cluster already is started as it is, so a trial keeps its data from one run to the next.
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

#: Where Debian puts the server's programs, newest version first.
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
SUPERUSER = "kling"


class LocalCluster:
    """One cluster; `url(database)` is a SQLAlchemy URL, `create_database()` a new empty
    database (one per test)."""

    def __init__(self, port: int, folder: Path | None = None, *, durable: bool = False) -> None:
        if not BINARIES:
            raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's "
                               "postgresql package (apt-get install postgresql)")
        self.bin = Path(BINARIES[0])
        self._throwaway = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="kling-pg-")).resolve()
        self.data = self.folder / "data"
        self.port = port
        self._user = "nobody" if os.geteuid() == 0 else None
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._user:
            account = pwd.getpwnam(self._user)
            os.chmod(self.folder, 0o755)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # A throwaway cluster need not survive a power cut; a trial's should.
        speed = "" if durable else "-F -c fsync=off -c full_page_writes=off "
        self._run("pg_ctl", "start", "-w", "-D", str(self.data),
                  "-l", str(self.folder / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder} {speed}"
                        "-c max_connections=200")

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([str(self.bin / program), *args], user=self._user,
                                cwd=self.folder, capture_output=True, text=True,
                                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"})
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr or result.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database (a fresh name unless given), empty or a copy of the database
        `template` (which nobody may be connected to); its URL."""
        import sqlalchemy as sa

        name = name or "test_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                exists = connection.execute(sa.text(
                    "select 1 from pg_database where datname = :name"), {"name": name}).scalar()
                if not exists:
                    copied = f' TEMPLATE "{template}"' if template else ""
                    connection.execute(sa.text(f'CREATE DATABASE "{name}"{copied}'))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server; a throwaway cluster's folder is deleted too."""
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data),
                      "-m", "immediate" if self._throwaway else "fast")
        finally:
            if self._throwaway:
                shutil.rmtree(self.folder, ignore_errors=True)
