"""IAM groups with real clients: the group API (boto3 and the AWS CLI), AWS's errors at each limit,
group policies in every decision (IAM calls, AssumeRole, GetFederationToken, the simulator),
UpdateUser, account aliases, GetAccountAuthorizationDetails, ListEntitiesForPolicy, context keys,
ListPoliciesGrantingServiceAccess, account properties, authorization and cross-account isolation.

The module works in its own accounts on the shared server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

ACCOUNT = "610987654321"
OTHER = "710987654321"


def policy(effect: str, action: Any, resource: Any = "*", condition: dict[str, Any] | None = None) -> str:
    st: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def admin_key(server: Server) -> dict[str, str]:
    return json.loads(server.cli("account", "create", ACCOUNT, "--json").stdout)


@pytest.fixture(scope="module")
def iam(server: Server, admin_key: dict[str, str]) -> Any:
    return server.client("iam", key=admin_key["AccessKeyId"], secret=admin_key["SecretAccessKey"])


@pytest.fixture(scope="module")
def other_iam(server: Server) -> Any:
    key = json.loads(server.cli("account", "create", OTHER, "--json").stdout)
    return server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def keyed_user(server: Server, iam: Any, name: str, service: str = "iam") -> tuple[Any, dict[str, str]]:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client(service, key=key["AccessKeyId"], secret=key["SecretAccessKey"]), key


def wait_until(check: Any, timeout: float = 5.0) -> None:
    """The cache of another worker sees a write within its check interval (1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except ClientError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


# -- groups ----------------------------------------------------------------------------------------
def test_group_lifecycle(iam: Any) -> None:
    group = iam.create_group(GroupName="devs", Path="/eng/")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/eng/devs" and group["GroupId"].startswith("AGPA")
    assert len(group["GroupId"]) == 21
    with pytest.raises(ClientError) as exc:
        iam.create_group(GroupName="DEVS")
    assert error(exc) == ("EntityAlreadyExists", 409, "Group with name DEVS already exists.")
    assert iam.get_group(GroupName="Devs")["Group"]["GroupName"] == "devs"  # names are case-insensitive
    assert "devs" in [g["GroupName"] for g in iam.list_groups(PathPrefix="/eng/")["Groups"]]
    assert iam.list_groups(PathPrefix="/nothing/")["Groups"] == []

    for name in ("g-ann", "g-bob", "g-cat"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="devs", UserName=name)
    iam.add_user_to_group(GroupName="devs", UserName="g-ann")  # idempotent
    got = iam.get_group(GroupName="devs", MaxItems=2)
    assert [u["UserName"] for u in got["Users"]] == ["g-ann", "g-bob"] and got["IsTruncated"]
    rest = iam.get_group(GroupName="devs", Marker=got["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == ["g-cat"] and not rest["IsTruncated"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="g-bob")["Groups"]] == ["devs"]

    # rename and move: members keep their membership
    iam.update_group(GroupName="devs", NewGroupName="builders", NewPath="/team/")
    assert [g["Arn"] for g in iam.list_groups_for_user(UserName="g-bob")["Groups"]] == [
        f"arn:aws:iam::{ACCOUNT}:group/team/builders"]
    assert len(iam.get_group(GroupName="builders")["Users"]) == 3
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName="devs")
    assert error(exc) == ("NoSuchEntity", 404, "The group with name devs cannot be found.")
    iam.create_group(GroupName="taken")
    with pytest.raises(ClientError) as exc:
        iam.update_group(GroupName="builders", NewGroupName="TAKEN")
    assert code(exc) == "EntityAlreadyExists"

    # DeleteGroup is refused while the group has members, inline or attached policies
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="builders")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must remove users from group first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="g-cat")  # a user in a group cannot be deleted either
    assert error(exc)[:2] == ("DeleteConflict", 409)
    for name in ("g-ann", "g-bob", "g-cat"):
        iam.remove_user_from_group(GroupName="builders", UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.remove_user_from_group(GroupName="builders", UserName="g-ann")
    assert code(exc) == "NoSuchEntity"
    iam.put_group_policy(GroupName="builders", PolicyName="inline", PolicyDocument=policy("Allow", "s3:*"))
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="builders")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_group_policy(GroupName="builders", PolicyName="inline")
    arn = iam.create_policy(PolicyName="g-managed", PolicyDocument=policy("Allow", "s3:*"))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="builders", PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="builders")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)  # a group's attachment counts as one
    assert code(exc) == "DeleteConflict"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    iam.detach_group_policy(GroupName="builders", PolicyArn=arn)
    iam.delete_group(GroupName="builders")
    iam.delete_user(UserName="g-cat")
    iam.delete_policy(PolicyArn=arn)


def test_group_policies(iam: Any) -> None:
    iam.create_group(GroupName="pol")
    doc = policy("Allow", "s3:GetObject")
    iam.put_group_policy(GroupName="pol", PolicyName="b", PolicyDocument=doc)
    iam.put_group_policy(GroupName="pol", PolicyName="a", PolicyDocument=doc)
    assert iam.list_group_policies(GroupName="pol")["PolicyNames"] == ["a", "b"]
    got = iam.get_group_policy(GroupName="pol", PolicyName="a")
    assert got["GroupName"] == "pol" and got["PolicyDocument"] == json.loads(doc)
    with pytest.raises(ClientError) as exc:
        iam.get_group_policy(GroupName="pol", PolicyName="zz")
    assert error(exc) == ("NoSuchEntity", 404, "The group policy with name zz cannot be found.")
    with pytest.raises(ClientError) as exc:
        iam.put_group_policy(GroupName="pol", PolicyName="bad", PolicyDocument='{"Statement": 5}')
    assert code(exc) == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as exc:  # AWS's 5,120-character quota for a group's inline policies
        iam.put_group_policy(GroupName="pol", PolicyName="big",
                             PolicyDocument=policy("Allow", [f"s3:Get{'x' * 40}{i}" for i in range(150)]))
    assert code(exc) == "LimitExceeded"
    with pytest.raises(ClientError) as exc:
        iam.delete_group_policy(GroupName="pol", PolicyName="zz")
    assert code(exc) == "NoSuchEntity"

    arns = [iam.create_policy(PolicyName=f"gp{i}", Path="/g/" if i % 2 else "/",
                              PolicyDocument=doc)["Policy"]["Arn"] for i in range(11)]
    for arn in arns[:10]:
        iam.attach_group_policy(GroupName="pol", PolicyArn=arn)
    iam.attach_group_policy(GroupName="pol", PolicyArn=arns[0])  # idempotent
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName="pol", PolicyArn=arns[10])
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerGroup: 10")
    attached = iam.list_attached_group_policies(GroupName="pol")["AttachedPolicies"]
    assert len(attached) == 10
    assert len(iam.list_attached_group_policies(GroupName="pol", PathPrefix="/g/")["AttachedPolicies"]) == 5
    page = iam.list_attached_group_policies(GroupName="pol", MaxItems=4)
    assert len(page["AttachedPolicies"]) == 4 and page["IsTruncated"]
    with pytest.raises(ClientError) as exc:
        iam.detach_group_policy(GroupName="pol", PolicyArn=arns[10])
    assert code(exc) == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName="pol", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/nope")
    assert code(exc) == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName="nope", PolicyArn=arns[10])
    assert error(exc) == ("NoSuchEntity", 404, "The group with name nope cannot be found.")

    # ListEntitiesForPolicy lists the group (and users, roles), with its filters
    iam.create_user(UserName="ent-user", Path="/x/")
    iam.attach_user_policy(UserName="ent-user", PolicyArn=arns[0])
    listed = iam.list_entities_for_policy(PolicyArn=arns[0])
    assert [g["GroupName"] for g in listed["PolicyGroups"]] == ["pol"]
    assert [u["UserName"] for u in listed["PolicyUsers"]] == ["ent-user"] and listed["PolicyRoles"] == []
    only_groups = iam.list_entities_for_policy(PolicyArn=arns[0], EntityFilter="Group")
    assert only_groups["PolicyUsers"] == [] and len(only_groups["PolicyGroups"]) == 1
    assert iam.list_entities_for_policy(PolicyArn=arns[0], PathPrefix="/x/")["PolicyGroups"] == []
    assert iam.list_entities_for_policy(PolicyArn=arns[0], PolicyUsageFilter="PermissionsBoundary")["PolicyUsers"] == []
    first = iam.list_entities_for_policy(PolicyArn=arns[0], MaxItems=1)
    assert first["IsTruncated"] and len(first["PolicyGroups"]) == 1
    second = iam.list_entities_for_policy(PolicyArn=arns[0], Marker=first["Marker"])
    assert [u["UserName"] for u in second["PolicyUsers"]] == ["ent-user"]
    assert iam.get_policy(PolicyArn=arns[0])["Policy"]["AttachmentCount"] == 2
    with pytest.raises(ClientError) as exc:
        iam.list_entities_for_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/nope")
    assert code(exc) == "NoSuchEntity"


def test_ten_groups_per_user_and_account_summary(iam: Any) -> None:
    before = iam.get_account_summary()["SummaryMap"]
    assert before["GroupsQuota"] == 300 and before["GroupsPerUserQuota"] == 10
    assert before["AttachedPoliciesPerGroupQuota"] == 10 and before["GroupPolicySizeQuota"] == 5120
    iam.create_user(UserName="joiner")
    for i in range(11):
        iam.create_group(GroupName=f"ten{i}")
    for i in range(10):
        iam.add_user_to_group(GroupName=f"ten{i}", UserName="joiner")
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName="ten10", UserName="joiner")
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for GroupsPerUser: 10")
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName="ten10", UserName="nobody")
    assert error(exc) == ("NoSuchEntity", 404, "The user with name nobody cannot be found.")
    after = iam.get_account_summary()["SummaryMap"]
    assert after["Groups"] == before["Groups"] + 11
    page = iam.list_groups_for_user(UserName="joiner", MaxItems=3)
    assert len(page["Groups"]) == 3 and page["IsTruncated"]
    groups = [g for p in iam.get_paginator("list_groups_for_user").paginate(UserName="joiner", PaginationConfig={
        "PageSize": 4}) for g in p["Groups"]]
    assert sorted(g["GroupName"] for g in groups) == sorted(f"ten{i}" for i in range(10))


# -- group policies in every decision ---------------------------------------------------------------
def test_group_policies_decide_for_the_user(server: Server, iam: Any, admin_key: dict[str, str]) -> None:
    """A user allowed only through a group: IAM calls, AssumeRole, GetFederationToken; denied by
    another group's explicit Deny; the simulator agrees with every real decision; leaving the
    group takes the permission away."""
    client, key = keyed_user(server, iam, "via-group")
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    iam.create_role(RoleName="group-target", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                "Action": "sts:AssumeRole"}]}))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/group-target"
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/via-group"
    with pytest.raises(ClientError) as exc:
        client.list_users()
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")
    assert code(exc) == "AccessDenied"

    iam.create_group(GroupName="readers")
    iam.put_group_policy(GroupName="readers", PolicyName="read",
                         PolicyDocument=policy("Allow", ["iam:ListUsers", "iam:GetUser", "sts:AssumeRole",
                                                         "sts:GetFederationToken"]))
    managed = iam.create_policy(PolicyName="group-list-roles",
                                PolicyDocument=policy("Allow", "iam:ListRoles"))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="readers", PolicyArn=managed)
    iam.add_user_to_group(GroupName="readers", UserName="via-group")
    wait_until(lambda: client.list_users() is not None)
    client.list_roles()  # through the group's attached managed policy
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")["AssumedRoleUser"]["Arn"].endswith("/sess")
    fed = sts.get_federation_token(Name="fed", Policy=policy("Allow", "s3:*"))
    assert fed["FederatedUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/fed"

    sim = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["iam:ListUsers", "iam:DeleteUser"])
    results = {r["EvalActionName"]: r for r in sim["EvaluationResults"]}
    assert results["iam:ListUsers"]["EvalDecision"] == "allowed"
    assert results["iam:ListUsers"]["MatchedStatements"][0]["SourcePolicyId"] == "read"
    assert results["iam:ListUsers"]["MatchedStatements"][0]["SourcePolicyType"] == "group"
    assert results["iam:DeleteUser"]["EvalDecision"] == "implicitDeny"
    group_sim = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:group/readers",
                                              ActionNames=["iam:ListUsers"])
    assert group_sim["EvaluationResults"][0]["EvalDecision"] == "allowed"

    # another group's explicit Deny wins, for the real call and the simulator alike
    iam.create_group(GroupName="blocked")
    iam.put_group_policy(GroupName="blocked", PolicyName="deny", PolicyDocument=policy("Deny", "iam:ListUsers"))
    iam.add_user_to_group(GroupName="blocked", UserName="via-group")
    wait_until(lambda: _denied(client.list_users))
    client.get_user(UserName="via-group")
    denied = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["iam:ListUsers"])
    assert denied["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"
    assert denied["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"] == "deny"
    iam.remove_user_from_group(GroupName="blocked", UserName="via-group")
    wait_until(lambda: client.list_users() is not None)

    # leaving the group takes the permissions away (within the cache interval)
    iam.remove_user_from_group(GroupName="readers", UserName="via-group")
    wait_until(lambda: _denied(client.get_user))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")
    assert code(exc) == "AccessDenied"
    after = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["iam:ListUsers"])
    assert after["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def test_group_api_needs_permission_and_stays_in_its_account(server: Server, iam: Any, other_iam: Any) -> None:
    client, _ = keyed_user(server, iam, "no-rights")
    for call in (lambda: client.create_group(GroupName="x"), lambda: client.list_groups(),
                 lambda: client.get_account_authorization_details(), lambda: client.create_account_alias(
                     AccountAlias="no-rights-alias"), lambda: client.add_user_to_group(GroupName="x", UserName="y"),
                 lambda: client.list_entities_for_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    iam.create_group(GroupName="mine-only")
    with pytest.raises(ClientError) as exc:
        other_iam.get_group(GroupName="mine-only")
    assert code(exc) == "NoSuchEntity"
    assert "mine-only" not in [g["GroupName"] for g in other_iam.list_groups()["Groups"]]
    with pytest.raises(ClientError) as exc:
        other_iam.list_policies_granting_service_access(Arn=f"arn:aws:iam::{ACCOUNT}:group/mine-only",
                                                        ServiceNamespaces=["s3"])
    assert code(exc) == "NoSuchEntity"
    details = other_iam.get_account_authorization_details()
    assert "mine-only" not in [g["GroupName"] for g in details["GroupDetailList"]]


# -- UpdateUser ------------------------------------------------------------------------------------
def test_update_user_keeps_keys_groups_and_policies(server: Server, iam: Any) -> None:
    client, _ = keyed_user(server, iam, "renamed")
    iam.create_group(GroupName="renamers")
    iam.put_group_policy(GroupName="renamers", PolicyName="p", PolicyDocument=policy("Allow", "iam:GetUser"))
    iam.add_user_to_group(GroupName="renamers", UserName="renamed")
    iam.put_user_policy(UserName="renamed", PolicyName="own", PolicyDocument=policy("Allow", "iam:ListGroups"))
    iam.update_user(UserName="renamed", NewUserName="renamed2", NewPath="/moved/")
    got = iam.get_user(UserName="renamed2")["User"]
    assert got["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/moved/renamed2"
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="renamed2")["Groups"]] == ["renamers"]
    assert iam.list_user_policies(UserName="renamed2")["PolicyNames"] == ["own"]
    wait_until(lambda: client.get_user()["User"]["UserName"] == "renamed2")  # the same keys, the new name
    client.list_groups()
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="renamed")
    assert code(exc) == "NoSuchEntity"
    iam.create_user(UserName="other-name")
    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName="renamed2", NewUserName="OTHER-NAME")
    assert error(exc) == ("EntityAlreadyExists", 409, "User with name OTHER-NAME already exists.")
    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName="ghost", NewUserName="x")
    assert code(exc) == "NoSuchEntity"


# -- account aliases, properties -----------------------------------------------------------------------
def test_account_aliases(iam: Any, other_iam: Any) -> None:
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="group-test-alias")
    assert iam.list_account_aliases()["AccountAliases"] == ["group-test-alias"]
    iam.create_account_alias(AccountAlias="group-test-alias")  # the same again: nothing changes
    with pytest.raises(ClientError) as exc:  # unique across all accounts
        other_iam.create_account_alias(AccountAlias="group-test-alias")
    assert code(exc) == "EntityAlreadyExists"
    iam.create_account_alias(AccountAlias="group-test-alias2")  # one per account: the new one replaces it
    assert iam.list_account_aliases()["AccountAliases"] == ["group-test-alias2"]
    other_iam.create_account_alias(AccountAlias="group-test-alias")  # freed
    with pytest.raises(ClientError) as exc:
        iam.delete_account_alias(AccountAlias="group-test-alias")
    assert code(exc) == "NoSuchEntity"
    for bad in ("Upper-Case", "double--dash", "-start", "end-"):
        with pytest.raises(ClientError) as exc:
            iam.create_account_alias(AccountAlias=bad)
        assert code(exc) == "ValidationError"
    iam.delete_account_alias(AccountAlias="group-test-alias2")
    other_iam.delete_account_alias(AccountAlias="group-test-alias")
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_account_properties(iam: Any, other_iam: Any) -> None:
    assert iam.get_account_properties()["Properties"] == {}
    iam.put_account_properties(Properties={"RoleManager/Enabled": "true", "RoleManager/Mode": "audit"})
    assert iam.get_account_properties()["Properties"] == {"RoleManager/Enabled": "true", "RoleManager/Mode": "audit"}
    assert other_iam.get_account_properties()["Properties"] == {}
    for bad in ({"NoSlash": "x"}, {"A/B/C": "x"}, {"A/x": "1", "B/y": "2"}):
        with pytest.raises(ClientError) as exc:
            iam.put_account_properties(Properties=bad)
        assert code(exc) == "InvalidInput"


# -- GetAccountAuthorizationDetails ----------------------------------------------------------------------
def test_account_authorization_details(server: Server, admin_key: dict[str, str]) -> None:
    made = json.loads(server.cli("account", "create", "810987654321", "--json").stdout)
    iam = server.client("iam", key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    iam.create_user(UserName="d-user", Tags=[{"Key": "team", "Value": "a"}])
    iam.put_user_policy(UserName="d-user", PolicyName="inl", PolicyDocument=policy("Allow", "s3:*"))
    iam.create_group(GroupName="d-group")
    iam.add_user_to_group(GroupName="d-group", UserName="d-user")
    iam.put_group_policy(GroupName="d-group", PolicyName="ginl", PolicyDocument=policy("Allow", "ec2:*"))
    arn = iam.create_policy(PolicyName="d-pol", PolicyDocument=policy("Allow", "sqs:*"))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy("Allow", "sns:*"), SetAsDefault=True)
    iam.attach_group_policy(GroupName="d-group", PolicyArn=arn)
    aws_managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="d-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="d-role", PolicyArn=aws_managed)

    full = iam.get_account_authorization_details()
    assert not full["IsTruncated"]
    users = {u["UserName"]: u for u in full["UserDetailList"]}
    user = users["d-user"]
    assert user["GroupList"] == ["d-group"] and user["Tags"] == [{"Key": "team", "Value": "a"}]
    assert user["UserPolicyList"] == [{"PolicyName": "inl", "PolicyDocument": json.loads(policy("Allow", "s3:*"))}]
    group = full["GroupDetailList"][0]
    assert group["GroupName"] == "d-group" and group["GroupPolicyList"][0]["PolicyName"] == "ginl"
    assert group["AttachedManagedPolicies"] == [{"PolicyName": "d-pol", "PolicyArn": arn}]
    role = full["RoleDetailList"][0]
    assert role["RoleName"] == "d-role" and role["InstanceProfileList"] == []
    assert role["AssumeRolePolicyDocument"] == json.loads(trust)
    assert role["AttachedManagedPolicies"] == [{"PolicyName": "ReadOnlyAccess", "PolicyArn": aws_managed}]
    policies = {p["Arn"]: p for p in full["Policies"]}
    assert set(policies) == {arn, aws_managed}  # AWS managed policies: only those the account uses
    mine = policies[arn]
    assert mine["DefaultVersionId"] == "v2" and mine["AttachmentCount"] == 1
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in mine["PolicyVersionList"]] == [("v2", True), ("v1", False)]
    assert policies[aws_managed]["AttachmentCount"] == 1  # this account's attachments only

    only_groups = iam.get_account_authorization_details(Filter=["Group"])
    assert only_groups["UserDetailList"] == [] and len(only_groups["GroupDetailList"]) == 1
    local = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"]
    assert [p["Arn"] for p in local] == [arn]
    aws = iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])["Policies"]
    assert [p["Arn"] for p in aws] == [aws_managed]

    seen: list[str] = []  # paginated one entity at a time: every entity exactly once
    for page in iam.get_paginator("get_account_authorization_details").paginate(PaginationConfig={"PageSize": 1}):
        for kind, key in (("UserDetailList", "UserName"), ("GroupDetailList", "GroupName"),
                          ("RoleDetailList", "RoleName"), ("Policies", "PolicyName")):
            seen += [item[key] for item in page[kind]]
    all_names = ([u["UserName"] for u in full["UserDetailList"]] + ["d-group", "d-role"]
                 + [p["PolicyName"] for p in full["Policies"]])
    assert sorted(seen) == sorted(all_names)


# -- context keys, policies granting service access ----------------------------------------------------
def test_context_keys(iam: Any) -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:us-west-2:1:table/${aws:username}",
         "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2015-08-16T12:00:00Z"}}},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringEquals": {"AWS:UserName": "x", "s3:prefix": "${aws:PrincipalTag/team}"}}}]})
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[doc])["ContextKeyNames"]
    assert keys == ["aws:username", "aws:CurrentTime", "s3:prefix", "aws:PrincipalTag/team"]
    with pytest.raises(ClientError) as exc:
        iam.get_context_keys_for_custom_policy(PolicyInputList=['{"Statement": 1}'])
    assert code(exc) == "InvalidInput"

    iam.create_user(UserName="ck-user")
    iam.put_user_policy(UserName="ck-user", PolicyName="p", PolicyDocument=policy(
        "Allow", "s3:*", condition={"Bool": {"aws:SecureTransport": "true"}}))
    iam.create_group(GroupName="ck-group")
    iam.put_group_policy(GroupName="ck-group", PolicyName="g", PolicyDocument=policy(
        "Allow", "ec2:*", condition={"StringEquals": {"ec2:Region": "us-east-1"}}))
    iam.add_user_to_group(GroupName="ck-group", UserName="ck-user")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/ck-user"
    got = iam.get_context_keys_for_principal_policy(PolicySourceArn=user_arn)["ContextKeyNames"]
    assert got == ["aws:SecureTransport", "ec2:Region"]  # the user's groups' policies too
    extra = iam.get_context_keys_for_principal_policy(PolicySourceArn=user_arn, PolicyInputList=[policy(
        "Allow", "sqs:*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})])["ContextKeyNames"]
    assert extra == ["aws:SecureTransport", "ec2:Region", "aws:SourceIp"]
    with pytest.raises(ClientError) as exc:
        iam.get_context_keys_for_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/ghost")
    assert code(exc) == "NoSuchEntity"

    granted = iam.list_policies_granting_service_access(Arn=user_arn, ServiceNamespaces=["s3", "ec2", "sqs"])
    by_service = {e["ServiceNamespace"]: e["Policies"] for e in granted["PoliciesGrantingServiceAccess"]}
    assert by_service["s3"] == [{"PolicyName": "p", "PolicyType": "INLINE", "EntityType": "USER",
                                 "EntityName": "ck-user"}]
    assert by_service["ec2"] == [{"PolicyName": "g", "PolicyType": "INLINE", "EntityType": "GROUP",
                                  "EntityName": "ck-group"}]
    assert by_service["sqs"] == []
    with pytest.raises(ClientError) as exc:
        iam.list_policies_granting_service_access(Arn=f"arn:aws:iam::{ACCOUNT}:role/ghost", ServiceNamespaces=["s3"])
    assert code(exc) == "NoSuchEntity"


# -- AWS CLI -----------------------------------------------------------------------------------------
def test_aws_cli_group_flow(server: Server, admin_key: dict[str, str], tmp_path: Path) -> None:
    env = dict(server.env, AWS_ACCESS_KEY_ID=admin_key["AccessKeyId"],
               AWS_SECRET_ACCESS_KEY=admin_key["SecretAccessKey"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args: str, ok: bool = True) -> Any:
        out = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--endpoint-url", server.url,
                              "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        if not ok:
            assert out.returncode != 0
            return out.stderr
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    (tmp_path / "p.json").write_text(policy("Allow", "s3:GetObject"))
    assert aws("create-group", "--group-name", "cli-group")["Group"]["GroupName"] == "cli-group"
    aws("create-user", "--user-name", "cli-member")
    aws("add-user-to-group", "--group-name", "cli-group", "--user-name", "cli-member")
    aws("put-group-policy", "--group-name", "cli-group", "--policy-name", "p",
        "--policy-document", f"file://{tmp_path / 'p.json'}")
    got = aws("get-group", "--group-name", "cli-group")
    assert [u["UserName"] for u in got["Users"]] == ["cli-member"]
    assert aws("list-group-policies", "--group-name", "cli-group")["PolicyNames"] == ["p"]
    assert "cli-group" in [g["GroupName"] for g in aws("list-groups-for-user", "--user-name", "cli-member")["Groups"]]
    assert "DeleteConflict" in aws("delete-group", "--group-name", "cli-group", ok=False)
    details = aws("get-account-authorization-details", "--filter", "Group")
    assert "cli-group" in [g["GroupName"] for g in details["GroupDetailList"]]
    aws("create-account-alias", "--account-alias", "cli-groups-alias")
    assert aws("list-account-aliases")["AccountAliases"] == ["cli-groups-alias"]
    aws("delete-account-alias", "--account-alias", "cli-groups-alias")
    keys = aws("get-context-keys-for-custom-policy", "--policy-input-list", policy(
        "Allow", "s3:*", condition={"Bool": {"aws:SecureTransport": "true"}}))["ContextKeyNames"]
    assert keys == ["aws:SecureTransport"]
    aws("update-user", "--user-name", "cli-member", "--new-user-name", "cli-member2")
    assert [u["UserName"] for u in aws("get-group", "--group-name", "cli-group")["Users"]] == ["cli-member2"]
    aws("update-user", "--user-name", "cli-member2", "--new-user-name", "cli-member")
    aws("remove-user-from-group", "--group-name", "cli-group", "--user-name", "cli-member")
    aws("delete-group-policy", "--group-name", "cli-group", "--policy-name", "p")
    aws("delete-group", "--group-name", "cli-group")
    assert "NoSuchEntity" in aws("get-group", "--group-name", "cli-group", ok=False)


def test_policy_arn_condition_key_on_attachments(server: Server, iam: Any) -> None:
    """iam:PolicyARN is the condition key of Attach/Detach{Group,User,Role}Policy."""
    allowed = iam.create_policy(PolicyName="attachable", PolicyDocument=policy("Allow", "s3:*"))["Policy"]["Arn"]
    other = iam.create_policy(PolicyName="not-attachable", PolicyDocument=policy("Allow", "s3:*"))["Policy"]["Arn"]
    iam.create_group(GroupName="arn-keyed")
    iam.create_user(UserName="arn-target")
    client, _ = keyed_user(server, iam, "arn-keyed-admin")
    iam.put_user_policy(UserName="arn-keyed-admin", PolicyName="p", PolicyDocument=policy(
        "Allow", ["iam:AttachGroupPolicy", "iam:DetachGroupPolicy", "iam:AttachUserPolicy"],
        condition={"ArnEquals": {"iam:PolicyARN": allowed}}))
    wait_until(lambda: client.attach_group_policy(GroupName="arn-keyed", PolicyArn=allowed) is not None)
    client.attach_user_policy(UserName="arn-target", PolicyArn=allowed)
    for call in (lambda: client.attach_group_policy(GroupName="arn-keyed", PolicyArn=other),
                 lambda: client.attach_user_policy(UserName="arn-target", PolicyArn=other)):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    client.detach_group_policy(GroupName="arn-keyed", PolicyArn=allowed)


#: Every group operation naming a group: (boto3 method, its arguments besides GroupName).
GROUP_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_group", {}),
    ("update_group", {"NewGroupName": "renamed-missing"}),
    ("delete_group", {}),
    ("add_user_to_group", {"UserName": "table-user"}),
    ("remove_user_from_group", {"UserName": "table-user"}),
    ("put_group_policy", {"PolicyName": "p", "PolicyDocument": policy("Allow", "s3:*")}),
    ("get_group_policy", {"PolicyName": "p"}),
    ("delete_group_policy", {"PolicyName": "p"}),
    ("list_group_policies", {}),
    ("attach_group_policy", {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("detach_group_policy", {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("list_attached_group_policies", {}),
]


@pytest.mark.parametrize("method,args", GROUP_CALLS, ids=[c[0] for c in GROUP_CALLS])
def test_every_group_operation_missing_group_denied_and_foreign(server: Server, iam: Any, other_iam: Any,
                                                                 method: str, args: dict[str, Any]) -> None:
    """A missing group: NoSuchEntity with AWS's message; a caller without permission: AccessDenied
    (before learning whether the group exists); another account's group: not found."""
    try:
        iam.create_user(UserName="table-user")
        iam.create_user(UserName="table-nobody")
        iam.create_access_key(UserName="table-nobody")
    except ClientError:
        pass
    with pytest.raises(ClientError) as exc:
        getattr(iam, method)(GroupName="missing-group", **args)
    assert error(exc) == ("NoSuchEntity", 404, "The group with name missing-group cannot be found.")
    iam.create_group(GroupName=f"table-{method}".replace("_", "-"))
    key = iam.list_access_keys(UserName="table-nobody")["AccessKeyMetadata"]
    assert key  # made above (its secret is not shown again): use a fresh one per case
    fresh = iam.create_access_key(UserName="table-nobody")["AccessKey"] if len(key) < 2 else None
    if fresh is None:
        iam.delete_access_key(UserName="table-nobody", AccessKeyId=key[-1]["AccessKeyId"])
        fresh = iam.create_access_key(UserName="table-nobody")["AccessKey"]
    nobody = server.client("iam", key=fresh["AccessKeyId"], secret=fresh["SecretAccessKey"])
    for name in ("missing-group", f"table-{method}".replace("_", "-")):
        with pytest.raises(ClientError) as exc:
            getattr(nobody, method)(GroupName=name, **args)
        assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        getattr(other_iam, method)(GroupName=f"table-{method}".replace("_", "-"), **args)
    assert code(exc) == "NoSuchEntity"
