"""Rotating keys while the server runs (docs/OPERATIONS.md), with boto3 against a
real two-worker server and the `opensts` command:

- `opensts keys rotate`: new tokens carry the new key's id within a couple of seconds on every
  worker; tokens sealed before keep working; once the retention has passed (the command's clock
  moved with OPENSTS_CLOCK_OFFSET_SECONDS) `keys prune` removes the old key and its tokens get
  the error of any unknown token;
- `opensts master-key rotate`: access keys, old and new session tokens and MFA keep working; the
  old key opens nothing in the database any more;
- the commands' errors are one line, exit status 1.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from sqlalchemy import create_engine, select, text

from opensts.auth.keyring import RETENTION
from opensts.auth.session_token import token_kid
from opensts.store.cipher import SecretCipher
from opensts.store.master_key import SEALED
from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server

INVALID = ("InvalidClientTokenId", "The security token included in the request is invalid.")


def _trust() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}]})


def _session(server: Server, creds: dict[str, Any]) -> Any:
    return server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


def _kids(server: Server, role: str, calls: int = 8) -> set[str]:
    """The key ids of ``calls`` new tokens, each from a new client (a new connection: both workers)."""
    return {token_kid(server.client().assume_role(RoleArn=role, RoleSessionName="kk")["Credentials"]["SessionToken"])
            for _ in range(calls)}


def _error(call: Any) -> tuple[str, str]:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"]
    return ("", "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(tmp_path_factory.mktemp("keys") / "data", args=("--workers", "2"))
    yield srv
    stop_server(srv)


def test_rotate_seals_new_tokens_with_the_new_key_and_old_tokens_work_until_pruned(server: Server) -> None:
    iam = server.client("iam")
    role = iam.create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=_trust())["Role"]["Arn"]
    before = server.client().assume_role(RoleArn=role, RoleSessionName="before")["Credentials"]
    old_kid = token_kid(before["SessionToken"])
    region = old_kid.split("/")[0]
    assert _kids(server, role) == {old_kid}  # both workers seal with it

    out = server.cli("keys", "rotate", "--region", region).stdout
    line = next(x for x in out.splitlines() if x.startswith(f"{region}: "))
    new_kid = line.split()[3]
    assert new_kid != old_kid and f"(retired {old_kid})" in line
    started = time.monotonic()
    while _kids(server, role) != {new_kid}:
        assert time.monotonic() - started < 3, "a worker still seals with the retired key"
        time.sleep(0.2)
    assert _session(server, before).get_caller_identity()["Arn"].endswith("/before")  # the old token still opens

    rows = [r.split("\t") for r in server.cli("keys", "list").stdout.splitlines()[1:]]
    assert all(len(r) == 5 for r in rows)
    states = {r[2]: r[4] for r in rows}
    assert states[new_kid] == "current" and states[old_kid].startswith("retired ")
    assert {r[4] for r in rows if r[0] == "oidc-signing"} >= {"current", "next"}
    assert sum(1 for r in rows if r[0] == "sealing" and r[1] == region and r[4] == "current") == 1

    assert server.cli("keys", "prune").stdout.strip() == "removed 0 retired keys"  # not yet: tokens may live 36 h
    later = {**server.env, "OPENSTS_CLOCK_OFFSET_SECONDS": str(RETENTION + 60)}
    pruned = subprocess.run([sys.executable, "-m", "opensts", "keys", "prune", "--data-dir", str(server.data_dir)],
                            env=later, capture_output=True, text=True, check=True, timeout=60).stdout
    assert old_kid in pruned
    assert old_kid not in server.cli("keys", "list").stdout
    started = time.monotonic()
    while True:  # every worker forgets it within a second or so
        errors = {_error(_session(server, before).get_caller_identity) for _ in range(8)}
        if errors == {INVALID}:
            break
        assert time.monotonic() - started < 3, errors
        time.sleep(0.2)
    fresh = server.client().assume_role(RoleArn=role, RoleSessionName="after")["Credentials"]
    assert _session(server, fresh).get_caller_identity()["Arn"].endswith("/after")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "opensts", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    _cli("migrate", "--data-dir", str(data)).check_returncode()
    return data


CASES = [
    (("keys", "rotate", "--region", "mars-north-1"), "--region mars-north-1: unknown Region"),
    (("keys", "list", "--data-dir", "{empty}"), "no database in"),
    (("keys", "rotate", "--data-dir", "{empty}"), "no database in"),
    (("master-key", "rotate", "--new-key-file", "{bad_key}"), "expected base64 of 32 bytes"),
    (("master-key", "rotate", "--new-key-file", "{data}/master.key"), "that is already the master key"),
    (("restore", "{data}/master.key", "--data-dir", "{empty}"), "is not an OpenSTS backup"),
    (("restore", "{backup}", "--data-dir", "{data}"), "is not an empty folder"),
    (("restore", "{backup}", "--data-dir", "{empty}", "--master-key-file", "{other_key}"), "is not the backup's master key"),
    (("backup", "{out}", "--env", "OPENSTS_DATABASE_URL=postgresql+psycopg://u@127.0.0.1:9/x"), "pg_dump or pg_basebackup"),
    (("restore", "{backup}", "--data-dir", "{empty}", "--env", "OPENSTS_DATABASE_URL=postgresql+psycopg://u@h/x"),
     "restores the embedded SQLite store"),
    (("master-key", "rotate", "--new-key-file", "{bad_key}", "--data-dir", "{empty}"), "no database in"),
    (("keys", "prune", "--data-dir", "{empty}"), "no database in"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CASES)])
def test_command_errors_are_one_line(folder: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "bad.key").write_text("not a key\n")
    (tmp_path / "other.key").write_text(base64.b64encode(b"k" * 32).decode())
    backup = tmp_path / "b.tgz"
    _cli("backup", str(backup), "--data-dir", str(folder)).check_returncode()
    names = {"empty": tmp_path / "empty", "bad_key": tmp_path / "bad.key", "data": folder, "backup": backup,
             "other_key": tmp_path / "other.key", "out": tmp_path / "out.tgz"}
    argv, env = [a.format(**{k: str(v) for k, v in names.items()}) for a in args], {}
    if "--env" in argv:
        i = argv.index("--env")
        env = dict([argv[i + 1].split("=", 1)])
        del argv[i:i + 2]
    if "--data-dir" not in argv:
        argv += ["--data-dir", str(folder)]
    done = _cli(*argv, env=env)
    assert done.returncode == 1, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("opensts: ") and message in lines[0], done.stderr
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())


def _sealed_rows(server: Server) -> list[tuple[str, bytes, str]]:
    """Every sealed value of the server's database, read directly (SQLite or PostgreSQL)."""
    url = server.env.get("OPENSTS_DATABASE_URL") or f"sqlite:///{server.data_dir / 'opensts.db'}"
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [(f"{col.table.name}.{col.column}", bytes(blob), col.context(pk)) for col in SEALED
                for pk, blob in conn.execute(select(col.table.c[col.key], col.table.c[col.column]))]
        check = conn.execute(text("SELECT value FROM meta WHERE key = 'master_key_check'")).scalar_one()
    engine.dispose()
    return [*rows, ("meta.master_key_check", base64.b64decode(check), "master_key_check")]


def _opens(key: bytes, blob: bytes, context: str) -> bool:
    try:
        SecretCipher(key).open(blob, context)
    except InvalidTag:
        return False
    return True


def test_master_key_rotation_while_serving(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", args=("--workers", "2"))
    try:
        iam = srv.client("iam")
        name = f"u-{uuid.uuid4().hex[:6]}"
        user_arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
        seed = device["Base32StringSeed"]
        totp = pyotp.TOTP(seed.decode() if isinstance(seed, bytes) else seed)
        now = time.time()
        iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                              AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
        role = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument=_trust())["Role"]["Arn"]
        before = srv.client().assume_role(RoleArn=role, RoleSessionName="before")["Credentials"]
        old_key = base64.b64decode((srv.data_dir / "master.key").read_bytes())
        srv.cli("keys", "rotate", "--region", "eu-west-1")  # also makes the outbound issuer's signing keys

        out = srv.cli("master-key", "rotate", "--new-key-file", str(tmp_path / "new.key"), "--sweep-after", "1.5")
        assert "re-sealed" in out.stdout
        new_key = base64.b64decode((tmp_path / "new.key").read_bytes())
        assert base64.b64decode((srv.data_dir / "master.key").read_bytes()) == new_key
        assert not (srv.data_dir / "master.key.next").exists()

        user = lambda: srv.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])  # noqa: E731
        for _ in range(6):  # new connections: both workers
            assert user().get_caller_identity()["Arn"] == user_arn
            assert _session(srv, before).get_caller_identity()["Arn"].endswith("/before")
            fresh = srv.client().assume_role(RoleArn=role, RoleSessionName="after")["Credentials"]
            assert _session(srv, fresh).get_caller_identity()["Arn"].endswith("/after")
        mfa = user().get_session_token(SerialNumber=device["SerialNumber"], TokenCode=totp.at(time.time() + 30))
        assert _session(srv, mfa["Credentials"]).get_caller_identity()["Arn"] == user_arn
        later = iam.create_access_key(UserName=name)["AccessKey"]  # sealed by a worker after the rotation
        assert srv.client(key=later["AccessKeyId"], secret=later["SecretAccessKey"]).get_caller_identity()

        rows = _sealed_rows(srv)
        kinds = {r[0] for r in rows}
        assert {"access_keys.secret_sealed", "sealing_keys.key_sealed", "mfa_devices.seed_sealed",
                "federation_signing_keys.key_sealed"} <= kinds
        assert [r[0] for r in rows if _opens(old_key, r[1], r[2])] == []
        assert [r[0] for r in rows if not _opens(new_key, r[1], r[2])] == []
    finally:
        stop_server(srv)
    restarted = start_server(tmp_path / "data")  # a later start uses the new key file
    try:
        assert restarted.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()
    finally:
        stop_server(restarted)
