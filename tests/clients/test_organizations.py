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
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
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


def test_service_control_policies_bind_member_accounts(org_server: Server, org: dict[str, Any]) -> None:
    """OUs and SCPs: a Deny in an OU's SCP and an allow-list replacing FullAWSAccess bind every principal
    of the member accounts under it — role sessions and the root user — and never the management account."""
    client, member = org["client"], org["member"]
    [root] = client.list_roots()["Roots"]
    assert root["Id"].startswith("r-") and root["PolicyTypes"] == []
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": ["iam:CreateUser", "iam:CreateAccessKey"], "Resource": "*"}]})
    policy = client.create_policy(Name="NoIamUsers", Description="no long-term keys", Type="SERVICE_CONTROL_POLICY",
                                  Content=deny)["Policy"]["PolicySummary"]
    assert policy["Id"].startswith("p-") and policy["AwsManaged"] is False
    with_principal = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]})  # SCPs name no principal
    for content, code in ((with_principal, "MalformedPolicyDocumentException"),
                          (allow(["s3:" + "x" * 40] * 130), "ConstraintViolationException")):
        with pytest.raises(ClientError) as exc:
            client.create_policy(Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content=content)
        assert err(exc)[0] == code
    with pytest.raises(ClientError) as exc:
        client.create_policy(Name="tags", Description="", Type="TAG_POLICY", Content="{}")
    assert err(exc)[0] == "PolicyTypeNotAvailableForOrganizationException"
    ou = client.create_organizational_unit(ParentId=root["Id"], Name="Workloads")["OrganizationalUnit"]
    with pytest.raises(ClientError) as exc:  # SCPs are not enabled yet
        client.attach_policy(PolicyId=policy["Id"], TargetId=ou["Id"])
    assert err(exc)[0] == "PolicyTypeNotEnabledException"
    enabled = client.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")["Root"]
    assert enabled["PolicyTypes"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    on_member = client.list_policies_for_target(TargetId=member, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert [p["Id"] for p in on_member] == ["p-FullAWSAccess"]

    client.move_account(AccountId=member, SourceParentId=root["Id"], DestinationParentId=ou["Id"])
    assert client.list_parents(ChildId=member)["Parents"] == [{"Id": ou["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert {"Id": member, "Type": "ACCOUNT"} in client.list_children(ParentId=ou["Id"], ChildType="ACCOUNT")["Children"]
    client.attach_policy(PolicyId=policy["Id"], TargetId=ou["Id"])
    targets = client.list_targets_for_policy(PolicyId=policy["Id"])["Targets"]
    assert [(t["TargetId"], t["Type"]) for t in targets] == [(ou["Id"], "ORGANIZATIONAL_UNIT")]

    member_iam = creds_client(org_server, member_admin(org_server, member), "iam")
    with pytest.raises(ClientError) as exc:  # the role has AdministratorAccess, the SCP denies
        member_iam.create_user(UserName="blocked")
    assert err(exc)[0] == "AccessDenied"
    member_iam.create_role(RoleName="Allowed", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": member}, "Action": "sts:AssumeRole"}]}))
    root_key = json.loads(org_server.cli("account", "create-root-key", member, "--json").stdout)
    with pytest.raises(ClientError) as exc:  # the member's root user is bound too
        creds_client(org_server, root_key, "iam").create_user(UserName="blocked")
    assert err(exc)[0] == "AccessDenied"
    org_server.client("iam").create_user(UserName=f"mgmt-{uuid.uuid4().hex[:6]}")  # never the management account
    sim = member_iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
        ActionNames=["iam:CreateUser", "iam:ListUsers"])["EvaluationResults"]
    assert [(r["EvalDecision"], r["OrganizationsDecisionDetail"]["AllowedByOrganizations"]) for r in sim] == [
        ("explicitDeny", False), ("allowed", True)]

    # An allow-list: FullAWSAccess replaced on the OU by a policy that allows only reads and STS.
    reads = client.create_policy(Name="ReadOnly", Description="", Type="SERVICE_CONTROL_POLICY", Content=allow(
        ["iam:Get*", "iam:List*", "sts:*"]))["Policy"]["PolicySummary"]["Id"]
    client.attach_policy(PolicyId=reads, TargetId=ou["Id"])
    client.detach_policy(PolicyId="p-FullAWSAccess", TargetId=ou["Id"])
    member_iam = creds_client(org_server, member_admin(org_server, member), "iam")
    assert member_iam.list_roles()["Roles"]
    with pytest.raises(ClientError) as exc:  # not in the OU level's allow-list
        member_iam.tag_role(RoleName="Allowed", Tags=[{"Key": "k", "Value": "v"}])
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        client.delete_policy(PolicyId=reads)
    assert err(exc)[0] == "PolicyInUseException"
    client.detach_policy(PolicyId=policy["Id"], TargetId=ou["Id"])
    with pytest.raises(ClientError) as exc:  # every level keeps at least one SCP
        client.detach_policy(PolicyId=reads, TargetId=ou["Id"])
    assert (err(exc)[0], exc.value.response["Reason"]) == ("ConstraintViolationException",
                                                           "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
    with pytest.raises(ClientError) as exc:
        client.delete_organizational_unit(OrganizationalUnitId=ou["Id"])
    assert err(exc)[0] == "OrganizationalUnitNotEmptyException"

    # aws:PrincipalOrgPaths names the OU the account sits in.
    path = f"{org['org']['Id']}/{root['Id']}/{ou['Id']}/"
    mgmt_iam = org_server.client("iam")
    role = mgmt_iam.create_role(RoleName=f"ou-only-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
                                                 "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [path + "*"]}}}]}))["Role"]["Arn"]
    member_sts = creds_client(org_server, member_admin(org_server, member))
    assert member_sts.assume_role(RoleArn=role, RoleSessionName="from-ou")["Credentials"]
    with pytest.raises(ClientError):  # the management account sits under the root, not in the OU
        org_server.client().assume_role(RoleArn=role, RoleSessionName="from-root")

    # Disabling the type lifts every SCP; the account goes back under the root.
    client.disable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    creds_client(org_server, member_admin(org_server, member), "iam").tag_role(
        RoleName="Allowed", Tags=[{"Key": "k", "Value": "v"}])
    client.move_account(AccountId=member, SourceParentId=ou["Id"], DestinationParentId=root["Id"])
    client.delete_organizational_unit(OrganizationalUnitId=ou["Id"])


@pytest.mark.parametrize("service,path,target,body,status,code", [
    ("organizations", "/", "AWSOrganizationsV20161128.DescribeOrganization", b"{not json", 400, "SerializationException"),
    ("organizations", "/", "AWSOrganizationsV20161128.DescribeOrganization", b"[1, 2]", 400, "InvalidInputException"),
    ("organizations", "/", "AWSOrganizationsV20161128.NoSuchOperation", b"{}", 400, "UnknownOperationException"),
    ("account", "/listRegions", None, b"\xff\xfe", 400, "SerializationException"),
    ("account", "/listRegions", None, b"[]", 400, "SerializationException"),
])
def test_unreadable_json_bodies(org_server: Server, org: dict[str, Any], service: str, path: str, target: str | None,
                                body: bytes, status: int, code: str) -> None:
    """Raw signed requests: JSON-protocol errors as botocore's parsers read them back, never a 500."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest("POST", org_server.url + path, data=body, headers=headers)
    SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), service, "us-east-1").add_auth(req)
    resp = httpx.post(org_server.url + path, content=body, headers=dict(req.headers))
    assert resp.status_code == status
    protocol = "json" if service == "organizations" else "rest-json"
    parsed = create_parser(protocol).parse({"status_code": resp.status_code, "headers": dict(resp.headers),
                                            "body": resp.content}, None)
    assert parsed["Error"]["Code"] == code, resp.content


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
