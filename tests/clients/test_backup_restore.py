"""`opensts backup` under load and `opensts restore` into an empty folder (docs/OPERATIONS.md).

Threads keep creating users, roles and access keys and assuming roles while the backup is made;
the backup, restored into a new data folder with its master key and served, holds every user,
role, key and policy that existed before the backup began, and credentials issued before it
(access keys and session tokens) work against the restored server.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT_ID, TEST_DATABASE_ENV, Server, start_server, stop_server

pytestmark = pytest.mark.skipif(bool(os.environ.get(TEST_DATABASE_ENV)), reason="backs up the embedded SQLite store")

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]})


class Made:
    """What one load thread created, with when each call finished."""

    def __init__(self) -> None:
        self.users: list[tuple[float, str, dict[str, str]]] = []  # (done, name, access key)
        self.roles: list[tuple[float, str]] = []
        self.tokens: list[tuple[float, dict[str, Any]]] = []


def _load(server: Server, made: Made, stop: threading.Event, errors: list[BaseException]) -> None:
    iam, sts = server.client("iam"), server.client()
    try:
        while not stop.is_set():
            name = f"load-{uuid.uuid4().hex[:10]}"
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="sts", PolicyDocument=POLICY)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            made.users.append((time.time(), name, key))
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
            made.roles.append((time.time(), name))
            creds = sts.assume_role(RoleArn=role, RoleSessionName="load")["Credentials"]
            made.tokens.append((time.time(), creds))
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _session(server: Server, creds: dict[str, Any]) -> Any:
    return server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


def test_a_backup_made_under_load_restores_every_entity_and_credential(tmp_path: Path) -> None:
    source = start_server(tmp_path / "data", args=("--workers", "2"))
    made = [Made() for _ in range(3)]
    stop, errors = threading.Event(), []
    threads = [threading.Thread(target=_load, args=(source, m, stop, errors)) for m in made]
    try:
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60
        while not all(len(m.tokens) >= 2 for m in made) and not errors and time.monotonic() < deadline:
            time.sleep(0.1)  # every thread well under way
        began = time.time()
        out = source.cli("backup", str(tmp_path / "backup.tgz"))
        time.sleep(0.5)  # the load goes on after the backup too
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        stop_server(source)
    assert not errors, errors
    assert "not included: the master key sha256:" in out.stdout
    users = [u for m in made for u in m.users if u[0] < began]
    roles = [r for m in made for r in m.roles if r[0] < began]
    tokens = [t for m in made for t in m.tokens if t[0] < began]
    assert users and roles and tokens

    with tarfile.open(tmp_path / "backup.tgz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert "files/master.key" not in names and "files/credentials" not in names and "master.key" not in names
    assert manifest["schema_revision"] and manifest["master_key"]["source"].endswith("master.key")
    assert any(n.startswith("files/audit/") for n in names)  # the journal travels with the database

    restored_dir = tmp_path / "restored"
    done = subprocess.run([sys.executable, "-m", "opensts", "restore", str(tmp_path / "backup.tgz"), "--data-dir",
                           str(restored_dir), "--master-key-file", str(tmp_path / "data" / "master.key")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(restored_dir / "opensts.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restored = start_server(restored_dir)
    try:
        iam = restored.client("iam")
        for _, name, key in users:
            assert iam.get_user_policy(UserName=name, PolicyName="sts")["PolicyName"] == "sts"
            assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [key["AccessKeyId"]]
            who = restored.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()
            assert who["Arn"].endswith(f":user/{name}")
        for _, name in roles:
            assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
        for _, creds in tokens:
            assert ":assumed-role/" in _session(restored, creds).get_caller_identity()["Arn"]
    finally:
        stop_server(restored)
