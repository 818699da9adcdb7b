"""Micro-benchmark of the policy engine: µs per evaluation for a few typical requests.

Run: ``.venv/bin/python bench/policy_bench.py [--seconds S]``.  Policies are compiled once (as the
server does through the parse cache); each case is timed with ``timeit`` over enough iterations
to take ~S/20 seconds, best of 20 repeats (the minimum filters out noise from other processes
on a shared machine).  The target (issue) is < 20 µs for a typical trust policy
of 3 statements and 4 conditions.
"""

from __future__ import annotations

import argparse
import platform
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opensts.policy import (  # noqa: E402
    PolicySet,
    Principal,
    RequestContext,
    authorize_assume_role,
    clear_compile_cache,
    evaluate,
    parse_policy,
)

TRUST_3x4 = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "CrossAccountWithExternalId", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole",
     "Condition": {"StringEquals": {"sts:ExternalId": "Example987"},
                   "Bool": {"aws:MultiFactorAuthPresent": "true"}}},
    {"Sid": "SameAccountDevs", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:role/Dev"]},
     "Action": ["sts:AssumeRole", "sts:TagSession"],
     "Condition": {"StringLike": {"sts:RoleSessionName": "${aws:username}-*"}}},
    {"Sid": "DenyOutsideRegions", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
     "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}}
  ]
}"""

IDENTITY = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "arn:aws:iam::111122223333:role/*"},
  {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::corp-bucket/${aws:username}/*"},
  {"Effect": "Deny", "NotAction": ["sts:*", "s3:*"], "Resource": "*"}
]}"""

OIDC_TRUST = """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:GitHubOrg/*"}}}]}"""

ROLE = "arn:aws:iam::111122223333:role/Target"


def cases() -> list[tuple[str, PolicySet, RequestContext, bool]]:
    trust = parse_policy(TRUST_3x4, "trust")
    ident = parse_policy(IDENTITY, "identity")
    bob = Principal.user("arn:aws:iam::444455556666:user/bob", "AIDABOBEXAMPLE111")
    alice = Principal.user("arn:aws:iam::111122223333:user/alice", "AIDAALICEEXAMPLE1")
    base_keys = {"aws:RequestedRegion": "us-east-1", "aws:SecureTransport": "true",
                 "aws:CurrentTime": "2025-01-01T00:00:00Z", "aws:EpochTime": "1735689600"}
    return [
        ("trust 3 stmts/4 conds, cross-account, allow",
         PolicySet(identity=(ident,), trust=trust),
         RequestContext("sts:AssumeRole", ROLE, bob, {**base_keys, "sts:ExternalId": "Example987",
                                                      "aws:MultiFactorAuthPresent": "true"}), True),
        ("trust 3 stmts/4 conds, same-account user, allow",
         PolicySet(trust=trust),
         RequestContext("sts:AssumeRole", ROLE, alice, {**base_keys, "aws:username": "alice",
                                                        "sts:RoleSessionName": "alice-cli"}), True),
        ("trust 3 stmts/4 conds, region deny",
         PolicySet(trust=trust),
         RequestContext("sts:AssumeRole", ROLE, alice, {**base_keys, "aws:RequestedRegion": "ap-south-1",
                                                        "aws:username": "alice",
                                                        "sts:RoleSessionName": "alice-cli"}), False),
        ("OIDC web identity trust, allow",
         PolicySet(trust=parse_policy(OIDC_TRUST, "trust")),
         RequestContext("sts:AssumeRoleWithWebIdentity", ROLE,
                        Principal.web_identity("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"),
                        {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                         "token.actions.githubusercontent.com:sub": "repo:GitHubOrg/app:ref:refs/heads/main"}), True),
        ("identity only (3 stmts, variable resource)",
         PolicySet(identity=(ident,)),
         RequestContext("s3:GetObject", "arn:aws:s3:::corp-bucket/alice/report.csv", alice,
                        {"aws:username": "alice"}), True),
    ]


def _best(fn, seconds: float) -> float:
    """Best-of-20 µs per call."""
    timer = timeit.Timer(fn)
    n, t = timer.autorange()
    n = max(1, int(n * (seconds / 20) / max(t, 1e-9)))
    return min(timer.repeat(repeat=20, number=n)) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0, help="approximate seconds per case")
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.system()})")
    rows = cases()
    for name, ps, ctx, expect in rows:
        assert evaluate(ps, ctx).allowed is expect, name
        best = _best(lambda ps=ps, ctx=ctx: evaluate(ps, ctx), args.seconds)
        print(f"{best:8.2f} µs/eval  {name}")
    # extra rows: explain mode, AssumeRole with TagSession, cold compile, cached parse
    name, ps, ctx, _ = rows[1]
    print(f"{_best(lambda: evaluate(ps, ctx, explain=True), args.seconds):8.2f} µs/eval  "
          "same-account trust with explain=True trace")
    print(f"{_best(lambda: authorize_assume_role(ps, ctx, tags=True), args.seconds):8.2f} µs/call  "
          "authorize_assume_role (AssumeRole + TagSession)")
    print(f"{_best(lambda: parse_policy(TRUST_3x4, 'trust'), args.seconds):8.2f} µs/call  "
          "parse_policy cache hit")

    def cold() -> None:
        clear_compile_cache()
        parse_policy(TRUST_3x4, "trust")
    print(f"{_best(cold, args.seconds):8.2f} µs/call  parse + validate + compile (cold)")


if __name__ == "__main__":
    main()
