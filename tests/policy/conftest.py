"""Shared helpers for the policy-engine tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opensts.policy import PolicySet, Principal, RequestContext, evaluate

HERE = Path(__file__).resolve().parent
#: The project's policy cases (a copy of the spec's ``policy-cases.jsonl``, kept in the repository).
VENDORED_CASES = HERE / "data" / "policy-cases.jsonl"

ACCT = "111122223333"
OTHER = "444455556666"
ROLE = f"arn:aws:iam::{ACCT}:role/Target"
ALICE = Principal.user(f"arn:aws:iam::{ACCT}:user/alice", "AIDAALICEEXAMPLE1")
BOB = Principal.user(f"arn:aws:iam::{OTHER}:user/bob", "AIDABOBEXAMPLE111")
DEV_SESSION = Principal.role_session(f"arn:aws:sts::{ACCT}:assumed-role/Dev/s1",
                                     f"arn:aws:iam::{ACCT}:role/Dev", "AROADEVEXAMPLE111")


def cases_path() -> Path:
    return VENDORED_CASES


def load_cases() -> list[dict[str, Any]]:
    with cases_path().open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    d: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        d["Version"] = version
    return d


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def trust_stmt(principal: Any, action: Any = "sts:AssumeRole", effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, **extra}


def decide(policies: dict[str, Any], action: str, resource: str = ROLE, principal: Principal = ALICE,
           keys: dict[str, Any] | None = None, **kw: Any) -> str:
    ps = PolicySet.from_dict(policies, strict=True)
    ctx = RequestContext(action, resource, principal, keys or {}, **kw)
    fast = evaluate(ps, ctx).decision
    slow = evaluate(ps, ctx, explain=True).decision
    assert fast == slow, "explain and fast paths disagree"
    return fast


def cond_decide(condition: dict[str, Any], keys: dict[str, Any], version: str = "2012-10-17") -> str:
    """Decision of an identity policy allowing s3:GetObject under ``condition``."""
    return decide({"identity": [doc(allow("s3:GetObject", "*", Condition=condition), version=version)]},
                  "s3:GetObject", "arn:aws:s3:::b/k", ALICE, keys)


@pytest.fixture
def cases() -> list[dict[str, Any]]:
    return load_cases()
