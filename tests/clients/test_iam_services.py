"""The IAM API with real clients: identity providers, virtual MFA with real TOTP codes, account
settings and summary, and policy simulation."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from opensts.service.iam.mfa import verify_totp
from opensts.store.database import open_store
from tests.conftest import Server

ACCOUNT = "410987654321"
SAML_METADATA = (
    '<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="https://idp.example.com/saml" validUntil="2049-01-01T00:00:00Z">'
    '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
    + "<!-- padding -->" * 70
    + '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
)


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    key = json.loads(server.cli("account", "create", ACCOUNT, "--json").stdout)
    return server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


# -- OpenID Connect and SAML providers --------------------------------------------------------------
def test_oidc_provider_lifecycle(iam: Any) -> None:
    arn = iam.create_open_id_connect_provider(Url="https://token.example.com/issuer", ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.example.com/issuer"
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="https://token.example.com/issuer", ThumbprintList=["a" * 40])
    assert error(exc) == ("EntityAlreadyExists", 409,
                          "Provider with url https://token.example.com/issuer already exists.")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="my-app")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["b" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == "token.example.com/issuer"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "my-app"] and got["ThumbprintList"] == ["b" * 40]
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error(exc) == ("NoSuchEntity", 404, f"OpenIDConnect Provider not found for arn {arn}")


def test_saml_provider_lifecycle(iam: Any) -> None:
    arn = iam.create_saml_provider(Name="corp-idp", SAMLMetadataDocument=SAML_METADATA)["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:saml-provider/corp-idp"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == SAML_METADATA and got["ValidUntil"].year == 2049
    assert [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]] == [arn]
    updated = SAML_METADATA.replace("2049-01-01", "2050-06-01")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=updated)["SAMLProviderArn"] == arn
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ValidUntil"].year == 2050
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert error(exc)[:2] == ("NoSuchEntity", 404)


# -- virtual MFA ----------------------------------------------------------------------------------------
def test_virtual_mfa_with_real_totp(server: Server, iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    iam.create_user(UserName="mfa-user")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-user")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/mfa-user"
    seed = device["Base32StringSeed"].decode()
    otp = pyotp.TOTP(seed)
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-user")
    assert error(exc) == ("EntityAlreadyExists", 409, "MFADevice entity at the same path and name already exists.")
    now = time.time()
    wrong = str((int(otp.at(now)) + 1) % 1_000_000).zfill(6)
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(UserName="mfa-user", SerialNumber=serial, AuthenticationCode1=wrong,
                              AuthenticationCode2=otp.at(now + 30))
    assert error(exc) == ("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    # two consecutive codes: the previous step's and the current one
    iam.enable_mfa_device(UserName="mfa-user", SerialNumber=serial,
                          AuthenticationCode1=otp.at(now - 30), AuthenticationCode2=otp.at(now))
    listed = iam.list_mfa_devices(UserName="mfa-user")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [(d["SerialNumber"], d["User"]["UserName"]) for d in assigned] == [(serial, "mfa-user")]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="mfa-user")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete MFA device first.")

    # verify_totp (what STS uses): a fresh code once, then never again; other users' codes fail
    if "OPENSTS_DATABASE_URL" in server.env:  # the server's database, when not the default SQLite
        monkeypatch.setenv("OPENSTS_DATABASE_URL", server.env["OPENSTS_DATABASE_URL"])
    repo = open_store(server.data_dir, run_migrations=False)
    user_id = iam.get_user(UserName="mfa-user")["User"]["UserId"]
    assert not verify_totp(repo, serial, otp.at(now), time.time(), user_id=user_id)  # used by EnableMFADevice
    later = otp.at(now + 30)
    assert not verify_totp(repo, serial, later, time.time(), user_id="AIDAOTHERUSER00000000")
    assert verify_totp(repo, serial, later, now + 30, user_id=user_id)
    assert not verify_totp(repo, serial, later, now + 30, user_id=user_id)  # replay
    assert not verify_totp(repo, serial, otp.at(now + 120), now + 30, user_id=user_id)  # outside ±1 step

    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc)[:2] == ("DeleteConflict", 409)
    iam.deactivate_mfa_device(UserName="mfa-user", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="mfa-user")["MFADevices"] == []
    assert not verify_totp(repo, serial, otp.at(time.time() + 30), time.time() + 30)  # disabled
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="mfa-user")


# -- account ----------------------------------------------------------------------------------------------
def test_account_summary_and_token_version(iam: Any) -> None:
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["GlobalEndpointTokenVersion"] == 1
    assert summary["AccessKeysPerUserQuota"] == 2 and summary["AttachedPoliciesPerRoleQuota"] == 10
    users, roles = summary["Users"], summary["Roles"]
    iam.create_role(RoleName="counted", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["GlobalEndpointTokenVersion"] == 2
    assert (summary["Users"], summary["Roles"]) == (users, roles + 1)
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v1Token")
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1


# -- simulation -------------------------------------------------------------------------------------------
CONDITIONAL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "finance"}}},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    ],
}


def test_simulate_principal_policy_with_conditions(iam: Any) -> None:
    iam.create_user(UserName="sim")
    iam.put_user_policy(UserName="sim", PolicyName="reports", PolicyDocument=json.dumps(CONDITIONAL))
    source = f"arn:aws:iam::{ACCOUNT}:user/sim"

    def simulate(action: str, entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"ContextEntries": entries} if entries else {}
        return iam.simulate_principal_policy(PolicySourceArn=source, ActionNames=[action],
                                             ResourceArns=["arn:aws:s3:::reports/q1.csv"], **kwargs)[
            "EvaluationResults"][0]

    finance = [{"ContextKeyName": "aws:RequestTag/team", "ContextKeyValues": ["finance"], "ContextKeyType": "string"}]
    allowed = simulate("s3:GetObject", finance)
    assert allowed["EvalDecision"] == "allowed"
    assert allowed["MatchedStatements"][0]["SourcePolicyId"] == "reports"
    other = [{"ContextKeyName": "aws:RequestTag/team", "ContextKeyValues": ["sales"], "ContextKeyType": "string"}]
    assert simulate("s3:GetObject", other)["EvalDecision"] == "implicitDeny"
    missing = simulate("s3:GetObject")
    assert missing["EvalDecision"] == "implicitDeny"
    assert missing["MissingContextValues"] == ["aws:RequestTag/team"]
    assert simulate("s3:DeleteObject")["EvalDecision"] == "explicitDeny"
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/ghost", ActionNames=["s3:x"])
    assert error(exc) == ("NoSuchEntity", 404, "The user with name ghost cannot be found.")


def test_simulate_role_with_boundary_and_managed_policy(iam: Any) -> None:
    iam.create_role(RoleName="simrole", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName="simrole", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_role_permissions_boundary(RoleName="simrole", PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    results = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/simrole",
                                            ActionNames=["iam:GetRole", "s3:GetObject"])["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in results}
    assert by_action["iam:GetRole"]["EvalDecision"] == "allowed"
    assert by_action["iam:GetRole"]["MatchedStatements"] == [
        {"SourcePolicyId": "AdministratorAccess", "SourcePolicyType": "IAM Policy"}]
    assert by_action["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:GetObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_simulate_custom_policy_typed_context(iam: Any) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*", "Condition": {
            "Bool": {"aws:MultiFactorAuthPresent": "true"},
            "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
            "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
        }}],
    }

    def decide(mfa: str, age: str, ip: str) -> str:
        entries = [
            {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": [mfa], "ContextKeyType": "boolean"},
            {"ContextKeyName": "aws:MultiFactorAuthAge", "ContextKeyValues": [age], "ContextKeyType": "numeric"},
            {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [ip], "ContextKeyType": "ip"},
        ]
        return iam.simulate_custom_policy(PolicyInputList=[json.dumps(policy)], ActionNames=["ec2:StartInstances"],
                                          ContextEntries=entries)["EvaluationResults"][0]["EvalDecision"]

    assert decide("true", "60", "203.0.113.7") == "allowed"
    assert decide("false", "60", "203.0.113.7") == "implicitDeny"
    assert decide("true", "7200", "203.0.113.7") == "implicitDeny"
    assert decide("true", "60", "198.51.100.1") == "implicitDeny"


def test_simulation_is_itself_authorized(server: Server, iam: Any) -> None:
    iam.create_user(UserName="nosim")
    key = iam.create_access_key(UserName="nosim")["AccessKey"]
    client = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        client.simulate_custom_policy(PolicyInputList=[json.dumps(CONDITIONAL)], ActionNames=["s3:GetObject"])
    assert error(exc) == ("AccessDenied", 403, f"User: arn:aws:iam::{ACCOUNT}:user/nosim is not authorized to "
                          "perform: iam:SimulateCustomPolicy on resource: *")
