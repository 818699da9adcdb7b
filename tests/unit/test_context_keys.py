"""GetContextKeysFor*Policy and ListPoliciesGrantingServiceAccess, table-driven over the shapes a
policy can refer to keys and grant a service in (service/iam/context_keys.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opensts.policy import parse_policy
from opensts.service.iam.context_keys import _grants, context_keys


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> Any:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), "identity", strict=False)


def st(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:*", "Resource": "*", **extra}


KEY_CASES = [
    ("none", [doc(st())], []),
    ("condition keys in order", [doc(st(Condition={"StringEquals": {"s3:prefix": "a", "aws:SourceVpc": "v"}}))],
     ["s3:prefix", "aws:SourceVpc"]),
    ("variables in resources first", [doc(st(Resource="arn:aws:s3:::b/${aws:username}/*",
                                             Condition={"Bool": {"aws:SecureTransport": "true"}}))],
     ["aws:username", "aws:SecureTransport"]),
    ("variables in values", [doc(st(Condition={"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team}"}}))],
     ["s3:prefix", "aws:PrincipalTag/team"]),
    ("default values and specials", [doc(st(Resource="arn:aws:s3:::${aws:userid, 'x'}${*}${$}${?}"))],
     ["aws:userid"]),
    ("2008 documents have no variables", [doc(st(Resource="arn:aws:s3:::${aws:username}"), version="2008-10-17")], []),
    ("once each, case-insensitively", [doc(st(Condition={"StringEquals": {"aws:UserName": "a"}})),
                                       doc(st(Condition={"StringLike": {"AWS:username": "b"}}))], ["aws:UserName"]),
    ("NotResource", [doc({"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::${aws:username}"})],
     ["aws:username"]),
]


@pytest.mark.parametrize("policies,expected", [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_context_keys(policies: list[Any], expected: list[str]) -> None:
    assert context_keys(policies) == expected


GRANT_CASES = [
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "s3", True),
    ({"Effect": "Allow", "Action": "S3:get*", "Resource": "*"}, "s3", True),
    ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "ec2", True),
    ({"Effect": "Allow", "Action": "s*:*", "Resource": "*"}, "sqs", True),
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, "ec2", False),
    ({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, "s3", False),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "s3", True),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "iam", False),
    ({"Effect": "Allow", "NotAction": "iam:CreateUser", "Resource": "*"}, "iam", True),
]


@pytest.mark.parametrize("statement,service,granted", GRANT_CASES)
def test_grants(statement: dict[str, Any], service: str, granted: bool) -> None:
    assert _grants(doc(statement), service) is granted
