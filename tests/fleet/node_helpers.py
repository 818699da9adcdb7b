"""Real pieces of a fleet for the node tests: a Redis server on loopback, and `opensts serve`
nodes of a Region on a PostgreSQL primary or hot standby (tools/localfleet/postgres.py)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port, start_server

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
#: Every node of a fleet shares the master key.
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()


@dataclass
class Redis:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_redis() -> Redis:
    """A throwaway redis-server on a free loopback port (no persistence); fails loudly if absent."""
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server not found: install Debian's redis-server package (see README, Tests)")
    import redis

    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return Redis(proc, port)
        except redis.RedisError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


def start_standby(primary: Any) -> Any:
    """A hot standby of ``primary``, quickly: pg_basebackup starts with a *spread* checkpoint
    (minutes when the primary has just written a lot); an immediate CHECKPOINT first makes it
    take about a second."""
    import psycopg

    from tests.postgres import cluster

    with psycopg.connect(f"host=127.0.0.1 port={primary.port} user={cluster.USER} dbname=postgres",
                         autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    return cluster.start_standby(primary)


def node_env(database: str, *, control_plane: str | None = None, region_store: str | None = None) -> dict[str, str]:
    env = {"OPENSTS_DATABASE_URL": database, "OPENSTS_MASTER_KEY": MASTER_KEY}
    if control_plane:
        env["OPENSTS_CONTROL_PLANE_DATABASE_URL"] = control_plane
    if region_store:
        env["OPENSTS_REGION_STORE"] = region_store
    return env


def start_node(data_dir: Path, region: str, env: dict[str, str], *args: str) -> Server:
    return start_server(data_dir, extra_env=env, args=("--region", region, *args))


def opensts(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``opensts ARGS --data-dir DATA_DIR`` with ``env`` (a one-shot command, or a start expected to fail)."""
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "opensts", *args, "--data-dir", str(data_dir)], env=full,
                          capture_output=True, text=True, timeout=60)
