"""A session policy with a backtracking-bait wildcard answers promptly and correctly (boto3, real server).

Before wildcards were matched without regexes, ``user/*a*a…*a*b`` against a 60-character name of
``a``s never finished: one caller allowed to pass a session policy pinned a worker.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server

BAIT = f"arn:aws:iam::{ACCOUNT_ID}:user/" + "*a" * 12 + "*b"  # 13 stars
PROMPT = 3.0  # seconds per call, network and signing included (a match itself takes microseconds)


def _policy(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture(scope="module")
def bait_session(server: Server) -> Any:
    """An IAM client on a role session whose session policy allows iam:GetUser only on BAIT."""
    iam = server.client("iam")
    role = f"bait-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="all-users", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    for name in ("a" * 60, "a" * 59 + "b"):
        iam.create_user(UserName=name)
    creds = server.client("sts").assume_role(RoleArn=arn, RoleSessionName="bait", Policy=_policy(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": BAIT}))["Credentials"]
    return server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         token=creds["SessionToken"], read_timeout=30)


def test_non_matching_name_is_denied_promptly(bait_session: Any) -> None:
    name = "a" * 60
    start = time.monotonic()
    with pytest.raises(ClientError) as exc:
        bait_session.get_user(UserName=name)
    assert time.monotonic() - start < PROMPT
    error = exc.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert f"iam:GetUser on resource: arn:aws:iam::{ACCOUNT_ID}:user/{name}" in error["Message"]


def test_matching_name_is_allowed_promptly(bait_session: Any) -> None:
    name = "a" * 59 + "b"
    start = time.monotonic()
    user = bait_session.get_user(UserName=name)["User"]
    assert time.monotonic() - start < PROMPT
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"
