"""Real pieces of a fleet for the node tests: a Redis server on loopback, and `opensts serve`
nodes of a Region on a PostgreSQL primary or hot standby (tools/localfleet/postgres.py)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, start_server
from tools.localfleet.redis import Redis
from tools.localfleet.redis import binary as redis_binary
from tools.localfleet.redis import start as start_local_redis

#: Every node of a fleet shares the master key.
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()


def start_redis() -> Redis:
    """A throwaway redis-server on a free loopback port (tools/localfleet/redis.py); fails loudly
    when the machine has none."""
    if redis_binary() is None:
        pytest.fail("redis-server not found: install Debian's redis-server package (see README, Tests)")
    return start_local_redis()


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
