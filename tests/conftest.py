"""Shared fixtures: real OpenSTS servers on loopback ports, started as separate processes.

Tests talk to them with real clients (boto3, the AWS CLI, raw HTTP signed by botocore), never
with mocks. Every server is stopped by PID when its fixture ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ACCOUNT_ID = "111122223333"
ADMIN_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


#: A PostgreSQL server URL without a database (``postgresql+psycopg://USER@HOST:PORT``), or ``auto`` for
#: a throwaway PostgreSQL server started for the run: when set, every server the tests start gets a
#: fresh database of its own there instead of SQLite in its data folder.
TEST_DATABASE_ENV = "OPENSTS_TEST_DATABASE_URL"
_DATABASES: dict[str, str] = {}  # data folder -> its database
_CLUSTERS: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(TEST_DATABASE_ENV) == "auto":
        from tests.postgres import cluster

        _CLUSTERS.append(cluster.start())
        os.environ[TEST_DATABASE_ENV] = _CLUSTERS[0].url


def pytest_unconfigure(config: pytest.Config) -> None:
    while _CLUSTERS:
        _CLUSTERS.pop().stop()


def fresh_database(server_url: str) -> str:
    """Create an empty database on the PostgreSQL server at ``server_url``; its SQLAlchemy URL."""
    import uuid

    import psycopg

    name = f"opensts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `opensts serve` process."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[str]
    env: dict[str, str]
    port: int
    log_path: Path | None = None
    banner: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def client(self, service: str = "sts", key: str = ADMIN_KEY, secret: str = ADMIN_SECRET,
               token: str | None = None, region: str = "us-east-1", verify: str | None = None,
               **config: object) -> object:
        return boto3.client(
            service,
            endpoint_url=self.url,
            verify=verify,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            # one attempt, no retry (botocore's max_attempts counts retries): a retried failure would pass unseen
            config=Config(retries={"total_max_attempts": 1}, **config),  # type: ignore[arg-type]
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `opensts …` against this server's data folder."""
        return subprocess.run(
            [sys.executable, "-m", "opensts", *args, "--data-dir", str(self.data_dir)],
            env=self.env, capture_output=True, text=True, check=check, timeout=60,
        )


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 scheme: str = "http", port: int | None = None) -> Server:
    """``port``: a given one (a second server on a running one's address: ``--reuse-port``)."""
    port = port or free_port()
    env = dict(os.environ)
    if os.environ.get(TEST_DATABASE_ENV):  # servers on one data folder share its database
        key = str(data_dir.resolve())
        if key not in _DATABASES:
            _DATABASES[key] = fresh_database(os.environ[TEST_DATABASE_ENV])
        env["OPENSTS_DATABASE_URL"] = _DATABASES[key]
    env.update(
        OPENSTS_ACCOUNT_ID=ACCOUNT_ID,
        OPENSTS_ADMIN_ACCESS_KEY_ID=ADMIN_KEY,
        OPENSTS_ADMIN_SECRET_ACCESS_KEY=ADMIN_SECRET,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path, n = data_dir.parent / f"{data_dir.name}-server-{port}.log", 1
    while log_path.exists():  # a second server on this port (a restart): its own log
        n += 1
        log_path = data_dir.parent / f"{data_dir.name}-server-{port}-{n}.log"
    log = open(log_path, "w+")  # a file: a full pipe would block the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "opensts", "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", *args],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    server = Server(f"{scheme}://127.0.0.1:{port}", data_dir, proc, env, port, log_path=Path(log.name))
    log.close()
    _wait_ready(server)
    return server


def _wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError("server exited:\n" + server.log())
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        stop_server(server)
        raise RuntimeError("server did not start in time")
    # The banner is printed right after the sockets are bound; wait for its last line.
    while time.monotonic() < deadline and "get-caller-identity" not in server.log():
        time.sleep(0.05)
    server.banner = server.log().splitlines()


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("opensts-data"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def sts(server: Server) -> object:
    return server.client()
