"""The IAM API with real clients: users, access keys, roles, inline and managed policies, tags,
authorization of IAM calls, cross-account isolation, and AWS CLI flows.

Each module works in its own account (created with `opensts account create`) on the shared
server, so counts and names never collide with other test modules.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from opensts.policy import policy_size
from tests.conftest import Server

ACCOUNT = "210987654321"
OTHER = "310987654321"
ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def trust(principal: Any = None) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal or ACCOUNT}, "Action": "sts:AssumeRole"}],
    })


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


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


def user_client(server: Server, iam: Any, name: str, policy: dict[str, Any] | None = None) -> Any:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


# -- users and access keys -------------------------------------------------------------------------
def test_user_lifecycle(iam: Any) -> None:
    user = iam.create_user(UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}])["User"]
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user["UserId"])
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/alice"
    got = iam.get_user(UserName="ALICE")["User"]  # names are case-insensitive
    assert (got["UserName"], got["Tags"]) == ("alice", [{"Key": "team", "Value": "core"}])
    assert "alice" in [u["UserName"] for u in iam.list_users(PathPrefix="/eng/")["Users"]]
    assert iam.list_users(PathPrefix="/nothing/")["Users"] == []
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="Alice")
    assert error(exc) == ("EntityAlreadyExists", 409, "User with name Alice already exists.")
    iam.delete_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="alice")
    assert error(exc) == ("NoSuchEntity", 404, "The user with name alice cannot be found.")


def test_get_user_without_name_is_the_caller(iam: Any) -> None:
    assert iam.get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/admin"


def test_access_keys_quota_status_and_delete(server: Server, iam: Any) -> None:
    iam.create_user(UserName="keys")
    first = iam.create_access_key(UserName="keys")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", first["AccessKeyId"]) and len(first["SecretAccessKey"]) == 40
    iam.create_access_key(UserName="keys")  # the second: at the quota
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName="keys")
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
    listed = iam.list_access_keys(UserName="keys")["AccessKeyMetadata"]
    assert {k["Status"] for k in listed} == {"Active"} and len(listed) == 2
    sts = server.client("sts", key=first["AccessKeyId"], secret=first["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(":user/keys")
    iam.update_access_key(UserName="keys", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error(exc)[0] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="keys")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")
    for key in listed:
        iam.delete_access_key(UserName="keys", AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName="keys", AccessKeyId=first["AccessKeyId"])
    assert error(exc) == ("NoSuchEntity", 404, f"The Access Key with id {first['AccessKeyId']} cannot be found.")
    iam.delete_user(UserName="keys")


def test_user_inline_policies(iam: Any) -> None:
    iam.create_user(UserName="inl")
    iam.put_user_policy(UserName="inl", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3))
    assert iam.list_user_policies(UserName="inl")["PolicyNames"] == ["s3"]
    assert iam.get_user_policy(UserName="inl", PolicyName="s3")["PolicyDocument"] == ALLOW_S3
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="inl")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_user_policy(UserName="inl", PolicyName="s3")
    with pytest.raises(ClientError) as exc:
        iam.get_user_policy(UserName="inl", PolicyName="s3")
    assert error(exc) == ("NoSuchEntity", 404, "The user policy with name s3 cannot be found.")
    # The aggregate inline quota for a user: 2,048 non-whitespace characters.
    iam.put_user_policy(UserName="inl", PolicyName="big", PolicyDocument=sized_policy(2048))
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName="inl", PolicyName="more", PolicyDocument=sized_policy(120))
    assert error(exc) == ("LimitExceeded", 409, "Maximum policy size of 2048 bytes exceeded for user inl")


def sized_policy(size: int) -> str:
    """An identity policy of exactly ``size`` non-whitespace characters."""
    base = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                    "Resource": "arn:aws:s3:::"}]}
    pad = size - policy_size(json.dumps(base))
    base["Statement"][0]["Resource"] += "a" * pad
    text = json.dumps(base)
    assert policy_size(text) == size
    return text


# -- roles -------------------------------------------------------------------------------------------
def test_role_lifecycle_and_url_encoded_documents(iam: Any) -> None:
    doc = json.loads(trust())
    role = iam.create_role(RoleName="app", Path="/svc/", AssumeRolePolicyDocument=json.dumps(doc),
                           Description="the app", MaxSessionDuration=7200)["Role"]
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/svc/app"
    got = iam.get_role(RoleName="app")["Role"]
    assert got["AssumeRolePolicyDocument"] == doc  # boto3 decoded the URL-encoded document
    assert (got["Description"], got["MaxSessionDuration"]) == ("the app", 7200)
    assert "app" in [r["RoleName"] for r in iam.list_roles(PathPrefix="/svc/")["Roles"]]
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="APP", AssumeRolePolicyDocument=trust())
    assert error(exc) == ("EntityAlreadyExists", 409, "Role with name APP already exists.")
    iam.update_role(RoleName="app", MaxSessionDuration=43200, Description="changed")
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 43200
    new_trust = json.loads(trust(f"arn:aws:iam::{ACCOUNT}:root"))
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps(new_trust))
    assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == new_trust
    iam.delete_role(RoleName="app")
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="app")
    assert error(exc) == ("NoSuchEntity", 404, "The role with name app cannot be found.")


def test_raw_xml_document_is_url_encoded(server: Server, iam: Any) -> None:
    iam.create_role(RoleName="raw", AssumeRolePolicyDocument=trust())
    seen: dict[str, bytes] = {}
    iam.meta.events.register("after-call.iam.GetRole", lambda http_response, **_: seen.update(body=http_response.content))
    try:
        iam.get_role(RoleName="raw")
    finally:
        iam.meta.events.unregister("after-call.iam.GetRole")
    assert b"<AssumeRolePolicyDocument>%7B%22Version%22%3A%20%222012-10-17%22" in seen["body"]


@pytest.mark.parametrize(("value", "ok"), [(3600, True), (43200, True), (3599, False), (43201, False)])
def test_max_session_duration_bounds(server: Server, admin_key: dict[str, str], value: int, ok: bool) -> None:
    iam = server.client("iam", key=admin_key["AccessKeyId"], secret=admin_key["SecretAccessKey"],
                        parameter_validation=False)
    name = f"msd{value}"
    if ok:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(), MaxSessionDuration=value)
        assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == value
        return
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust())
    with pytest.raises(ClientError) as exc:
        iam.update_role(RoleName=name, MaxSessionDuration=value)
    code, status, message = error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert f"Value '{value}' at 'maxSessionDuration' failed to satisfy constraint" in message


def test_trust_policy_errors(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument='{"Version": "2012-10-17"')
    assert error(exc) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
    ghost = f"arn:aws:iam::{ACCOUNT}:role/ghost"
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument=trust(ghost))
    assert error(exc) == ("MalformedPolicyDocument", 400, f'Invalid principal in policy: "AWS":"{ghost}"')
    iam.create_user(UserName="truster")
    iam.create_role(RoleName="good", AssumeRolePolicyDocument=trust([f"arn:aws:iam::{ACCOUNT}:user/truster", "*"]))
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument=json.dumps(ALLOW_S3))
    assert error(exc)[:2] == ("MalformedPolicyDocument", 400)


def test_role_inline_policies_and_quota(iam: Any) -> None:
    iam.create_role(RoleName="inline", AssumeRolePolicyDocument=trust())
    iam.put_role_policy(RoleName="inline", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3))
    assert iam.get_role_policy(RoleName="inline", PolicyName="s3")["PolicyDocument"] == ALLOW_S3
    assert iam.list_role_policies(RoleName="inline")["PolicyNames"] == ["s3"]
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="inline")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="inline", PolicyName="x", PolicyDocument='{"Statement": []')
    assert error(exc) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
    with pytest.raises(ClientError) as exc:
        iam.get_role_policy(RoleName="inline", PolicyName="nope")
    assert error(exc) == ("NoSuchEntity", 404, "The role policy with name nope cannot be found.")
    iam.delete_role_policy(RoleName="inline", PolicyName="s3")
    iam.put_role_policy(RoleName="inline", PolicyName="big", PolicyDocument=sized_policy(10240))  # at the quota
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="inline", PolicyName="more", PolicyDocument=sized_policy(120))
    assert error(exc) == ("LimitExceeded", 409, "Maximum policy size of 10240 bytes exceeded for role inline")
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="missing", PolicyName="x", PolicyDocument=json.dumps(ALLOW_S3))
    assert error(exc) == ("NoSuchEntity", 404, "The role with name missing cannot be found.")


def test_role_tags(iam: Any) -> None:
    iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=trust(),
                    Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(49)])
    iam.tag_role(RoleName="tagged", Tags=[{"Key": "last", "Value": "50th"}])  # 50: at the limit
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName="tagged", Tags=[{"Key": "extra", "Value": "51st"}])
    assert error(exc) == ("LimitExceeded", 409, "The number of tags has reached the maximum limit.")
    iam.tag_role(RoleName="tagged", Tags=[{"Key": "K0", "Value": "overwritten"}])  # same key, any case
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="tagged")["Tags"]}
    assert len(tags) == 50 and tags["K0"] == "overwritten"
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName="tagged", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert error(exc) == ("InvalidInput", 400,
                          "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    iam.untag_role(RoleName="tagged", TagKeys=["k1", "LAST"])
    assert len(iam.list_role_tags(RoleName="tagged")["Tags"]) == 48


def test_user_tags(iam: Any) -> None:
    iam.create_user(UserName="tu")
    iam.tag_user(UserName="tu", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_user(UserName="tu", TagKeys=["a"])
    assert iam.list_user_tags(UserName="tu")["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName="nobody", Tags=[{"Key": "a", "Value": "1"}])
    assert error(exc) == ("NoSuchEntity", 404, "The user with name nobody cannot be found.")


# -- managed policies ----------------------------------------------------------------------------------
def test_aws_managed_policies_exist(iam: Any) -> None:
    admin = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert admin["PolicyId"].startswith("ANPA") and admin["DefaultVersionId"] == "v1"
    version = iam.get_policy_version(PolicyArn=admin["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"]["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    names = {p["PolicyName"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    assert {"AdministratorAccess", "ReadOnlyAccess", "IAMReadOnlyAccess", "PowerUserAccess"} <= names


def test_managed_policy_versions(iam: Any) -> None:
    policy = iam.create_policy(PolicyName="versioned", PolicyDocument=json.dumps(ALLOW_S3),
                               Description="d")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/versioned" and policy["PolicyId"].startswith("ANPA")
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="versioned", PolicyDocument=json.dumps(ALLOW_S3))
    assert error(exc) == ("EntityAlreadyExists", 409,
                          "A policy called versioned already exists. Duplicate names are not allowed.")
    for i in range(2, 6):  # v2..v5: five versions, the quota
        doc = {**ALLOW_S3, "Statement": [{**ALLOW_S3["Statement"][0], "Sid": f"V{i}"}]}
        made = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=i == 3)
        assert made["PolicyVersion"]["VersionId"] == f"v{i}"
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(ALLOW_S3))
    assert error(exc) == ("LimitExceeded", 409, "A managed policy can have up to 5 versions. Before you create "
                          "a new version, you must delete an existing version.")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
    assert got["Document"]["Statement"][0]["Sid"] == "V3" and got["IsDefaultVersion"]
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [
        "v5", "v4", "v3", "v2", "v1"]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete the default version of a policy.")
    with pytest.raises(ClientError) as exc:
        iam.get_policy_version(PolicyArn=arn, VersionId="v9")
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {arn} version v9 does not exist or is not attachable.")
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error(exc)[:2] == ("DeleteConflict", 409)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    for v in ("v2", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {arn} was not found.")


def test_managed_policy_rejects_malformed_and_oversized(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="old", PolicyDocument=json.dumps({**ALLOW_S3, "Version": "2008-10-17"}))
    assert error(exc) == ("MalformedPolicyDocument", 400, "Policy document must be version 2012-10-17 or greater.")
    iam.create_policy(PolicyName="max", PolicyDocument=sized_policy(6144))
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="over", PolicyDocument=sized_policy(6145))
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")


def test_attachments_and_quota(iam: Any) -> None:
    iam.create_role(RoleName="attached", AssumeRolePolicyDocument=trust())
    arns = [iam.create_policy(PolicyName=f"att{i}", PolicyDocument=json.dumps(ALLOW_S3))["Policy"]["Arn"]
            for i in range(10)]
    for arn in arns:  # ten: the quota
        iam.attach_role_policy(RoleName="attached", PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="attached", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerRole: 10")
    listed = iam.list_attached_role_policies(RoleName="attached")["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in listed) == sorted(arns)
    assert iam.get_policy(PolicyArn=arns[0])["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arns[0])
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete a policy attached to entities.")
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="attached")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/none"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="attached", PolicyArn=missing)
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {missing} does not exist or is not attachable.")
    for arn in arns:
        iam.detach_role_policy(RoleName="attached", PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName="attached", PolicyArn=arns[0])
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {arns[0]} was not found.")
    iam.delete_role(RoleName="attached")
    # users
    iam.create_user(UserName="attu")
    iam.attach_user_policy(UserName="attu", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="attu")["AttachedPolicies"]] == [
        "IAMReadOnlyAccess"]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="attu")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    iam.detach_user_policy(UserName="attu", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.delete_user(UserName="attu")


def test_permissions_boundaries(iam: Any) -> None:
    boundary = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    iam.create_role(RoleName="bounded", AssumeRolePolicyDocument=trust())
    iam.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=boundary)
    assert iam.get_role(RoleName="bounded")["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    iam.delete_role_permissions_boundary(RoleName="bounded")
    assert "PermissionsBoundary" not in iam.get_role(RoleName="bounded")["Role"]
    iam.create_user(UserName="bu")
    iam.put_user_permissions_boundary(UserName="bu", PermissionsBoundary=boundary)
    assert iam.get_user(UserName="bu")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.delete_user_permissions_boundary(UserName="bu")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/none"
    with pytest.raises(ClientError) as exc:
        iam.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=missing)
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {missing} does not exist or is not attachable.")


# -- authorization and isolation -----------------------------------------------------------------------
def test_user_without_policies_is_denied(server: Server, iam: Any) -> None:
    nobody = user_client(server, iam, "nopolicy")
    with pytest.raises(ClientError) as exc:
        nobody.list_roles()
    assert error(exc) == ("AccessDenied", 403, f"User: arn:aws:iam::{ACCOUNT}:user/nopolicy is not authorized "
                          f"to perform: iam:ListRoles on resource: arn:aws:iam::{ACCOUNT}:role/")
    with pytest.raises(ClientError) as exc:
        nobody.create_role(RoleName="sneaky", AssumeRolePolicyDocument=trust())
    assert error(exc) == ("AccessDenied", 403, f"User: arn:aws:iam::{ACCOUNT}:user/nopolicy is not authorized "
                          f"to perform: iam:CreateRole on resource: arn:aws:iam::{ACCOUNT}:role/sneaky")


def test_user_with_list_roles_only(server: Server, iam: Any) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}
    lister = user_client(server, iam, "lister", policy)
    iam.create_role(RoleName="visible", AssumeRolePolicyDocument=trust())
    assert "visible" in [r["RoleName"] for r in lister.list_roles()["Roles"]]
    with pytest.raises(ClientError) as exc:
        lister.get_role(RoleName="visible")
    assert error(exc) == ("AccessDenied", 403, f"User: arn:aws:iam::{ACCOUNT}:user/lister is not authorized "
                          f"to perform: iam:GetRole on resource: arn:aws:iam::{ACCOUNT}:role/visible")


def test_accounts_are_isolated(iam: Any, other_iam: Any) -> None:
    iam.create_role(RoleName="mine", AssumeRolePolicyDocument=trust())
    arn = iam.create_policy(PolicyName="minepol", PolicyDocument=json.dumps(ALLOW_S3))["Policy"]["Arn"]
    with pytest.raises(ClientError) as exc:
        other_iam.get_role(RoleName="mine")
    assert error(exc) == ("NoSuchEntity", 404, "The role with name mine cannot be found.")
    with pytest.raises(ClientError) as exc:
        other_iam.get_policy(PolicyArn=arn)
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {arn} was not found.")
    other_iam.create_role(RoleName="other-role", AssumeRolePolicyDocument=trust(OTHER))
    with pytest.raises(ClientError) as exc:
        other_iam.attach_role_policy(RoleName="other-role", PolicyArn=arn)
    assert error(exc) == ("NoSuchEntity", 404, f"Policy {arn} does not exist or is not attachable.")
    assert "mine" not in [r["RoleName"] for r in other_iam.list_roles()["Roles"]]
    # the same name may exist in both accounts
    other_iam.create_role(RoleName="mine", AssumeRolePolicyDocument=trust(OTHER))


def test_list_pagination(iam: Any) -> None:
    for i in range(5):
        iam.create_role(RoleName=f"page{i}", Path="/paged/", AssumeRolePolicyDocument=trust())
    first = iam.list_roles(PathPrefix="/paged/", MaxItems=2)
    assert first["IsTruncated"] and [r["RoleName"] for r in first["Roles"]] == ["page0", "page1"]
    names = [r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PathPrefix="/paged/",
                                                                              PaginationConfig={"PageSize": 2})
             for r in p["Roles"]]
    assert names == [f"page{i}" for i in range(5)]


# -- AWS CLI -----------------------------------------------------------------------------------------------
def test_aws_cli_role_flow(server: Server, admin_key: dict[str, str], tmp_path: Path) -> None:
    env = dict(server.env, AWS_ACCESS_KEY_ID=admin_key["AccessKeyId"],
               AWS_SECRET_ACCESS_KEY=admin_key["SecretAccessKey"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args: str) -> Any:
        out = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--endpoint-url", server.url,
                              "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    (tmp_path / "trust.json").write_text(trust())
    (tmp_path / "policy.json").write_text(json.dumps(ALLOW_S3))
    created = aws("create-role", "--role-name", "cli-role", "--assume-role-policy-document",
                  f"file://{tmp_path / 'trust.json'}")["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/cli-role"
    aws("put-role-policy", "--role-name", "cli-role", "--policy-name", "s3",
        "--policy-document", f"file://{tmp_path / 'policy.json'}")
    assert "cli-role" in [r["RoleName"] for r in aws("list-roles")["Roles"]]
    got = aws("get-role", "--role-name", "cli-role")["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(trust())
    assert aws("get-role-policy", "--role-name", "cli-role", "--policy-name", "s3")["PolicyDocument"] == ALLOW_S3
