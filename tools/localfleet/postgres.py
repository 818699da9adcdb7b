"""Throwaway PostgreSQL servers from the machine's own binaries: a primary, and hot-standby
streaming replicas of it (physical replication, ``pg_basebackup -R``), as a fleet runs them.

``initdb`` into a new temporary folder, ``pg_ctl start`` on a free loopback port (no fsync: the
data is thrown away), ``pg_ctl stop -m immediate`` at the end. PostgreSQL refuses to run as root,
so under root it runs as the ``postgres`` system user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.localfleet.ports import free_port

__all__ = ["USER", "Cluster", "binaries", "start", "start_standby"]

USER = "opensts"
_PRIMARY_OPTIONS = ("-c wal_level=replica -c max_wal_senders=10 -c max_replication_slots=10 "
                    "-c hot_standby=on -c hot_standby_feedback=on -c wal_keep_size=256MB")


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
    options: str = ""

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server, without a database name."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
                              capture_output=True, timeout=timeout)

    def start(self) -> None:
        """(Re)start the server on its port (after :meth:`stop_server`)."""
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off " \
               f"-c max_connections=300 {self.options}"
        proc = self._ctl("-o", opts, "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {proc.stderr.decode()}{self.log()}")

    def stop_server(self, mode: str = "immediate") -> None:
        """Stop the server, keeping its data (``immediate``: as if the machine were lost)."""
        self._ctl("-m", mode, "-w", "-t", "30", "stop", timeout=60)

    def promote(self) -> None:
        """Make a standby the new primary (the runbook's step when the control plane is lost)."""
        proc = self._ctl("-w", "-t", "60", "promote")
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctl promote failed: {proc.stderr.decode()}")

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)


def _new_folder(prefix: str) -> tuple[Path, list[str]]:
    """A temporary folder (outside pytest's, which the ``postgres`` user cannot enter) and the
    command prefix that runs PostgreSQL as a user it accepts."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() != 0:
        return folder, []
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL as") from None
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    return folder, ["runuser", "-u", "postgres", "--"]


def start(*, replication: bool = False) -> Cluster:
    """Start a server in a new temporary folder; ``replication``: ready to feed hot standbys.
    RuntimeError if it cannot be started."""
    pg_bin = binaries()
    if pg_bin is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    folder, run_as = _new_folder("opensts-pg-")
    subprocess.run([*run_as, str(pg_bin / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", USER,
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
    if replication:
        with open(folder / "data" / "pg_hba.conf", "a") as hba:  # trust replication from loopback
            hba.write("host replication all 127.0.0.1/32 trust\n")
    cluster = Cluster(folder, free_port(), pg_bin, run_as, _PRIMARY_OPTIONS if replication else "")
    cluster.start()
    return cluster


def start_standby(primary: Cluster, *, slot: str | None = None) -> Cluster:
    """A hot-standby streaming replica of ``primary``: ``pg_basebackup -R`` (which writes the
    ``primary_conninfo`` and ``standby.signal``), started on its own port, read-only."""
    folder, run_as = _new_folder("opensts-pg-standby-")
    args = [*run_as, str(primary.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", USER,
            "-D", str(folder / "data"), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"]
    if slot:
        args += ["-C", "-S", slot]
    proc = subprocess.run(args, capture_output=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"pg_basebackup failed: {proc.stderr.decode()}")
    standby = Cluster(folder, free_port(), primary.bin, run_as, _PRIMARY_OPTIONS)
    standby.start()
    _wait_streaming(standby)
    return standby


def _wait_streaming(standby: Cluster, timeout: float = 30) -> None:
    """Until the standby is in recovery and accepts read-only connections."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={standby.port} user={USER} dbname=postgres",
                                 connect_timeout=2) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"standby did not start streaming: {standby.log()[-2000:]}")
        time.sleep(0.1)
