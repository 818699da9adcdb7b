"""AWS Organizations (the part STS needs) and AssumeRoot, with boto3 and the AWS CLI against a
server of their own: an organization, a member account created in it, centralized root access,
root sessions scoped by their task policy, a delegated administrator, aws:PrincipalOrgID."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server

TASK = "arn:aws:iam::aws:policy/root-task/"
AUDIT, DELETE = TASK + "IAMAuditRootUserCredentials", TASK + "IAMDeleteRootUserCredentials"


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def allow(actions: Any, resource: Any = "*", condition: dict | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def creds_client(server: Server, creds: dict[str, Any], service: str = "sts") -> Any:
    return server.client(service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         token=creds.get("SessionToken"))


@pytest.fixture(scope="module")
def org_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("opensts-org"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def org(org_server: Server) -> dict[str, Any]:
    """An organization managed by the bootstrap account, with one member account created in it."""
    client = org_server.client("organizations")
    with pytest.raises(ClientError) as exc:
        client.describe_organization()
    assert err(exc) == ("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
    created = client.create_organization(FeatureSet="ALL")["Organization"]
    status = client.create_account(Email="member@example.com", AccountName="Member")["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS" and status["Id"].startswith("car-")
    done = client.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert done["State"] == "SUCCEEDED"
    return {"org": created, "member": done["AccountId"], "client": client}


def member_admin(server: Server, member: str) -> dict[str, Any]:
    """Credentials in the member account, the way AWS gives them: its OrganizationAccountAccessRole."""
    role = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    return server.client().assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]


def test_organization_and_member_accounts(org_server: Server, org: dict[str, Any]) -> None:
    client, info, member = org["client"], org["org"], org["member"]
    assert info["Id"].startswith("o-") and info["MasterAccountId"] == ACCOUNT_ID and info["FeatureSet"] == "ALL"
    assert info["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:organization/{info['Id']}"
    with pytest.raises(ClientError) as exc:
        client.create_organization()
    assert err(exc)[0] == "AlreadyInOrganizationException"
    accounts = {a["Id"]: a for a in client.list_accounts()["Accounts"]}
    assert set(accounts) == {ACCOUNT_ID, member}
    assert accounts[member]["Email"] == "member@example.com" and accounts[member]["Name"] == "Member"
    assert accounts[member]["JoinedMethod"] == "CREATED" and accounts[member]["Status"] == "ACTIVE"
    assert client.describe_account(AccountId=member)["Account"]["Id"] == member
    with pytest.raises(ClientError) as exc:
        client.describe_account(AccountId="999988887777")
    assert err(exc)[0] == "AccountNotFoundException"
    # The member account is reached through the role CreateAccount made; it sees the organization
    # but may not manage it.
    admin = member_admin(org_server, member)
    assert creds_client(org_server, admin).get_caller_identity()["Account"] == member
    as_member = creds_client(org_server, admin, "organizations")
    assert as_member.describe_organization()["Organization"]["Id"] == info["Id"]
    with pytest.raises(ClientError) as exc:
        as_member.create_account(Email="x@example.com", AccountName="X")
    assert err(exc) == ("AccessDeniedException", "You don't have permissions to access this resource.")
    with pytest.raises(ClientError) as exc:
        client.delete_organization()
    assert err(exc)[0] == "OrganizationNotEmptyException"


@pytest.mark.parametrize("params,reason", [
    ({"Email": "not-an-email", "AccountName": "X"}, "INVALID_PATTERN"),
    ({"Email": "a@b.c", "AccountName": "X"}, "MIN_LENGTH_EXCEEDED"),
    ({"Email": "x@example.com", "AccountName": "X" * 51}, "MAX_LENGTH_EXCEEDED"),
    ({"Email": "x@example.com"}, "INPUT_REQUIRED"),
    ({"Email": "x@example.com", "AccountName": "X", "IamUserAccessToBilling": "MAYBE"}, "INVALID_ENUM"),
])
def test_invalid_input_is_refused_by_the_model(org_server: Server, org: dict[str, Any], params: dict[str, str],
                                               reason: str) -> None:
    raw = org_server.client("organizations", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.create_account(**params)
    assert exc.value.response["Error"]["Code"] == "InvalidInputException"
    assert exc.value.response["Reason"] == reason and exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_assume_root_end_to_end(org_server: Server, org: dict[str, Any]) -> None:
    client, member = org["client"], org["member"]
    iam = org_server.client("iam")
    sts = org_server.client()
    with pytest.raises(ClientError) as exc:  # centralized root access not enabled yet
        sts.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT})
    assert err(exc) == ("AccessDenied", f"User: arn:aws:iam::{ACCOUNT_ID}:user/admin is not authorized to perform: "
                                        f"sts:AssumeRoot on resource: arn:aws:iam::{member}:root")
    with pytest.raises(ClientError) as exc:
        iam.enable_organizations_root_sessions()
    assert err(exc)[0] == "ServiceAccessNotEnabledException"
    client.enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    iam.enable_organizations_root_credentials_management()
    out = iam.enable_organizations_root_sessions()
    assert out["OrganizationId"] == org["org"]["Id"]
    assert sorted(out["EnabledFeatures"]) == ["RootCredentialsManagement", "RootSessions"]
    assert iam.list_organizations_features()["EnabledFeatures"] == out["EnabledFeatures"]

    root_key = json.loads(org_server.cli("account", "create-root-key", member, "--json").stdout)
    member_root = creds_client(org_server, root_key)
    assert member_root.get_caller_identity()["Arn"] == f"arn:aws:iam::{member}:root"

    # An audit session: reads the member root's keys, may not delete them or do anything else.
    audit = sts.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT})
    creds = audit["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert 890 <= (creds["Expiration"].timestamp() - time.time()) <= 900
    ident = creds_client(org_server, creds).get_caller_identity()
    assert (ident["Account"], ident["Arn"], ident["UserId"]) == (member, f"arn:aws:iam::{member}:root", member)
    root_iam = creds_client(org_server, creds, "iam")
    keys = [k["AccessKeyId"] for k in root_iam.list_access_keys()["AccessKeyMetadata"]]
    assert keys == [root_key["AccessKeyId"]]
    with pytest.raises(ClientError) as exc:
        root_iam.delete_access_key(AccessKeyId=root_key["AccessKeyId"])
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        root_iam.create_user(UserName="intruder")
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError):  # the task policy does not allow sts:AssumeRole either
        creds_client(org_server, creds).assume_role(
            RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="escape")

    # A delete session (target given as the root ARN) removes the root user's key for good.
    delete = sts.assume_root(TargetPrincipal=f"arn:aws:iam::{member}:root", TaskPolicyArn={"arn": DELETE},
                             DurationSeconds=300)["Credentials"]
    creds_client(org_server, delete, "iam").delete_access_key(AccessKeyId=root_key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        member_root.get_caller_identity()
    assert err(exc)[0] == "InvalidClientTokenId"


def test_assume_root_refusals(org_server: Server, org: dict[str, Any]) -> None:
    member, sts = org["member"], org_server.client()
    _enable_root_sessions(org_server, org)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"TargetPrincipal": member, "TaskPolicyArn": {"arn": "arn:aws:iam::aws:policy/AdministratorAccess"}},
         "ValidationError"),
        ({"TargetPrincipal": "arn:aws:iam::123456789012:user/bob", "TaskPolicyArn": {"arn": AUDIT}}, "ValidationError"),
        ({"TargetPrincipal": ACCOUNT_ID, "TaskPolicyArn": {"arn": AUDIT}}, "AccessDenied"),  # the management account
        ({"TargetPrincipal": "999988887777", "TaskPolicyArn": {"arn": AUDIT}}, "AccessDenied"),  # not a member
        ({"TargetPrincipal": member, "TaskPolicyArn": {"arn": AUDIT}, "DurationSeconds": 901}, "ValidationError"),
    ]
    raw = org_server.client(parameter_validation=False)
    for params, code in cases:
        with pytest.raises(ClientError) as exc:
            raw.assume_root(**params)
        assert err(exc)[0] == code, params
    assert sts.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT}, DurationSeconds=900)
    # Root user credentials may not call it, and neither may a principal whose policy does not allow it.
    root = json.loads(org_server.cli("account", "create-root-key", ACCOUNT_ID, "--json").stdout)
    with pytest.raises(ClientError) as exc:
        creds_client(org_server, root).assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT})
    assert err(exc)[0] == "AccessDenied"
    iam = org_server.client("iam")
    name = f"ops-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=allow(
        "sts:AssumeRoot", f"arn:aws:iam::{member}:root", {"ArnEquals": {"sts:TaskPolicyArn": AUDIT}}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    ops = org_server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert ops.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT})["Credentials"]
    with pytest.raises(ClientError) as exc:  # the condition on sts:TaskPolicyArn
        ops.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": DELETE})
    assert err(exc)[0] == "AccessDenied"


def test_assume_root_only_on_regional_endpoints(org_server: Server, org: dict[str, Any]) -> None:
    _enable_root_sessions(org_server, org)
    task = {"arn": AUDIT}
    glob = boto3.client("sts", endpoint_url=f"{org_server.url}/sts.amazonaws.com", region_name="us-east-1",
                        aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
    with pytest.raises(ClientError) as exc:
        glob.assume_root(TargetPrincipal=org["member"], TaskPolicyArn=task)
    assert err(exc)[0] == "InvalidAction"
    west = boto3.client("sts", endpoint_url=f"{org_server.url}/sts.us-west-2.amazonaws.com", region_name="us-west-2",
                        aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
    token = west.assume_root(TargetPrincipal=org["member"], TaskPolicyArn=task)["Credentials"]["SessionToken"]
    raw = base64.b64decode(token)
    assert raw[2 : 2 + raw[1]].decode().startswith("us-west-2/")  # sealed by us-west-2's key


def test_assume_root_is_audited_in_both_accounts(org_server: Server, org: dict[str, Any]) -> None:
    _enable_root_sessions(org_server, org)
    member = org["member"]
    out = org_server.client().assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT})
    rid = out["ResponseMetadata"]["RequestId"]
    mine = _events(org_server, rid, ADMIN_KEY, ADMIN_SECRET)
    admin = member_admin(org_server, member)
    theirs = _events(org_server, rid, admin["AccessKeyId"], admin["SecretAccessKey"], admin["SessionToken"])
    assert len(mine) == len(theirs) == 1
    assert mine[0]["eventName"] == "AssumeRoot" and mine[0]["readOnly"] is False
    assert mine[0]["recipientAccountId"] == ACCOUNT_ID and theirs[0]["recipientAccountId"] == member
    assert mine[0]["sharedEventID"] == theirs[0]["sharedEventID"]
    assert theirs[0]["userIdentity"]["type"] == "AWSAccount"
    assert mine[0]["requestParameters"]["targetPrincipal"] == member
    assert "secretAccessKey" not in json.dumps(mine[0])
    # What the root session then does carries sessionContext.assumedRoot, in the member's trail.
    root_iam = creds_client(org_server, out["Credentials"], "iam")
    rid = root_iam.list_access_keys()["ResponseMetadata"]["RequestId"]
    [event] = _events(org_server, rid, admin["AccessKeyId"], admin["SecretAccessKey"], admin["SessionToken"])
    ident = event["userIdentity"]
    assert (ident["type"], ident["arn"], ident["accountId"]) == ("Root", f"arn:aws:iam::{member}:root", member)
    assert ident["sessionContext"]["assumedRoot"] == "true"


def test_principal_org_id_in_trust_policies(org_server: Server, org: dict[str, Any]) -> None:
    """A role in the member account open to any principal of the organization (a common pattern)."""
    member, org_id = org["member"], org["org"]["Id"]
    member_iam = creds_client(org_server, member_admin(org_server, member), "iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}]}
    role = member_iam.create_role(RoleName="OrgShared", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert org_server.client().assume_role(RoleArn=role, RoleSessionName="in-org")["Credentials"]
    outsider = json.loads(org_server.cli("account", "create", "444455556666", "--json").stdout)
    with pytest.raises(ClientError) as exc:
        creds_client(org_server, outsider).assume_role(RoleArn=role, RoleSessionName="outside")
    assert err(exc)[0] == "AccessDenied"
    sim = org_server.client("iam").simulate_custom_policy(
        PolicyInputList=[allow("s3:GetObject", "*", {"StringEquals": {"aws:PrincipalOrgID": org_id}})],
        ActionNames=["s3:GetObject"], ContextEntries=[{"ContextKeyName": "aws:PrincipalOrgID",
                                                      "ContextKeyValues": [org_id], "ContextKeyType": "string"}])
    assert sim["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_delegated_administrator_for_iam(org_server: Server, org: dict[str, Any]) -> None:
    client, member = org["client"], org["member"]
    _enable_root_sessions(org_server, org)
    second = client.create_account(Email="second@example.com", AccountName="Second")["CreateAccountStatus"]
    second_id = client.describe_create_account_status(CreateAccountRequestId=second["Id"])["CreateAccountStatus"][
        "AccountId"]
    delegate = creds_client(org_server, member_admin(org_server, member))
    with pytest.raises(ClientError) as exc:  # not yet a delegated administrator
        delegate.assume_root(TargetPrincipal=second_id, TaskPolicyArn={"arn": AUDIT})
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        client.register_delegated_administrator(AccountId=ACCOUNT_ID, ServicePrincipal="iam.amazonaws.com")
    assert err(exc)[0] == "ConstraintViolationException"
    client.register_delegated_administrator(AccountId=member, ServicePrincipal="iam.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        client.register_delegated_administrator(AccountId=member, ServicePrincipal="iam.amazonaws.com")
    assert err(exc)[0] == "AccountAlreadyRegisteredException"
    admins = client.list_delegated_administrators(ServicePrincipal="iam.amazonaws.com")["DelegatedAdministrators"]
    assert [a["Id"] for a in admins] == [member]
    ident = creds_client(org_server, delegate.assume_root(TargetPrincipal=second_id, TaskPolicyArn={"arn": AUDIT})[
        "Credentials"]).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{second_id}:root"
    client.deregister_delegated_administrator(AccountId=member, ServicePrincipal="iam.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        delegate.assume_root(TargetPrincipal=second_id, TaskPolicyArn={"arn": AUDIT})
    assert err(exc)[0] == "AccessDenied"


def test_aws_cli_walk_through(org_server: Server, org: dict[str, Any], tmp_path: Path) -> None:
    """The README's steps with the AWS CLI."""
    env = dict(org_server.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))

    def aws(*args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "awscli", *args, "--endpoint-url", org_server.url, "--output",
                              "json"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    assert aws("organizations", "describe-organization")["Organization"]["Id"] == org["org"]["Id"]
    aws("organizations", "enable-aws-service-access", "--service-principal", "iam.amazonaws.com")
    assert "RootSessions" in aws("iam", "enable-organizations-root-sessions")["EnabledFeatures"]
    creds = aws("sts", "assume-root", "--target-principal", org["member"], "--task-policy-arn", f"arn={AUDIT}",
                "--duration-seconds", "900")["Credentials"]
    env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
               AWS_SESSION_TOKEN=creds["SessionToken"])
    assert aws("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{org['member']}:root"


def test_an_existing_account_joins_by_invitation_and_leaves(org_server: Server, org: dict[str, Any]) -> None:
    client, org_id = org["client"], org["org"]["Id"]
    guest = json.loads(org_server.cli("account", "create", "555566667777", "--json").stdout)
    as_guest = creds_client(org_server, guest, "organizations")
    with pytest.raises(ClientError) as exc:
        as_guest.describe_organization()
    assert err(exc)[0] == "AWSOrganizationsNotInUseException"
    for target, reason in (({"Id": "guest@example.com", "Type": "EMAIL"}, "INVALID_PARTY_TYPE_TARGET"),
                           ({"Id": "999900001111", "Type": "ACCOUNT"}, "INVALID_PARTY_TYPE_TARGET")):
        with pytest.raises(ClientError) as exc:
            client.invite_account_to_organization(Target=target)
        assert (err(exc)[0], exc.value.response["Reason"]) == ("InvalidInputException", reason)
    handshake = client.invite_account_to_organization(Target={"Id": "555566667777", "Type": "ACCOUNT"},
                                                      Notes="welcome")["Handshake"]
    assert handshake["State"] == "OPEN" and handshake["Action"] == "INVITE" and handshake["Id"].startswith("h-")
    assert {"Value": "welcome", "Type": "NOTES"} in handshake["Resources"]
    assert 15 * 86400 - 5 <= (handshake["ExpirationTimestamp"] - handshake["RequestedTimestamp"]).total_seconds()
    with pytest.raises(ClientError) as exc:
        client.invite_account_to_organization(Target={"Id": "555566667777", "Type": "ACCOUNT"})
    assert err(exc)[0] == "DuplicateHandshakeException"
    [seen] = as_guest.list_handshakes_for_account()["Handshakes"]
    assert seen["Id"] == handshake["Id"]
    other = creds_client(org_server, member_admin(org_server, org["member"]), "organizations")
    with pytest.raises(ClientError) as exc:  # only the invited account may accept
        other.accept_handshake(HandshakeId=handshake["Id"])
    assert err(exc)[0] == "HandshakeNotFoundException"
    accepted = as_guest.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]
    assert accepted["State"] == "ACCEPTED"
    with pytest.raises(ClientError) as exc:
        as_guest.accept_handshake(HandshakeId=handshake["Id"])
    assert err(exc)[0] == "HandshakeAlreadyInStateException"
    assert as_guest.describe_organization()["Organization"]["Id"] == org_id
    joined = client.describe_account(AccountId="555566667777")["Account"]
    assert joined["JoinedMethod"] == "INVITED"
    # The new member is now in aws:PrincipalOrgID-guarded trust, and leaves again.
    as_guest.leave_organization()
    with pytest.raises(ClientError) as exc:
        client.describe_account(AccountId="555566667777")
    assert err(exc)[0] == "AccountNotFoundException"
    # Invited again, declined; a cancelled invitation cannot be accepted.
    again = client.invite_account_to_organization(Target={"Id": "555566667777", "Type": "ACCOUNT"})["Handshake"]
    assert as_guest.decline_handshake(HandshakeId=again["Id"])["Handshake"]["State"] == "DECLINED"
    third = client.invite_account_to_organization(Target={"Id": "555566667777", "Type": "ACCOUNT"})["Handshake"]
    assert client.cancel_handshake(HandshakeId=third["Id"])["Handshake"]["State"] == "CANCELED"
    with pytest.raises(ClientError) as exc:
        as_guest.accept_handshake(HandshakeId=third["Id"])
    assert err(exc)[0] == "InvalidHandshakeTransitionException"
    states = {h["Id"]: h["State"] for h in client.list_handshakes_for_organization()["Handshakes"]}
    assert [states[h] for h in (handshake["Id"], again["Id"], third["Id"])] == ["ACCEPTED", "DECLINED", "CANCELED"]
    with pytest.raises(ClientError) as exc:
        client.leave_organization()
    assert err(exc)[0] == "MasterCannotLeaveOrganizationException"


def test_remove_account_from_organization(org_server: Server, org: dict[str, Any]) -> None:
    client = org["client"]
    status = client.create_account(Email="leaver@example.com", AccountName="Leaver")["CreateAccountStatus"]
    leaver = client.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"][
        "AccountId"]
    client.register_delegated_administrator(AccountId=leaver, ServicePrincipal="account.amazonaws.com")
    client.remove_account_from_organization(AccountId=leaver)
    assert leaver not in {a["Id"] for a in client.list_accounts()["Accounts"]}
    assert client.list_delegated_administrators(ServicePrincipal="account.amazonaws.com")["DelegatedAdministrators"] == []
    with pytest.raises(ClientError) as exc:
        client.remove_account_from_organization(AccountId=leaver)
    assert err(exc)[0] == "AccountNotFoundException"
    with pytest.raises(ClientError) as exc:
        client.remove_account_from_organization(AccountId=ACCOUNT_ID)
    assert err(exc)[0] == "MasterCannotLeaveOrganizationException"
    # Still an account, reachable through its role, just no longer in the organization.
    out = creds_client(org_server, member_admin(org_server, leaver), "organizations")
    with pytest.raises(ClientError) as exc:
        out.describe_organization()
    assert err(exc)[0] == "AWSOrganizationsNotInUseException"


def test_management_account_manages_member_regions(org_server: Server, org: dict[str, Any]) -> None:
    """The Account API's AccountId, as AWS allows it: from the management account, with trusted
    access for Account Management."""
    client, member = org["client"], org["member"]
    account = org_server.client("account")
    client.disable_aws_service_access(ServicePrincipal="account.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        account.enable_region(AccountId=member, RegionName="af-south-1")
    assert err(exc)[0] == "AccessDeniedException"
    client.enable_aws_service_access(ServicePrincipal="account.amazonaws.com")
    account.enable_region(AccountId=member, RegionName="af-south-1")
    assert account.get_region_opt_status(AccountId=member, RegionName="af-south-1")["RegionOptStatus"] == "ENABLED"
    assert account.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == "DISABLED"  # its own: untouched
    as_member = creds_client(org_server, member_admin(org_server, org["member"]), "account")
    assert as_member.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == "ENABLED"
    with pytest.raises(ClientError) as exc:  # a member may not act on the management account
        as_member.get_region_opt_status(AccountId=ACCOUNT_ID, RegionName="af-south-1")
    assert err(exc)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:  # nor the management account on an account outside the organization
        account.get_region_opt_status(AccountId="444455556666", RegionName="af-south-1")
    assert err(exc)[0] == "AccessDeniedException"


def _events(server: Server, request_id: str, key: str, secret: str, token: str | None = None) -> list[dict[str, Any]]:
    """The caller account's records of one request (LookupEvents, polling briefly)."""
    trail = boto3.client("cloudtrail", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
                         aws_secret_access_key=secret, aws_session_token=token)
    for _ in range(50):
        records = [json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events(MaxResults=50)["Events"]]
        found = [r for r in records if r["requestID"] == request_id]
        if found:
            return found
        time.sleep(0.1)
    return []


def _enable_root_sessions(server: Server, org: dict[str, Any]) -> None:
    """Idempotent: tests may run alone or in any order."""
    org["client"].enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    server.client("iam").enable_organizations_root_sessions()
