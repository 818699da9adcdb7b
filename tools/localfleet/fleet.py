"""The whole local fleet on loopback: what ``make fleet`` starts and tests/fleet drives.

    us-east-1 (control-plane Region)              us-west-2 (a data-plane Region)
    ───────────────────────────────               ──────────────────────────────
    PostgreSQL primary  ──── streaming ────────►  PostgreSQL hot standby (read-only)
    Redis (quotas, STS state)                     Redis (quotas, STS state)
    trail store: S3 (moto's server)               trail store: a folder
    node us-east-1-a (own DB = primary)           nodes us-west-2-a, us-west-2-b
                                                  (own DB = standby; IAM → primary)

Start order: PostgreSQL primary, both Redis servers and the S3 store at once; the fleet's
database and ``opensts migrate`` against the primary (every Region's sealing key) while the
standby is cloned (``pg_basebackup -R``); the us-east-1 node (it bootstraps the default account
and its admin); once the standby has replayed that, the us-west-2 nodes. Anything that fails
stops everything started so far. :meth:`Fleet.stop` ends every process by the PID it started.
"""

from __future__ import annotations

import base64
import configparser
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.localfleet import node as node_mod
from tools.localfleet import postgres
from tools.localfleet import redis as redis_mod
from tools.localfleet import s3 as s3_mod
from tools.localfleet.node import Node

__all__ = ["CONTROL_PLANE_REGION", "DATA_REGION", "DATABASE", "TRAIL_BUCKET", "Fleet", "Options", "start",
           "missing_prerequisites"]

CONTROL_PLANE_REGION = "us-east-1"
DATA_REGION = "us-west-2"
DATABASE = "opensts"
TRAIL_BUCKET = "opensts-trail-us-east-1"


@dataclass
class Options:
    """What may differ between ``make fleet`` and a test's fleet."""

    west_nodes: int = 2
    quota_rps: float | None = None  # --quota-rps of every node (None: the server's default)
    quota_burst: float | None = None
    workers: int = 1
    tls: tuple[Path, Path, Path] | None = None  # certificate, key, CA: nodes serve HTTPS (real hostnames)
    ca_bundle: Path | None = None  # --ca-bundle of every node (an IdP's CA)
    audit_interval: float = 0.5  # seconds between a node's delivery rounds
    admin: tuple[str, str, str] | None = None  # account id, access key id, secret (None: generated)
    extra_env: dict[str, str] = field(default_factory=dict)


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run a fleet (empty: nothing)."""
    missing = []
    if postgres.binaries() is None or shutil.which("pg_basebackup", path=str(postgres.binaries() or "")) is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup; Debian: apt-get install postgresql)")
    if redis_mod.binary() is None:
        missing.append("redis-server (Debian: apt-get install redis-server)")
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("werkzeug") is None:  # no import: cheap
        missing.append("moto's server (pip install 'moto[server]'; the S3-compatible trail store of us-east-1)")
    return missing


@dataclass
class Fleet:
    folder: Path
    options: Options
    master_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    primary: postgres.Cluster | None = None
    replica: postgres.Cluster | None = None
    redis: dict[str, redis_mod.Redis] = field(default_factory=dict)
    s3: s3_mod.S3Store | None = None
    nodes: list[Node] = field(default_factory=list)
    admin: tuple[str, str, str] | None = None  # account id, access key id, secret access key

    # -- where things are ----------------------------------------------------------------------
    @property
    def primary_url(self) -> str:
        assert self.primary is not None
        return f"{self.primary.url}/{DATABASE}"

    @property
    def replica_url(self) -> str:
        assert self.replica is not None
        return f"{self.replica.url}/{DATABASE}"

    @property
    def config_path(self) -> Path:
        return self.folder / "opensts.toml"

    @property
    def credentials_path(self) -> Path:
        return self.folder / "credentials"

    def trail_folder(self, region: str) -> Path:
        return self.folder / f"trail-{region}"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def nodes_in(self, region: str) -> list[Node]:
        return [n for n in self.nodes if n.region == region]

    # -- configuration of a node ---------------------------------------------------------------
    def write_config(self) -> None:
        """The config file every node reads: one trail store per Region, delivery every ``audit_interval``."""
        assert self.s3 is not None
        s3 = {"bucket": TRAIL_BUCKET, **self.s3.client_args()}
        inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in s3.items())
        west = self.trail_folder(DATA_REGION)
        west.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.config_path.write_text(
            "# The local fleet's trail stores: us-east-1's in an S3 bucket (moto's server), us-west-2's in a folder.\n"
            f"[audit]\ninterval = {self.options.audit_interval}\n\n"
            f"[audit.regions.{CONTROL_PLANE_REGION}]\ns3 = {{ {inline} }}\n\n"
            f"[audit.regions.{DATA_REGION}]\nfolder = {json.dumps(str(west))}\n")

    def node_env(self, region: str) -> dict[str, str]:
        """The environment of a node of ``region``: its own database, the control plane's, its Redis."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSTS_", "AWS_"))}
        env.update(PYTHONUNBUFFERED="1", OPENSTS_MASTER_KEY=self.master_key,
                   OPENSTS_QUOTA_STORE=self.redis[region].url, OPENSTS_REGION_STORE=self.redis[region].url)
        if region == CONTROL_PLANE_REGION:
            env["OPENSTS_DATABASE_URL"] = self.primary_url
            if self.options.admin:  # the first node on the primary bootstraps the default account
                account, key, secret = self.options.admin
                env.update(OPENSTS_ACCOUNT_ID=account, OPENSTS_ADMIN_ACCESS_KEY_ID=key,
                           OPENSTS_ADMIN_SECRET_ACCESS_KEY=secret)
        else:
            env["OPENSTS_DATABASE_URL"] = self.replica_url
            env["OPENSTS_CONTROL_PLANE_DATABASE_URL"] = self.primary_url
        env.update(self.options.extra_env)
        return env

    def node_args(self) -> list[str]:
        args = ["--config", str(self.config_path), "--workers", str(self.options.workers)]
        if self.options.quota_rps is not None:
            args += ["--quota-rps", f"{self.options.quota_rps:g}"]
        if self.options.quota_burst is not None:
            args += ["--quota-burst", f"{self.options.quota_burst:g}"]
        if self.options.ca_bundle:
            args += ["--ca-bundle", str(self.options.ca_bundle)]
        return args

    def start_node(self, name: str, region: str, args: list[str] | None = None) -> Node:
        """Start one more node of ``region`` (``args``: added to the fleet's ``serve`` options)."""
        node = node_mod.Node(name, region, self.folder / name, self.node_env(region),
                             [node_mod.free_port()], self.node_args() + list(args or []), self.options.tls)
        self.nodes.append(node)  # before it starts: stop() must find it even if start fails half-way
        node.start()
        return node

    # -- operations ------------------------------------------------------------------------------
    def migrate(self) -> None:
        """``opensts migrate`` against the primary: the schema and every Region's sealing key."""
        proc = self.cli("migrate", timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"opensts migrate failed: {proc.stdout}{proc.stderr}")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``opensts ARGS`` against the control plane (the primary), as an operator runs it there."""
        env = self.node_env(CONTROL_PLANE_REGION)
        for name in ("OPENSTS_ACCOUNT_ID", "OPENSTS_ADMIN_ACCESS_KEY_ID", "OPENSTS_ADMIN_SECRET_ACCESS_KEY"):
            env.pop(name, None)
        return subprocess.run([sys.executable, "-m", "opensts", *args, "--data-dir", str(self.folder / "operator")],
                              env=env, capture_output=True, text=True, timeout=timeout)

    def wait_replicated(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        import psycopg

        assert self.primary is not None and self.replica is not None
        with psycopg.connect(_dsn(self.primary, DATABASE), autocommit=True, connect_timeout=5) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with psycopg.connect(_dsn(self.replica, DATABASE), autocommit=True, connect_timeout=5) as conn:
            while True:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]  # type: ignore[index]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the standby did not replay up to {target} within {timeout:.0f} s")
                time.sleep(0.05)

    def read_admin(self) -> tuple[str, str, str]:
        """The bootstrap administrator (from the options, else the us-east-1 node's credentials file)."""
        if self.options.admin:
            return self.options.admin
        east = self.nodes_in(CONTROL_PLANE_REGION)[0]
        parser = configparser.ConfigParser()
        parser.read(east.data_dir / "credentials")
        section = parser["opensts"]
        comment = (east.data_dir / "credentials").read_text().splitlines()[0]
        account = comment.split("account", 1)[1].split()[0] if "account" in comment else ""
        return account, section["aws_access_key_id"], section["aws_secret_access_key"]

    def write_credentials(self) -> None:
        assert self.admin is not None
        self.credentials_path.write_text(f"[opensts]\naws_access_key_id = {self.admin[1]}\n"
                                         f"aws_secret_access_key = {self.admin[2]}\n")
        self.credentials_path.chmod(0o600)

    def stop(self, remove: bool = True) -> None:
        """Stop every process this fleet started (by PID) and remove its folders (``remove``: also
        the fleet's own folder: node logs, data folders, trail folder)."""
        with ThreadPoolExecutor(max(1, len(self.nodes))) as pool:
            list(pool.map(_quietly, [n.stop for n in self.nodes]))
        for part in [self.s3, *self.redis.values(), self.replica, self.primary]:
            if part is not None:
                _quietly(part.stop)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


def _quietly(stop: Any) -> None:
    try:
        stop()
    except Exception as exc:  # noqa: BLE001 - stopping the rest matters more
        print(f"localfleet: while stopping: {exc}", file=sys.stderr)


def _dsn(cluster: postgres.Cluster, database: str) -> str:
    return f"host=127.0.0.1 port={cluster.port} user={postgres.USER} dbname={database}"


def _create_database(cluster: postgres.Cluster) -> None:
    import psycopg

    with psycopg.connect(_dsn(cluster, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def start(options: Options | None = None, folder: Path | None = None) -> Fleet:
    """Start the whole fleet; RuntimeError (everything stopped) if any piece fails."""
    missing = missing_prerequisites()
    if missing:
        raise RuntimeError("cannot start a local fleet, missing: " + "; ".join(missing))
    folder = folder or Path(tempfile.mkdtemp(prefix="opensts-fleet-"))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fleet = Fleet(folder, options or Options())
    try:
        _start_parts(fleet)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _start_parts(fleet: Fleet) -> None:
    """Every piece is recorded in ``fleet`` by the thread that started it, the moment it has
    started: an interruption (Ctrl-C) or a failure anywhere leaves nothing that stop() misses."""
    def primary() -> None:
        fleet.primary = postgres.start(replication=True)

    def redis(region: str) -> None:
        fleet.redis[region] = redis_mod.start(fleet.folder / f"redis-{region}")

    def s3() -> None:
        fleet.s3 = s3_mod.start(TRAIL_BUCKET, folder=fleet.folder / "s3")

    def replica() -> None:
        fleet.replica = postgres.start_standby(fleet.primary)  # type: ignore[arg-type]

    _all(primary, s3, *[lambda r=r: redis(r) for r in (CONTROL_PLANE_REGION, DATA_REGION)])
    assert fleet.primary is not None
    fleet.write_config()
    _create_database(fleet.primary)
    _all(replica, fleet.migrate)
    fleet.start_node(f"{CONTROL_PLANE_REGION}-a", CONTROL_PLANE_REGION)
    fleet.admin = fleet.read_admin()
    fleet.write_credentials()
    fleet.wait_replicated()
    names = [f"{DATA_REGION}-{chr(ord('a') + i)}" for i in range(fleet.options.west_nodes)]
    _all(*[lambda n=n: fleet.start_node(n, DATA_REGION) for n in names])


def _all(*tasks: Any) -> None:
    """Run ``tasks`` at once; when all have ended, raise the first failure. A Ctrl-C meanwhile is
    raised only after every task has ended (and recorded what it started)."""
    if not tasks:
        return
    pool = ThreadPoolExecutor(len(tasks))
    futures = [pool.submit(task) for task in tasks]
    interrupted: BaseException | None = None
    while True:
        try:
            wait(futures)
            break
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt: finish waiting, then raise it
            interrupted = interrupted or exc
    pool.shutdown()
    if interrupted is not None:
        raise interrupted
    for future in futures:
        if future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
