"""A decision cached before an IAM write reflects the write on every worker (issue 19 item 2).

Invalidation is targeted now (store/changes.py, store/cache.py): each write drops only what it
touched. This is the proof that "only" never means "too little": table-driven over every kind of
IAM write that changes an authentication or authorization decision, against a real server with
two worker processes. Each case warms its decision (on fresh connections, so both workers cache
it), makes its write, and then must see the new decision on fresh connections within a few
seconds (each worker checks the change log once a second). The cases run side by side, so the
whole table waits for one settling period, not one per case.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server

ALLOW_ASSUME = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
ALLOW_GET_ROLE = {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}
ONLY_S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
ROOT_TRUST = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
REFLECT_WITHIN = 4.0  # seconds: the 1-s check interval, plus a loaded 2-core machine's scheduling
PROBES = 6  # fresh connections per check: both workers are asked (P(all on one) = 1/32)


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("targeted"), args=("--workers", "2"))
    yield server
    stop_server(server)


def closing(client: Any) -> Any:
    """Every request on a new connection: the kernel spreads them over the workers."""
    client.meta.events.register("before-send", lambda request, **_: request.headers.__setitem__("Connection", "close"))
    return client


@dataclass
class World:
    """One case's own user (with a key), role and names, so cases never touch each other."""

    srv: Server
    iam: Any
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    key: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return f"u-{self.tag}"

    @property
    def role(self) -> str:
        return f"r-{self.tag}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{self.role}"

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.user}"

    def make(self, trust: dict[str, Any] | None = None) -> World:
        self.iam.create_user(UserName=self.user)
        self.key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        self.iam.create_role(RoleName=self.role, AssumeRolePolicyDocument=doc(trust or ROOT_TRUST))
        return self

    def policy(self, name: str, *statements: dict[str, Any]) -> str:
        return self.iam.create_policy(PolicyName=f"{name}-{self.tag}", PolicyDocument=doc(*statements))["Policy"]["Arn"]

    def assume(self) -> str:
        """The user's AssumeRole of its role: allowed | denied | invalid (the key)."""
        if "sts" not in self.clients:
            self.clients["sts"] = closing(self.srv.client("sts", key=self.key["AccessKeyId"],
                                                          secret=self.key["SecretAccessKey"]))
        sts = self.clients["sts"]
        return _outcome(lambda: sts.assume_role(RoleArn=self.role_arn, RoleSessionName="probe"))

    def open_session(self) -> None:
        """A session of the role (the user may assume it), for the role-policy cases."""
        self.iam.put_user_policy(UserName=self.user, PolicyName="assume", PolicyDocument=doc(ALLOW_ASSUME))
        sts = self.srv.client("sts", key=self.key["AccessKeyId"], secret=self.key["SecretAccessKey"])
        for _ in range(50):  # the user's key is new: the other worker may not have seen it yet
            try:
                self.session = sts.assume_role(RoleArn=self.role_arn, RoleSessionName="session")["Credentials"]
                return
            except ClientError:
                time.sleep(0.1)
        raise AssertionError("could not open the role's session")

    def session_get_role(self) -> str:
        """The role's session calling iam:GetRole (decided by the role's policies)."""
        if "iam" not in self.clients:
            self.clients["iam"] = closing(self.srv.client("iam", key=self.session["AccessKeyId"],
                                                          secret=self.session["SecretAccessKey"],
                                                          token=self.session["SessionToken"]))
        iam = self.clients["iam"]
        return _outcome(lambda: iam.get_role(RoleName=self.role))


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
        return "allowed"
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        return {"AccessDenied": "denied", "InvalidClientTokenId": "invalid"}.get(code, code)


@dataclass
class Case:
    name: str
    setup: Callable[[World], None]
    write: Callable[[World], None]
    before: str
    after: str
    probe: str = "assume"  # or "session"


def _version_to_s3(w: World, arn: str) -> None:
    w.iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ONLY_S3), SetAsDefault=False)
    w.iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")


def _group(w: World, inline: bool) -> None:
    w.iam.create_group(GroupName=f"g-{w.tag}")
    w.iam.add_user_to_group(GroupName=f"g-{w.tag}", UserName=w.user)
    if inline:
        w.iam.put_group_policy(GroupName=f"g-{w.tag}", PolicyName="p", PolicyDocument=doc(ALLOW_ASSUME))
    else:
        w.iam.attach_group_policy(GroupName=f"g-{w.tag}", PolicyArn=w.policy("gp", ALLOW_ASSUME))


def _user_managed(w: World) -> None:
    w.iam.attach_user_policy(UserName=w.user, PolicyArn=w.policy("up", ALLOW_ASSUME))


def _user_inline(w: World, statement: dict[str, Any] = ALLOW_ASSUME) -> None:
    w.iam.put_user_policy(UserName=w.user, PolicyName="p", PolicyDocument=doc(statement))


def _role_inline(w: World) -> None:
    w.iam.put_role_policy(RoleName=w.role, PolicyName="p", PolicyDocument=doc(ALLOW_GET_ROLE))
    w.open_session()


def _role_managed(w: World) -> None:
    w.iam.attach_role_policy(RoleName=w.role, PolicyArn=w.policy("rp", ALLOW_GET_ROLE))
    w.open_session()


def _arn(w: World, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}-{w.tag}"


CASES = [
    Case("attach user policy", lambda w: w.policy("up", ALLOW_ASSUME),
         lambda w: w.iam.attach_user_policy(UserName=w.user, PolicyArn=_arn(w, "up")), "denied", "allowed"),
    Case("detach user policy", _user_managed,
         lambda w: w.iam.detach_user_policy(UserName=w.user, PolicyArn=_arn(w, "up")), "allowed", "denied"),
    Case("delete user inline policy", _user_inline,
         lambda w: w.iam.delete_user_policy(UserName=w.user, PolicyName="p"), "allowed", "denied"),
    Case("put user inline deny", _user_inline,
         lambda w: w.iam.put_user_policy(UserName=w.user, PolicyName="deny", PolicyDocument=doc(
             {"Effect": "Deny", "Action": "sts:*", "Resource": "*"})), "allowed", "denied"),
    Case("user policy default version", _user_managed, lambda w: _version_to_s3(w, _arn(w, "up")), "allowed", "denied"),
    Case("user permissions boundary", _user_inline,
         lambda w: w.iam.put_user_permissions_boundary(UserName=w.user, PermissionsBoundary=w.policy("b", ONLY_S3)),
         "allowed", "denied"),
    Case("remove user from group", lambda w: _group(w, inline=True),
         lambda w: w.iam.remove_user_from_group(GroupName=f"g-{w.tag}", UserName=w.user), "allowed", "denied"),
    Case("add user to group", lambda w: (_group(w, inline=True),
                                         w.iam.remove_user_from_group(GroupName=f"g-{w.tag}", UserName=w.user)),
         lambda w: w.iam.add_user_to_group(GroupName=f"g-{w.tag}", UserName=w.user), "denied", "allowed"),
    Case("delete group inline policy", lambda w: _group(w, inline=True),
         lambda w: w.iam.delete_group_policy(GroupName=f"g-{w.tag}", PolicyName="p"), "allowed", "denied"),
    Case("detach group policy", lambda w: _group(w, inline=False),
         lambda w: w.iam.detach_group_policy(GroupName=f"g-{w.tag}", PolicyArn=_arn(w, "gp")), "allowed", "denied"),
    Case("group policy default version", lambda w: _group(w, inline=False),
         lambda w: _version_to_s3(w, _arn(w, "gp")), "allowed", "denied"),
    Case("update trust policy", lambda w: w.iam.update_assume_role_policy(
        RoleName=w.role, PolicyDocument=doc({**ROOT_TRUST, "Principal": {"AWS": w.user_arn}})),
         lambda w: w.iam.update_assume_role_policy(RoleName=w.role, PolicyDocument=doc(ROOT_TRUST)),
         "allowed", "denied"),
    Case("delete role", _user_inline, lambda w: w.iam.delete_role(RoleName=w.role), "allowed", "denied"),
    Case("role tag in a condition", lambda w: (
        w.iam.tag_role(RoleName=w.role, Tags=[{"Key": "team", "Value": "blue"}]),
        _user_inline(w, {**ALLOW_ASSUME, "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}})),
         lambda w: w.iam.tag_role(RoleName=w.role, Tags=[{"Key": "team", "Value": "red"}]), "allowed", "denied"),
    Case("user tag in a condition", lambda w: (
        w.iam.tag_user(UserName=w.user, Tags=[{"Key": "team", "Value": "blue"}]),
        _user_inline(w, {**ALLOW_ASSUME, "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}})),
         lambda w: w.iam.untag_user(UserName=w.user, TagKeys=["team"]), "allowed", "denied"),
    Case("deactivate access key", _user_inline, lambda w: w.iam.update_access_key(
        UserName=w.user, AccessKeyId=w.key["AccessKeyId"], Status="Inactive"), "allowed", "invalid"),
    Case("delete access key", _user_inline, lambda w: w.iam.delete_access_key(
        UserName=w.user, AccessKeyId=w.key["AccessKeyId"]), "allowed", "invalid"),
    Case("delete role inline policy", _role_inline,
         lambda w: w.iam.delete_role_policy(RoleName=w.role, PolicyName="p"), "allowed", "denied", "session"),
    Case("detach role policy", _role_managed,
         lambda w: w.iam.detach_role_policy(RoleName=w.role, PolicyArn=_arn(w, "rp")), "allowed", "denied", "session"),
    Case("role policy default version", _role_managed, lambda w: _version_to_s3(w, _arn(w, "rp")),
         "allowed", "denied", "session"),
    Case("role permissions boundary", _role_inline, lambda w: w.iam.put_role_permissions_boundary(
        RoleName=w.role, PermissionsBoundary=w.policy("b", ONLY_S3)), "allowed", "denied", "session"),
]


def _probe(case: Case, world: World) -> str:
    return world.session_get_role() if case.probe == "session" else world.assume()


def _settled(case: Case, world: World, expected: str, deadline: float) -> bool:
    """``expected`` on PROBES fresh connections in a row, before ``deadline`` (at least one try)."""
    while True:
        if all(_probe(case, world) == expected for _ in range(PROBES)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_every_decision_follows_its_write_on_every_worker(srv: Server) -> None:
    iam = srv.client("iam")
    worlds = []
    for case in CASES:
        world = World(srv, iam).make()
        case.setup(world)
        worlds.append(world)
    warm_deadline = time.monotonic() + 10  # new entities: every worker sees them within a second
    not_warm = [c.name for c, w in zip(CASES, worlds) if not _settled(c, w, c.before, warm_deadline)]
    assert not_warm == [], f"before the write, these were not {[c.before for c in CASES]}: {not_warm}"
    written = []
    for case, world in zip(CASES, worlds):
        case.write(world)
        written.append(time.monotonic())
    stale = [c.name for c, w, at in zip(CASES, worlds, written) if not _settled(c, w, c.after, at + REFLECT_WITHIN)]
    assert stale == [], f"still answering the cached decision after {REFLECT_WITHIN} s: {stale}"
