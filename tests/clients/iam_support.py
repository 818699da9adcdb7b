"""Helpers shared by the IAM credential-family tests (instance profiles, logins, certificates …):
an account per module, users with their own keys, AWS error triples, the AWS CLI, and the
bytes a server wrote at rest (audit journal, trail, database, log) to prove no secret is there."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def new_account(server: Server, account: str) -> dict[str, str]:
    return json.loads(server.cli("account", "create", account, "--json").stdout)


def client_for(server: Server, key: dict[str, str], service: str = "iam") -> Any:
    return server.client(service, key=key["AccessKeyId"], secret=key["SecretAccessKey"])


@pytest.fixture(scope="module")
def admin_key(request: pytest.FixtureRequest, server: Server) -> dict[str, str]:
    """The administrator key of the module's own account (its ``ACCOUNT``)."""
    return new_account(server, request.module.ACCOUNT)


@pytest.fixture(scope="module")
def iam(server: Server, admin_key: dict[str, str]) -> Any:
    return client_for(server, admin_key)


@pytest.fixture(scope="module")
def other_iam(request: pytest.FixtureRequest, server: Server) -> Any:
    """An IAM client of another account (the module's ``OTHER``): cross-account refusals."""
    return client_for(server, new_account(server, request.module.OTHER))


def user_client(server: Server, iam: Any, name: str, policy: dict[str, Any] | None = None) -> Any:
    """A new user of ``iam``'s account (with ``policy`` inline), and an IAM client signed by it."""
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def aws_cli(server: Server, key: dict[str, str], *args: str, check: bool = True) -> Any:
    env = dict(server.env, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--endpoint-url", server.url,
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
    if not check:
        return out
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def at_rest(server: Server) -> list[bytes]:
    """Every byte the server wrote: audit logs and index, delivered trail files, the database
    (SQLite, WAL included) and the server's own log (stdout + stderr)."""
    time.sleep(2.5)  # let the delivery process index and deliver
    blobs = [p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file() and not p.name.endswith(".gz")]
    blobs += [gzip.decompress(p.read_bytes()) for p in server.data_dir.rglob("*.json.gz")]
    blobs.append(server.log().encode())
    return blobs


def recorded_events(server: Server, event_name: str) -> list[dict[str, Any]]:
    """The audit records of ``event_name`` in the journal files (JSON lines)."""
    found = []
    for path in (server.data_dir / "audit").rglob("*"):
        if not path.is_file():
            continue
        for line in path.read_bytes().split(b"\n"):
            line = line.strip(b"\x00").strip().split(b"\t", 1)[-1]  # "index header<TAB>record"
            if not line.startswith(b"{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("eventName") == event_name:
                found.append(record)
    return found


__all__ = ["error", "new_account", "client_for", "user_client", "allow", "aws_cli", "at_rest", "recorded_events"]
