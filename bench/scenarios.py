"""What bench/run.py measures: targets, the request each one replays, the setup it needs, and the
performance claims of the project's issues that the results are judged against.

A *target* is one server configuration (OpenSTS, the trivial ASGI app or moto's server) plus one
STS action. Before the load, ``prepare`` provisions what that action needs on the running server
(an IAM role, an OIDC provider) and returns a function that builds the request wrk replays:

* GetCallerIdentity / GetSessionToken: SigV4-signed with the admin key (fresh per wrk run);
* AssumeRole: SigV4-signed, for a role whose trust policy allows account 111122223333, created with
  boto3 IAM ``create_role`` against the server itself (moto: against moto's IAM);
* AssumeRoleWithWebIdentity: unsigned, carrying one JWT minted by a real HTTPS OIDC issuer that runs
  on loopback inside the bench process (``tests/federation/idp.py``, the tests' issuer). OpenSTS
  trusts its trustme CA through ``serve --ca-bundle``, fetches discovery + JWKS once per worker and
  then serves every replay from its JWKS cache. moto accepts any token; it gets the same bytes.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

ACCOUNT_ID = "111122223333"
ADMIN_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MOTO_KEY = MOTO_SECRET = "testing"
MOTO_ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STS_VERSION = "2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

GCI, GST, AR, WEB = "GetCallerIdentity", "GetSessionToken", "AssumeRole", "AssumeRoleWithWebIdentity"
ACTIONS = (GCI, GST, AR, WEB)


@dataclass(frozen=True)
class Target:
    """One server configuration to load: how to start it and what to send it."""

    kind: str  # "opensts" | "trivial" | "moto" | "fleet" (a us-west-2 fleet node: bench/fleet_mode.py)
    action: str
    workers: int
    audit: bool = True  # opensts only: False adds `serve --no-audit`
    metrics: bool = True  # opensts only: False adds `serve --no-metrics` (--compare-metrics)

    @property
    def label(self) -> str:
        if self.kind == "moto":
            return f"moto {self.action}"
        if self.kind == "trivial":
            return f"trivial ASGI, {self.workers}w"
        if self.kind == "fleet":
            return f"fleet node us-west-2 {self.action}, {self.workers}w"
        return (f"opensts {self.action}, {self.workers}w" + ("" if self.audit else ", no audit")
                + ("" if self.metrics else ", no metrics"))

    @property
    def slug(self) -> str:
        return (f"{self.kind}-{self.workers}w-{self.action}" + ("" if self.audit else "-noaudit")
                + ("" if self.metrics else "-nometrics"))


def plan(wanted: set[str], actions: set[str], workers: list[int], scenario_workers: int) -> list[Target]:
    """Targets in run order (each round runs them all, interleaved).

    GetCallerIdentity runs at every ``workers`` count for OpenSTS and the trivial app (the worker
    evidence); the other scenarios run at ``scenario_workers`` only, to keep a round short.
    """
    t: list[Target] = []
    ops, triv, moto = "opensts" in wanted, "trivial" in wanted, "moto" in wanted
    for w in workers:
        if ops and GCI in actions:
            t.append(Target("opensts", GCI, w))
        if triv:
            t.append(Target("trivial", GCI, w))
    sw = scenario_workers
    if ops and GCI in actions:
        t.append(Target("opensts", GCI, sw, audit=False))  # claim 3: audit on vs off
    if ops and GST in actions:
        t.append(Target("opensts", GST, sw))
    if ops and AR in actions:
        t += [Target("opensts", AR, sw), Target("opensts", AR, sw, audit=False)]
    if ops and WEB in actions:
        t += [Target("opensts", WEB, sw), Target("opensts", WEB, sw, audit=False)]
    if moto:
        t += [Target("moto", a, 1) for a in (GCI, AR, WEB) if a in actions]
    return t


def plan_fleet(actions: set[str], workers: int) -> list[Target]:
    """``--fleet``: the single server and a us-west-2 fleet node, side by side, per action."""
    return [Target(kind, a, workers) for a in (GCI, AR) if a in actions for kind in ("opensts", "fleet")]


def signing_region(target: Target) -> str:
    """A fleet node of us-west-2 serves us-west-2's endpoints: a bare URL is the regional endpoint
    of the Region the request is signed for."""
    return "us-west-2" if target.kind == "fleet" else REGION


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------
Request = tuple[dict[str, str], str]  # headers, body


def signed(url: str, body: str, key: str, secret: str, region: str = REGION) -> Request:
    """Headers and body of one SigV4-signed STS Query request, as an SDK would send it."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(key, secret), "sts", region).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(url).netloc  # what botocore signed, and what wrk must send
    return headers, body


def unsigned(url: str, body: str) -> Request:
    return {"Content-Type": FORM, "Host": urlsplit(url).netloc}, body


def form(action: str, **params: str) -> str:
    return urlencode({"Action": action, "Version": STS_VERSION, **params})


def iam_client(url: str, kind: str) -> Any:
    import boto3
    from botocore.config import Config

    key, secret = (MOTO_KEY, MOTO_SECRET) if kind == "moto" else (ADMIN_KEY, ADMIN_SECRET)
    return boto3.client("iam", endpoint_url=url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))


def trust_doc(principal: dict[str, str], action: str, condition: dict | None = None) -> str:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def prepare(target: Target, url: str, issuer: Any | None) -> Callable[[], Request]:
    """Provision what ``target.action`` needs on the running server; return the request builder.

    The builder is called before every wrk run, so SigV4 signatures are always fresh.
    """
    key, secret = (MOTO_KEY, MOTO_SECRET) if target.kind == "moto" else (ADMIN_KEY, ADMIN_SECRET)
    region = signing_region(target)
    if target.action in (GCI, GST) or target.kind == "trivial":
        body = form(target.action)
        return lambda: signed(url, body, key, secret, region)
    iam = iam_client(url, target.kind)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    if target.action == AR:
        doc = trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "sts:AssumeRole")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"]
        body = form(AR, RoleArn=arn, RoleSessionName="bench")
        return lambda: signed(url, body, key, secret, region)
    if target.action == WEB:
        if issuer is None:
            raise RuntimeError("AssumeRoleWithWebIdentity needs the OIDC issuer")
        if target.kind == "opensts":
            provider = iam.create_open_id_connect_provider(
                Url=issuer.url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
            )["OpenIDConnectProviderArn"]
            cond = {"StringEquals": {f"{issuer.host_path}:aud": "sts.amazonaws.com"}}
        else:  # moto accepts any token and any trust policy
            provider, cond = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:oidc-provider/{issuer.host_path}", None
        doc = trust_doc({"Federated": provider}, "sts:AssumeRoleWithWebIdentity", cond)
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"]
        token = issuer.token()  # valid 1 h: longer than any target's runs
        body = form(WEB, RoleArn=arn, RoleSessionName="bench", WebIdentityToken=token)
        return lambda: unsigned(url, body)
    raise ValueError(target.action)


def start_issuer(folder: Path) -> Any:
    """The tests' OIDC issuer (HTTPS on 127.0.0.1, free port, trustme CA), in a thread of this process."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.federation.idp import OidcIssuer

    return OidcIssuer(folder)


# --------------------------------------------------------------------------------------------
# The issues' claims
# --------------------------------------------------------------------------------------------
P99_LIMIT_MS = 20.0
TOP_CONNS = 32


@dataclass(frozen=True)
class Claim:
    """``opensts <action>`` (audit on, or off) compared with a reference row at every connection count."""

    title: str
    action: str
    ref_kind: str  # "moto" | "trivial" | "opensts-noaudit"
    ref_action: str
    minimum: float  # ratio opensts req/s ÷ reference req/s
    percent: bool  # print the ratio as a percentage (else as N×)
    p99: bool = False  # also: p99 < 20 ms at 32 connections
    kind: str = "opensts"  # the measured side ("fleet": a us-west-2 fleet node)


CLAIMS = [
    Claim("1. GetCallerIdentity ≥ 30× moto", GCI, "moto", GCI, 30.0, False, p99=True),
    Claim("1. GetCallerIdentity ≥ 50 % of the trivial ASGI app (same workers)", GCI, "trivial", GCI, 0.50, True),
    Claim("2. AssumeRole ≥ 20× moto", AR, "moto", AR, 20.0, False, p99=True),
    Claim("3. AssumeRole with audit ≥ 70 % of AssumeRole with --no-audit", AR, "opensts-noaudit", AR, 0.70, True),
    Claim("3. GetCallerIdentity with audit vs --no-audit (shown; same 70 % bar)", GCI, "opensts-noaudit", GCI, 0.70,
          True),
    Claim("4. AssumeRoleWithWebIdentity (cached JWKS) ≥ 5× moto", WEB, "moto", WEB, 5.0, False),
    Claim("5. fleet node in us-west-2 (replica database, Redis quotas) ≥ 85 % of the single server: AssumeRole",
          AR, "opensts", AR, 0.85, True, kind="fleet"),
    Claim("5. fleet node in us-west-2 (replica database, Redis quotas) ≥ 85 % of the single server: "
          "GetCallerIdentity", GCI, "opensts", GCI, 0.85, True, kind="fleet"),
]
