"""The race table: every count-limited or check-then-write operation of IAM and Organizations,
raced by N parallel boto3 calls, with what must hold afterwards.

Shared by tests/clients/test_concurrency.py (one server, two worker processes, SQLite or — with
``OPENSTS_TEST_DATABASE_URL`` — PostgreSQL) and tests/postgres/test_postgres_races.py (two servers
on one PostgreSQL database). Each case gets the clients of every server; call ``i`` goes to
``clients[i % len(clients)]``, each client with its own connection pool, so the calls land on every
worker process and server at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from opensts.service.iam.mfa import hotp, step_of

N = 20  # parallel calls per race
#: In every policy document the races write: the server log must never show it (no SQL parameters).
MARKER = "RaceMarker"


@dataclass
class Outcome:
    ok: list[Any]  # results of the calls that succeeded
    errors: list[tuple[str, int]]  # (error code, HTTP status) of the others


Call = Callable[[Any], Any]  # one call, given the client to use


@dataclass
class Ctx:
    """The servers raced (one, or several sharing a database)."""

    servers: list[Any]

    def clients(self, service: str = "iam", **credentials: Any) -> list[Any]:
        """One client per server, each with a pool as large as a race (parallel connections)."""
        return [s.client(service, max_pool_connections=N, **credentials) for s in self.servers]

    @property
    def iam(self) -> Any:
        return self.servers[0].client("iam")

    def new_account(self) -> dict[str, Any]:
        """A new account (``opensts account create``): AccountId, AccessKeyId, SecretAccessKey."""
        account = str(uuid.uuid4().int % (9 * 10**11) + 10**11)
        return json.loads(self.servers[0].cli("account", "create", account, "--json").stdout)


def race(clients: list[Any], calls: list[Call]) -> Outcome:
    """Run every call at once (one thread each, released together); bounded by botocore's timeouts."""
    start = threading.Barrier(len(calls), timeout=60)

    def run(i: int) -> tuple[bool, Any]:
        start.wait()
        try:
            return True, calls[i](clients[i % len(clients)])
        except ClientError as exc:
            return False, (exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"])

    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(run, range(len(calls))))
    outcome = Outcome([r for ok, r in results if ok], [r for ok, r in results if not ok])
    assert all(status < 500 for _, status in outcome.errors), outcome.errors
    return outcome


def doc(sid: str = "A") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": f"{MARKER}{sid}", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def only(outcome: Outcome, successes: int, code: str, status: int) -> None:
    """Exactly ``successes`` calls succeeded; every other one failed with AWS's error."""
    assert len(outcome.ok) == successes, outcome
    assert set(outcome.errors) <= {(code, status)}, outcome.errors


# -- IAM ----------------------------------------------------------------------------------------------
def access_keys(ctx: Ctx) -> None:
    iam, clients = ctx.iam, ctx.clients()
    user = iam.create_user(UserName=name("keys"))["User"]["UserName"]
    out = race(clients, [lambda c: c.create_access_key(UserName=user)] * N)
    only(out, 2, "LimitExceeded", 409)
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2


def delete_user_while_keyed(ctx: Ctx) -> None:
    """DeleteUser racing CreateAccessKey: a key is never issued to a user that is then deleted."""
    iam, clients = ctx.iam, ctx.clients()
    user = iam.create_user(UserName=name("doomed"))["User"]["UserName"]
    calls: list[Call] = [lambda c: c.delete_user(UserName=user)] * (N // 4)
    calls += [lambda c: c.create_access_key(UserName=user)] * (N // 4)
    out = race(clients, calls)
    assert set(out.errors) <= {("NoSuchEntity", 404), ("DeleteConflict", 409), ("LimitExceeded", 409),
                               ("ConcurrentModification", 409)}, out.errors
    keys = [r["AccessKey"] for r in out.ok if "AccessKey" in r]
    deleted = len(out.ok) - len(keys)
    assert deleted <= 1 and not (deleted and keys), out.ok


def root_access_keys(ctx: Ctx) -> None:
    """The root user's keys (no user row: the account's row is the lock)."""
    account = ctx.new_account()["AccountId"]
    made = json.loads(ctx.servers[0].cli("account", "create-root-key", account, "--json").stdout)
    clients = ctx.clients(key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    only(race(clients, [lambda c: c.create_access_key()] * N), 1, "LimitExceeded", 409)
    assert len(clients[0].list_access_keys()["AccessKeyMetadata"]) == 2


def policy_versions(ctx: Ctx) -> None:
    iam, clients = ctx.iam, ctx.clients()
    arn = iam.create_policy(PolicyName=name("versions"), PolicyDocument=doc())["Policy"]["Arn"]
    out = race(clients, [lambda c, i=i: c.create_policy_version(PolicyArn=arn, PolicyDocument=doc(str(i)),
                                                               SetAsDefault=i % 2 == 0) for i in range(N)])
    only(out, 4, "LimitExceeded", 409)
    ids = {r["PolicyVersion"]["VersionId"] for r in out.ok}
    assert ids == {"v2", "v3", "v4", "v5"}  # generated ids: no duplicate, no gap
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5 and sum(v["IsDefaultVersion"] for v in versions) == 1


def default_version_switching(ctx: Ctx) -> None:
    """SetDefaultPolicyVersion racing DeletePolicyVersion: the default always names a version."""
    iam, clients = ctx.iam, ctx.clients()
    arn = iam.create_policy(PolicyName=name("default"), PolicyDocument=doc())["Policy"]["Arn"]
    for i in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(str(i)))
    calls: list[Call] = []
    for i in range(N):
        version = f"v{2 + i % 4}"
        if i % 2:
            calls.append(lambda c, v=version: c.set_default_policy_version(PolicyArn=arn, VersionId=v))
        else:
            calls.append(lambda c, v=version: c.delete_policy_version(PolicyArn=arn, VersionId=v))
    out = race(clients, calls)
    assert set(out.errors) <= {("DeleteConflict", 409), ("NoSuchEntity", 404)}, out.errors
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == [default]


def _attach(kind: str) -> Callable[[Ctx], None]:
    def case(ctx: Ctx) -> None:
        iam, clients = ctx.iam, ctx.clients()
        entity = name(kind)
        if kind == "user":
            iam.create_user(UserName=entity)
        else:
            iam.create_role(RoleName=entity, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                        "Action": "sts:AssumeRole"}]}))
        arns = [iam.create_policy(PolicyName=name("att"), PolicyDocument=doc())["Policy"]["Arn"] for _ in range(N)]
        if kind == "user":
            calls = [lambda c, a=a: c.attach_user_policy(UserName=entity, PolicyArn=a) for a in arns]
            listed = iam.list_attached_user_policies
        else:
            calls = [lambda c, a=a: c.attach_role_policy(RoleName=entity, PolicyArn=a) for a in arns]
            listed = iam.list_attached_role_policies
        only(race(clients, calls), 10, "LimitExceeded", 409)
        key = "UserName" if kind == "user" else "RoleName"
        assert len(listed(**{key: entity})["AttachedPolicies"]) == 10
    return case


def _tags(kind: str) -> Callable[[Ctx], None]:
    def case(ctx: Ctx) -> None:
        iam, clients = ctx.iam, ctx.clients()
        entity = name(kind)
        if kind == "user":
            iam.create_user(UserName=entity)
        else:
            iam.create_role(RoleName=entity, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                        "Action": "sts:AssumeRole"}]}))
        batches = [[{"Key": f"k{i}-{j}", "Value": "v"} for j in range(5)] for i in range(N)]  # 100 keys in all
        if kind == "user":
            calls = [lambda c, b=b: c.tag_user(UserName=entity, Tags=b) for b in batches]
            tags = lambda: iam.list_user_tags(UserName=entity)["Tags"]  # noqa: E731
        else:
            calls = [lambda c, b=b: c.tag_role(RoleName=entity, Tags=b) for b in batches]
            tags = lambda: iam.list_role_tags(RoleName=entity)["Tags"]  # noqa: E731
        only(race(clients, calls), 10, "LimitExceeded", 409)
        assert len(tags()) == 50
    return case


def oidc_client_ids(ctx: Ctx) -> None:
    """AddClientID is a read-modify-write of a list: concurrent adds must all be kept, up to 100."""
    iam, clients = ctx.iam, ctx.clients()
    arn = iam.create_open_id_connect_provider(Url=f"https://{name('idp')}.example.com",
                                              ClientIDList=[f"c{i}" for i in range(90)],
                                              ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    out = race(clients, [lambda c, i=i: c.add_client_id_to_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID=f"new{i}") for i in range(N)])
    only(out, 10, "LimitExceeded", 409)
    ids = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
    assert len(ids) == 100 and len(set(ids)) == 100
    removed = race(clients, [lambda c, i=i: c.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID=f"c{i}") for i in range(N)])
    assert len(removed.ok) == N
    assert len(iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]) == 100 - N


def mfa_enable(ctx: Ctx) -> None:
    """One virtual device, N users enabling it at once: one wins, the others EntityAlreadyExists."""
    iam, clients = ctx.iam, ctx.clients()
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name("mfa"))["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    users = [iam.create_user(UserName=name("mfa-user"))["User"]["UserName"] for _ in range(N // 2)]
    step = step_of(time.time())
    codes = (hotp(seed, step), hotp(seed, step + 1))  # valid now and through the next 30-second step
    out = race(clients, [lambda c, u=u: c.enable_mfa_device(UserName=u, SerialNumber=device["SerialNumber"],
                                                            AuthenticationCode1=codes[0],
                                                            AuthenticationCode2=codes[1]) for u in users])
    only(out, 1, "EntityAlreadyExists", 409)
    owners = [u for u in users if iam.list_mfa_devices(UserName=u)["MFADevices"]]
    assert len(owners) == 1


def policy_names(ctx: Ctx) -> None:
    """Managed policy names are unique per account whatever their case and path."""
    iam, clients = ctx.iam, ctx.clients()
    base = name("Named")
    variants = [base.upper(), base.lower(), base, base.swapcase()]
    out = race(clients, [lambda c, i=i: c.create_policy(PolicyName=variants[i % 4], Path=f"/p{i}/",
                                                        PolicyDocument=doc()) for i in range(N)])
    only(out, 1, "EntityAlreadyExists", 409)
    mine = [p for p in iam.get_paginator("list_policies").paginate(Scope="Local") for p in p["Policies"]]
    assert sum(p["PolicyName"].lower() == base.lower() for p in mine) == 1


def inline_policy_replaced(ctx: Ctx) -> None:
    """PutUserPolicy/PutRolePolicy of one name at once: each replaces the document (last one wins), none collides."""
    iam, clients = ctx.iam, ctx.clients()
    user = iam.create_user(UserName=name("inline"))["User"]["UserName"]
    role = iam.create_role(RoleName=name("inline"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["RoleName"]
    calls: list[Call] = [lambda c, i=i: c.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(str(i)))
                         for i in range(N // 2)]
    calls += [lambda c, i=i: c.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=doc(str(i)))
              for i in range(N // 2)]
    assert len(race(clients, calls).ok) == N
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["p"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["p"]


def groups_per_user(ctx: Ctx) -> None:
    """One user added to N groups at once: exactly 10 (AWS's GroupsPerUser) succeed."""
    iam, clients = ctx.iam, ctx.clients()
    user = iam.create_user(UserName=name("member"))["User"]["UserName"]
    groups = [iam.create_group(GroupName=name("grp"))["Group"]["GroupName"] for _ in range(N)]
    out = race(clients, [lambda c, g=g: c.add_user_to_group(GroupName=g, UserName=user) for g in groups])
    only(out, 10, "LimitExceeded", 409)
    assert len(iam.list_groups_for_user(UserName=user)["Groups"]) == 10
    for g in groups:  # leave the account's group count low for the next repetition
        for member in iam.get_group(GroupName=g)["Users"]:
            iam.remove_user_from_group(GroupName=g, UserName=member["UserName"])
        iam.delete_group(GroupName=g)


def group_attachments(ctx: Ctx) -> None:
    iam, clients = ctx.iam, ctx.clients()
    group = iam.create_group(GroupName=name("attached"))["Group"]["GroupName"]
    arns = [iam.create_policy(PolicyName=name("gatt"), PolicyDocument=doc())["Policy"]["Arn"] for _ in range(N)]
    only(race(clients, [lambda c, a=a: c.attach_group_policy(GroupName=group, PolicyArn=a) for a in arns]),
         10, "LimitExceeded", 409)
    assert len(iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]) == 10


def group_names(ctx: Ctx) -> None:
    """Group names are unique per account whatever their case and path."""
    iam, clients = ctx.iam, ctx.clients()
    base = name("Team")
    variants = [base.upper(), base.lower(), base, base.swapcase()]
    out = race(clients, [lambda c, i=i: c.create_group(GroupName=variants[i % 4], Path=f"/p{i}/") for i in range(N)])
    only(out, 1, "EntityAlreadyExists", 409)
    iam.delete_group(GroupName=base)


def delete_group_while_joined(ctx: Ctx) -> None:
    """DeleteGroup racing AddUserToGroup: never a member of a deleted group."""
    iam, clients = ctx.iam, ctx.clients()
    group = iam.create_group(GroupName=name("doomed"))["Group"]["GroupName"]
    users = [iam.create_user(UserName=name("joiner"))["User"]["UserName"] for _ in range(N // 4)]
    calls: list[Call] = [lambda c: c.delete_group(GroupName=group)] * (N // 4)
    calls += [lambda c, u=u: c.add_user_to_group(GroupName=group, UserName=u) for u in users]
    out = race(clients, calls)
    assert set(out.errors) <= {("NoSuchEntity", 404), ("DeleteConflict", 409), ("ConcurrentModification", 409)}, out.errors
    joined = [u for u in users if iam.list_groups_for_user(UserName=u)["Groups"]]
    try:
        members = [m["UserName"] for m in iam.get_group(GroupName=group)["Users"]]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchEntity"
        assert joined == []  # the group is gone: nobody is in it
    else:
        assert sorted(members) == sorted(joined)


def delete_user_while_joining(ctx: Ctx) -> None:
    """DeleteUser racing AddUserToGroup: never a deleted user left in a group."""
    iam, clients = ctx.iam, ctx.clients()
    user = iam.create_user(UserName=name("leaver"))["User"]["UserName"]
    groups = [iam.create_group(GroupName=name("club"))["Group"]["GroupName"] for _ in range(N // 4)]
    calls: list[Call] = [lambda c: c.delete_user(UserName=user)] * (N // 4)
    calls += [lambda c, g=g: c.add_user_to_group(GroupName=g, UserName=user) for g in groups]
    out = race(clients, calls)
    assert set(out.errors) <= {("NoSuchEntity", 404), ("DeleteConflict", 409), ("ConcurrentModification", 409)}, out.errors
    members = [m["UserName"] for g in groups for m in iam.get_group(GroupName=g)["Users"]]
    try:
        iam.get_user(UserName=user)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchEntity"
        assert members == []  # deleted: in no group
    for g in groups:
        for m in iam.get_group(GroupName=g)["Users"]:
            iam.remove_user_from_group(GroupName=g, UserName=m["UserName"])
        iam.delete_group(GroupName=g)


def account_aliases(ctx: Ctx) -> None:
    """One alias, N accounts claiming it at once: one gets it (aliases are unique across accounts)."""
    alias = name("alias").lower()
    made = [ctx.new_account() for _ in range(4)]
    clients = [s.client("iam", key=m["AccessKeyId"], secret=m["SecretAccessKey"]) for m in made for s in ctx.servers]
    out = race(clients, [lambda c: c.create_account_alias(AccountAlias=alias)] * len(clients))
    owners = {m["AccountId"] for m, c in zip(made, clients[::len(ctx.servers)])
              if c.list_account_aliases()["AccountAliases"] == [alias]}
    assert len(owners) == 1, out
    assert set(out.errors) <= {("EntityAlreadyExists", 409), ("ConcurrentModification", 409)}, out.errors


IAM_CASES: dict[str, Callable[[Ctx], None]] = {
    "AddUserToGroup": groups_per_user,
    "AttachGroupPolicy": group_attachments,
    "CreateGroup": group_names,
    "DeleteGroup+AddUserToGroup": delete_group_while_joined,
    "DeleteUser+AddUserToGroup": delete_user_while_joining,
    "CreateAccountAlias": account_aliases,
    "PutUserPolicy+PutRolePolicy": inline_policy_replaced,
    "CreatePolicy": policy_names,
    "CreateAccessKey": access_keys,
    "CreateAccessKey(root)": root_access_keys,
    "DeleteUser+CreateAccessKey": delete_user_while_keyed,
    "CreatePolicyVersion": policy_versions,
    "SetDefaultPolicyVersion+DeletePolicyVersion": default_version_switching,
    "AttachUserPolicy": _attach("user"),
    "AttachRolePolicy": _attach("role"),
    "TagUser": _tags("user"),
    "TagRole": _tags("role"),
    "AddClientIDToOpenIDConnectProvider": oidc_client_ids,
    "EnableMFADevice": mfa_enable,
}


# -- Organizations ------------------------------------------------------------------------------------
@dataclass
class Org:
    client: Any  # the management account's organizations client (for setup and checks)
    root: str
    member: str
    ctx: Ctx


def scp() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": MARKER, "Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]})


def _new_ou(org: Org) -> str:
    return org.client.create_organizational_unit(ParentId=org.root, Name=name("ou"))["OrganizationalUnit"]["Id"]


def scp_attach(org: Org, clients: list[Any]) -> None:
    target = _new_ou(org)  # starts with FullAWSAccess: 4 more fit
    ids = [org.client.create_policy(Name=name("scp"), Description="", Type="SERVICE_CONTROL_POLICY",
                                    Content=scp())["Policy"]["PolicySummary"]["Id"] for _ in range(N // 2)]
    out = race(clients, [lambda c, p=p: c.attach_policy(PolicyId=p, TargetId=target) for p in ids])
    only(out, 4, "ConstraintViolationException", 400)
    listed = org.client.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert len(listed) == 5


def scp_detach(org: Org, clients: list[Any]) -> None:
    """Detaching every policy of a target at once leaves exactly one (the minimum)."""
    target = _new_ou(org)
    for _ in range(4):
        policy = org.client.create_policy(Name=name("scp"), Description="", Type="SERVICE_CONTROL_POLICY",
                                          Content=scp())["Policy"]["PolicySummary"]["Id"]
        org.client.attach_policy(PolicyId=policy, TargetId=target)
    attached = [p["Id"] for p in org.client.list_policies_for_target(TargetId=target,
                                                                     Filter="SERVICE_CONTROL_POLICY")["Policies"]]
    out = race(clients, [lambda c, p=p: c.detach_policy(PolicyId=p, TargetId=target) for p in attached * 2])
    assert len(out.ok) == 4, out
    assert set(out.errors) <= {("ConstraintViolationException", 400), ("PolicyNotAttachedException", 400)}
    left = org.client.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert len(left) == 1


def scp_attach_same(org: Org, clients: list[Any]) -> None:
    target = _new_ou(org)
    policy = org.client.create_policy(Name=name("scp"), Description="", Type="SERVICE_CONTROL_POLICY",
                                      Content=scp())["Policy"]["PolicySummary"]["Id"]
    out = race(clients, [lambda c: c.attach_policy(PolicyId=policy, TargetId=target)] * (N // 2))
    only(out, 1, "DuplicatePolicyAttachmentException", 400)


def ou_names(org: Org, clients: list[Any]) -> None:
    ou = name("same")
    out = race(clients, [lambda c: c.create_organizational_unit(ParentId=org.root, Name=ou)] * (N // 2))
    only(out, 1, "DuplicateOrganizationalUnitException", 400)


def service_access(org: Org, clients: list[Any]) -> None:
    """EnableAWSServiceAccess edits a set: concurrent edits are all kept."""
    principals = [f"{name('svc')}.amazonaws.com" for _ in range(N // 2)]
    out = race(clients, [lambda c, p=p: c.enable_aws_service_access(ServicePrincipal=p) for p in principals])
    assert len(out.ok) == len(principals)
    time.sleep(1.2)  # the organization record is cached per process, re-checked once a second
    pages = org.client.get_paginator("list_aws_service_access_for_organization").paginate()
    enabled = {s["ServicePrincipal"] for page in pages for s in page["EnabledServicePrincipals"]}
    assert set(principals) <= enabled


def invitations(org: Org, clients: list[Any]) -> None:
    account = org.ctx.new_account()["AccountId"]
    out = race(clients, [lambda c: c.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"})]
               * (N // 2))
    only(out, 1, "DuplicateHandshakeException", 400)


def create_organization(org: Org, clients: list[Any]) -> None:
    made = org.ctx.new_account()
    mine = org.ctx.clients("organizations", key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    only(race(mine, [lambda c: c.create_organization(FeatureSet="ALL")] * (N // 2)),
         1, "AlreadyInOrganizationException", 400)


def delegated_admins(org: Org, clients: list[Any]) -> None:
    service = f"{name('svc')}.amazonaws.com"
    out = race(clients, [lambda c: c.register_delegated_administrator(AccountId=org.member, ServicePrincipal=service)]
               * (N // 2))
    only(out, 1, "AccountAlreadyRegisteredException", 400)


def ou_delete_while_filled(org: Org, clients: list[Any]) -> None:
    """DeleteOrganizationalUnit racing CreateOrganizationalUnit under it: never an OU under a deleted one."""
    parent = _new_ou(org)
    calls: list[Call] = [lambda c: c.delete_organizational_unit(OrganizationalUnitId=parent)] * (N // 4)
    calls += [lambda c, i=i: c.create_organizational_unit(ParentId=parent, Name=f"child{i}") for i in range(N // 4)]
    out = race(clients, calls)
    assert set(out.errors) <= {("OrganizationalUnitNotEmptyException", 400), ("ParentNotFoundException", 400),
                               ("OrganizationalUnitNotFoundException", 400)}, out.errors
    children = sum("OrganizationalUnit" in r for r in out.ok)
    deleted = len(out.ok) - children
    assert deleted <= 1 and not (deleted and children), out.ok


def accept_invitation(org: Org, clients: list[Any]) -> None:
    """AcceptHandshake racing itself and DeclineHandshake: one wins, the account joins at most once."""
    made = org.ctx.new_account()
    handshake = org.client.invite_account_to_organization(Target={"Id": made["AccountId"], "Type": "ACCOUNT"})[
        "Handshake"]["Id"]
    mine = org.ctx.clients("organizations", key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    calls: list[Call] = [lambda c: c.accept_handshake(HandshakeId=handshake)] * (N // 4)
    calls += [lambda c: c.decline_handshake(HandshakeId=handshake)] * (N // 4)
    out = race(mine, calls)
    assert len(out.ok) == 1, out
    assert set(out.errors) <= {("HandshakeAlreadyInStateException", 400), ("InvalidHandshakeTransitionException", 400)}, out.errors
    state = out.ok[0]["Handshake"]["State"]
    members = {a["Id"] for page in org.client.get_paginator("list_accounts").paginate() for a in page["Accounts"]}
    assert (made["AccountId"] in members) == (state == "ACCEPTED")


ORG_CASES: dict[str, Callable[[Org, list[Any]], None]] = {
    "AcceptHandshake+DeclineHandshake": accept_invitation,
    "CreateOrganization": create_organization,
    "RegisterDelegatedAdministrator": delegated_admins,
    "DeleteOrganizationalUnit+CreateOrganizationalUnit": ou_delete_while_filled,
    "AttachPolicy": scp_attach,
    "AttachPolicy(same)": scp_attach_same,
    "DetachPolicy": scp_detach,
    "CreateOrganizationalUnit": ou_names,
    "EnableAWSServiceAccess": service_access,
    "InviteAccountToOrganization": invitations,
}


def organization(ctx: Ctx) -> Org:
    """The admin account's organization with SCPs enabled and one member account."""
    client = ctx.servers[0].client("organizations")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    status = client.create_account(Email="member@example.com", AccountName="Member")["CreateAccountStatus"]
    member = client.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    return Org(client, root, member["AccountId"], ctx)


def assert_quiet_logs(servers: list[Any]) -> None:
    """No internal error, no SQL parameters and no policy text in any server's log."""
    for server in servers:
        log = server.log()
        assert "Traceback" not in log and "internal error" not in log, log[-3000:]
        assert MARKER not in log and "[parameters:" not in log
