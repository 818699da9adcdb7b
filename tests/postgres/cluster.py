"""A throwaway PostgreSQL server for the tests, from the machine's own PostgreSQL binaries.

``initdb`` into a new temporary folder, ``pg_ctl start`` on a free loopback port (no fsync: the data
is thrown away), ``pg_ctl stop -m immediate`` at the end.  PostgreSQL refuses to run as root, so
under root it runs as the ``postgres`` system user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

USER = "opensts"


def binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path
    run_as: list[str]

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server, without a database name."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                        "-w", "-t", "30", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Cluster:
    """Start a server in a new temporary folder (outside pytest's, which the ``postgres`` user
    cannot enter); RuntimeError if it cannot be started."""
    pg_bin = binaries()
    if pg_bin is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    folder = Path(tempfile.mkdtemp(prefix="opensts-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL as") from None
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    subprocess.run([*run_as, str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    port = free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    proc = subprocess.run([*run_as, str(pg_bin / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                           str(folder / "server.log"), "-w", "-t", "60", "start"], capture_output=True, timeout=90)
    if proc.returncode != 0:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr.decode()}{log}")
    return Cluster(folder, port, pg_bin, run_as)
