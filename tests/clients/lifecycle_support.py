"""Measuring a server's lifecycle from outside, with real clients: a steady AssumeRole stream, the
first request's latency, the server's worker processes, and the credentials its trail recorded.

Shared by tests/clients/test_restart.py, test_worker_supervision.py, test_warm_start.py and
bench/scale_faults.py (which reports the same numbers the tests bound).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                                                 "Action": "sts:AssumeRole"}]}


def make_role(server: Server, name: str = "restart-stream") -> str:
    iam: Any = server.client("iam")
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"])


@dataclass
class AssumeRoleStream:
    """``threads`` clients (one boto3 client each: its own keep-alive connection), calling
    AssumeRole back to back until ``stop``. No SDK retry (``total_max_attempts`` 1: one attempt
    and no retry; botocore's legacy ``max_attempts`` 1 would allow one retry): any failure counts."""

    server: Server
    role_arn: str
    threads: int = 4
    pause: float = 0.0  # seconds each client waits between calls (a steady stream that leaves CPU to the servers)
    issued: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> AssumeRoleStream:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, n: int) -> None:
        sts: Any = boto3.client("sts", endpoint_url=self.server.url, region_name="us-east-1",
                                aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET,
                                config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20))
        i = 0
        while not self._stop.is_set():
            i += 1
            started = time.perf_counter()
            try:
                out = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=f"t{n}-{i}")
                self.issued.append(out["Credentials"]["AccessKeyId"])
            except Exception as exc:  # noqa: BLE001 - every failure is what the test counts
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.latencies.append(time.perf_counter() - started)
            if self.pause:
                self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def trail_key_ids(data_dir: Path) -> set[str]:
    """Every access key id in the responseElements of the trail files delivered to
    ``DATA_DIR/trail`` (the credentials the trail says were issued)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "accessKeyId" and isinstance(item, str):
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in (data_dir / "trail").rglob("*.json.gz"):
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            walk(record.get("responseElements"))
    return found


def signed_call_ms(port: int, body: bytes = b"Action=GetCallerIdentity&Version=2011-06-15",
                   timeout: float = 5.0) -> tuple[int, float]:
    """One GetCallerIdentity on a new connection, signed in advance (nothing of the client's own
    first-use cost in the time): (HTTP status, milliseconds from connect to the whole answer)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "sts", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def listens(pid: int, port: int) -> bool:
    """``pid`` holds a socket listening on ``port`` (its fds' inodes against /proc/net/tcp)."""
    inodes = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def workers(server: Server) -> set[int]:
    """The server's worker processes that listen (the delivery process serves no socket; a
    worker still warming up does not listen yet)."""
    found = set()
    for child in children(server.proc.pid):
        try:
            if listens(child, server.port):
                found.add(child)
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    """Still running (not yet exited: a zombie has closed its files)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
