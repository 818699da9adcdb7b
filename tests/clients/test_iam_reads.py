"""What security teams read, with real clients: tags on policies, OIDC/SAML providers and MFA
devices (and the tag condition keys in their decisions), UpdateOpenIDConnectProvider,
GetAccessKeyLastUsed from real use, the credential report (parsed with csv) and access advisor
from the audit trail's real calls."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

ACCOUNT = "420987654321"
OTHER = "430987654321"
SAML_METADATA = (
    '<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="https://idp.example.com/saml" validUntil="2049-01-01T00:00:00Z">'
    '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
    + "<!-- padding -->" * 70
    + '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
)
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def _account(server: Server, account: str) -> Any:
    key = json.loads(server.cli("account", "create", account, "--json").stdout)
    return server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return _account(server, ACCOUNT)


@pytest.fixture(scope="module")
def other(server: Server) -> Any:
    return _account(server, OTHER)


def user_client(server: Server, iam: Any, name: str, policy: dict[str, Any] | None, service: str = "iam") -> Any:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client(service, key=key["AccessKeyId"], secret=key["SecretAccessKey"])


# -- tags on policies, providers and MFA devices ------------------------------------------------------
def _entities(iam: Any) -> list[tuple[str, dict[str, str], Callable[..., Any], Callable[..., Any], Callable[..., Any]]]:
    """(kind, identifying params, tag, untag, list) for one fresh entity of each kind."""
    policy = iam.create_policy(PolicyName=f"tagged-{time.time_ns()}", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    oidc = iam.create_open_id_connect_provider(Url=f"https://idp{time.time_ns()}.example.com",
                                               ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    saml = iam.create_saml_provider(Name=f"saml{time.time_ns()}", SAMLMetadataDocument=SAML_METADATA)["SAMLProviderArn"]
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"mfa{time.time_ns()}")["VirtualMFADevice"]["SerialNumber"]
    return [
        ("policy", {"PolicyArn": policy}, iam.tag_policy, iam.untag_policy, iam.list_policy_tags),
        ("oidc", {"OpenIDConnectProviderArn": oidc}, iam.tag_open_id_connect_provider,
         iam.untag_open_id_connect_provider, iam.list_open_id_connect_provider_tags),
        ("saml", {"SAMLProviderArn": saml}, iam.tag_saml_provider, iam.untag_saml_provider,
         iam.list_saml_provider_tags),
        ("mfa", {"SerialNumber": mfa}, iam.tag_mfa_device, iam.untag_mfa_device, iam.list_mfa_device_tags),
    ]


def test_tags_on_every_entity_kind(iam: Any) -> None:
    for kind, ident, tag, untag, list_tags in _entities(iam):
        tag(**ident, Tags=[{"Key": "team", "Value": "a"}, {"Key": "Env", "Value": "prod"}])
        tag(**ident, Tags=[{"Key": "TEAM", "Value": "b"}])  # keys are case-insensitive; the latest spelling wins
        assert list_tags(**ident)["Tags"] == [{"Key": "Env", "Value": "prod"}, {"Key": "TEAM", "Value": "b"}], kind
        page = list_tags(**ident, MaxItems=1)
        assert page["IsTruncated"] and len(page["Tags"]) == 1
        untag(**ident, TagKeys=["team"])
        assert list_tags(**ident)["Tags"] == [{"Key": "Env", "Value": "prod"}], kind
        with pytest.raises(ClientError) as exc:
            tag(**ident, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
        assert error(exc) == ("InvalidInput", 400,
                              "Duplicate tag keys found. Please note that Tag keys are case insensitive."), kind
        tag(**ident, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])  # 49 + Env = 50: the limit
        with pytest.raises(ClientError) as exc:
            tag(**ident, Tags=[{"Key": "one-more", "Value": "v"}])
        assert error(exc) == ("LimitExceeded", 409, "The number of tags has reached the maximum limit."), kind
        assert len(list_tags(**ident)["Tags"]) == 50
        with pytest.raises(ClientError) as exc:  # the model's own checks: a bad key pattern
            tag(**ident, Tags=[{"Key": "bad#key", "Value": "v"}])
        assert error(exc)[:2] == ("ValidationError", 400), kind


def test_tag_errors_for_missing_and_foreign_entities(iam: Any, other: Any) -> None:
    for kind, ident, *_ in _entities(iam):
        name = {"policy": "tag_policy", "oidc": "tag_open_id_connect_provider", "saml": "tag_saml_provider",
                "mfa": "tag_mfa_device"}[kind]
        with pytest.raises(ClientError) as exc:  # another account's entity does not exist for it
            getattr(other, name)(**ident, Tags=[{"Key": "k", "Value": "v"}])
        assert error(exc)[:2] == ("NoSuchEntity", 404), kind
    with pytest.raises(ClientError) as exc:
        iam.list_policy_tags(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/missing")
    assert error(exc) == ("NoSuchEntity", 404, f"Policy arn:aws:iam::{ACCOUNT}:policy/missing was not found.")
    with pytest.raises(ClientError) as exc:
        iam.tag_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess", Tags=[{"Key": "k", "Value": "v"}])
    assert error(exc)[:2] == ("InvalidInput", 400)
    assert iam.list_policy_tags(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")["Tags"] == []


def test_tag_condition_keys_decide(server: Server, iam: Any) -> None:
    policy = iam.create_policy(PolicyName="cond-target", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam.tag_policy(PolicyArn=policy, Tags=[{"Key": "owner", "Value": "alice"}])
    alice = user_client(server, iam, "tagger", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:TagPolicy", "iam:UntagPolicy", "iam:ListPolicyTags"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/owner": "alice"}}},
        {"Effect": "Deny", "Action": "iam:TagPolicy", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}}},
        {"Effect": "Deny", "Action": "iam:TagPolicy", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}},
    ]})
    alice.tag_policy(PolicyArn=policy, Tags=[{"Key": "env", "Value": "dev"}])
    assert {"Key": "env", "Value": "dev"} in alice.list_policy_tags(PolicyArn=policy)["Tags"]
    for tags in ([{"Key": "owner", "Value": "mallory"}], [{"Key": "env", "Value": "prod"}]):
        with pytest.raises(ClientError) as exc:
            alice.tag_policy(PolicyArn=policy, Tags=tags)
        assert error(exc)[:2] == ("AccessDenied", 403)
    other_policy = iam.create_policy(PolicyName="cond-other", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    with pytest.raises(ClientError) as exc:  # no owner=alice tag on it
        alice.list_policy_tags(PolicyArn=other_policy)
    assert error(exc)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:  # a missing policy: denied before its absence is revealed
        alice.list_policy_tags(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/nope")
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_tag_limit_holds_under_concurrency(iam: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    policy = iam.create_policy(PolicyName="racing-tags", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]

    def tag(i: int) -> str:
        try:
            iam.tag_policy(PolicyArn=policy, Tags=[{"Key": f"k{i}-{j}", "Value": "v"} for j in range(5)])
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(tag, range(16)))
    assert results.count("ok") == 10 and results.count("LimitExceeded") == 6
    assert len(iam.list_policy_tags(PolicyArn=policy)["Tags"]) == 50


def test_tags_with_the_cli(server: Server) -> None:
    env = {**server.env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    import subprocess
    import sys

    key = json.loads(server.cli("account", "create", "440987654321", "--json").stdout)
    env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.url, "iam", *args,
                              "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    arn = aws("create-saml-provider", "--name", "cli-idp", "--saml-metadata-document", SAML_METADATA)["SAMLProviderArn"]
    aws("tag-saml-provider", "--saml-provider-arn", arn, "--tags", "Key=team,Value=sec")
    assert aws("list-saml-provider-tags", "--saml-provider-arn", arn)["Tags"] == [{"Key": "team", "Value": "sec"}]
    aws("untag-saml-provider", "--saml-provider-arn", arn, "--tag-keys", "team")
    assert aws("list-saml-provider-tags", "--saml-provider-arn", arn)["Tags"] == []


# -- UpdateOpenIDConnectProvider --------------------------------------------------------------------
def test_update_oidc_provider(iam: Any) -> None:
    arn = iam.create_open_id_connect_provider(Url="https://propagation.example.com",
                                              ThumbprintList=["c" * 40])["OpenIDConnectProviderArn"]
    context = {"SubjectSourceKey": "sub", "KeyDefinitionList": [{"SourceKey": "email", "TargetKey": "mail"}]}
    with pytest.raises(ClientError) as exc:  # an association needs a context provider first
        iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                            IdentityCenterInstanceArn="arn:aws:sso:::instance/ssoins-1")
    assert error(exc)[:2] == ("InvalidInput", 400)
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, ContextProvider=context)
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                        IdentityCenterInstanceArn="arn:aws:sso:::instance/ssoins-1")
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ContextProvider"] == context and got["IdentityCenterInstanceArn"] == "arn:aws:sso:::instance/ssoins-1"
    for bad in ({"ContextProvider": context, "RemoveContextProvider": True},  # a value and its Remove flag
                {"ContextProvider": context, "IdentityCenterInstanceArn": "x"},  # both settings at once
                {"RemoveContextProvider": True},  # the association must go first
                {}):
        with pytest.raises(ClientError) as exc:
            iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, **bad)
        assert error(exc)[:2] == ("InvalidInput", 400), bad
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, RemoveIdentityCenterInstance=True)
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, RemoveContextProvider=True)
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert "ContextProvider" not in got and "IdentityCenterInstanceArn" not in got
    with pytest.raises(ClientError) as exc:
        iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn + "x", RemoveContextProvider=True)
    assert error(exc)[:2] == ("NoSuchEntity", 404)


# -- GetAccessKeyLastUsed ------------------------------------------------------------------------------
def _wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_access_key_last_used_reflects_real_calls(server: Server, iam: Any, other: Any) -> None:
    iam.create_user(UserName="key-user")
    key = iam.create_access_key(UserName="key-user")["AccessKey"]
    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert never["UserName"] == "key-user"
    assert never["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"], region="eu-west-1")
    before = time.time()
    sts.get_caller_identity()  # authenticated with the key (no permission needed)

    def used() -> Any:
        last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        return last if "LastUsedDate" in last else None

    last = _wait_for(used)
    assert last and last["ServiceName"] == "sts" and last["Region"] == "eu-west-1"
    assert before - 2 <= last["LastUsedDate"].timestamp() <= time.time() + 1
    with pytest.raises(ClientError) as exc:  # another account's key: not theirs to read
        other.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert error(exc)[:2] == ("AccessDenied", 403)
    denied = user_client(server, iam, "no-rights", None)
    with pytest.raises(ClientError) as exc:
        denied.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert error(exc)[:2] == ("AccessDenied", 403)


# -- credential report ---------------------------------------------------------------------------------
COLUMNS = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
           "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
           "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
           "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
           "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated")


def test_credential_report(server: Server) -> None:
    iam = _account(server, "450987654321")
    with pytest.raises(ClientError) as exc:
        iam.get_credential_report()
    assert error(exc)[:2] == ("ReportNotPresent", 410)
    iam.create_user(UserName="reported", Path="/staff/")
    key1 = iam.create_access_key(UserName="reported")["AccessKey"]
    key2 = iam.create_access_key(UserName="reported")["AccessKey"]
    iam.update_access_key(UserName="reported", AccessKeyId=key2["AccessKeyId"], Status="Inactive")
    server.client("sts", key=key1["AccessKeyId"], secret=key1["SecretAccessKey"], region="ap-south-1").get_caller_identity()
    time.sleep(3)  # the key's use is flushed within 2 s
    first = iam.generate_credential_report()
    assert first["State"] == "STARTED" and first["Description"]
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    assert ",".join(csv.DictReader(io.StringIO(report["Content"].decode())).fieldnames or []) == COLUMNS
    root, user = rows[0], {r["user"]: r for r in rows}["reported"]
    assert root["user"] == "<root_account>" and root["arn"] == "arn:aws:iam::450987654321:root"
    assert root["password_enabled"] == "not_supported"
    assert user["arn"] == "arn:aws:iam::450987654321:user/staff/reported"
    assert user["password_enabled"] == "false" and user["mfa_active"] == "false"
    assert user["access_key_1_active"] == "true" and user["access_key_2_active"] == "false"
    assert user["access_key_1_last_used_service"] == "sts" and user["access_key_1_last_used_region"] == "ap-south-1"
    assert user["access_key_1_last_used_date"].endswith("+00:00")
    assert user["access_key_2_last_used_date"] == "N/A" and user["cert_1_active"] == "false"
    denied = user_client(server, iam, "no-report", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GenerateCredentialReport", "Resource": "*"}]})
    assert denied.generate_credential_report()["State"] == "COMPLETE"
    with pytest.raises(ClientError) as exc:
        denied.get_credential_report()
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_credential_report_with_the_cli(server: Server) -> None:
    import subprocess
    import sys

    key = json.loads(server.cli("account", "create", "460987654321", "--json").stdout)
    env = {**server.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def aws(*args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.url, "iam", *args,
                              "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert aws("generate-credential-report")["State"] == "STARTED"
    content = base64.b64decode(aws("get-credential-report")["Content"]).decode()
    assert content.splitlines()[0] == COLUMNS


# -- access advisor -------------------------------------------------------------------------------------
def test_service_last_accessed_from_real_calls(server: Server) -> None:
    iam = _account(server, "470987654321")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*", "sts:GetCallerIdentity", "s3:GetObject"],
         "Resource": "*"}]}
    user_iam = user_client(server, iam, "advised", policy)
    user_iam.list_users()
    user_iam.get_user()
    arn = iam.get_user(UserName="advised")["User"]["Arn"]
    job = iam.generate_service_last_accessed_details(Arn=arn, Granularity="ACTION_LEVEL")["JobId"]
    got = iam.get_service_last_accessed_details(JobId=job)
    assert got["JobStatus"] == "COMPLETED" and got["JobType"] == "ACTION_LEVEL"
    services = {s["ServiceNamespace"]: s for s in got["ServicesLastAccessed"]}
    assert set(services) == {"iam", "sts", "s3"}
    assert services["iam"]["LastAuthenticatedEntity"] == arn and services["iam"]["TotalAuthenticatedEntities"] == 1
    assert services["iam"]["LastAuthenticatedRegion"] == "us-east-1"
    assert "LastAuthenticated" not in services["s3"] and services["s3"]["ServiceName"] == "Amazon S3"
    actions = {a["ActionName"]: a for a in services["iam"]["TrackedActionsLastAccessed"]}
    assert actions["ListUsers"]["LastAccessedEntity"] == arn and "LastAccessedTime" not in actions["GetRole"]
    assert "CreateUser" not in actions  # not granted
    entities = iam.get_service_last_accessed_details_with_entities(JobId=job, ServiceNamespace="iam")
    assert [e["EntityInfo"]["Arn"] for e in entities["EntityDetailsList"]] == [arn]
    with pytest.raises(ClientError) as exc:
        iam.generate_service_last_accessed_details(Arn="arn:aws:iam::470987654321:user/nobody")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.get_service_last_accessed_details(JobId="00000000-0000-0000-0000-000000000000")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    other = _account(server, "480987654321")
    with pytest.raises(ClientError) as exc:  # another account's job
        other.get_service_last_accessed_details(JobId=job)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        user_iam.generate_service_last_accessed_details(Arn=arn)  # not granted to the user
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_organizations_access_report_without_an_organization(server: Server) -> None:
    iam = _account(server, "490987654321")
    job = iam.generate_organizations_access_report(EntityPath="o-abcdefghij/r-abcd")["JobId"]
    got = iam.get_organizations_access_report(JobId=job)
    assert got["JobStatus"] == "FAILED" and got["ErrorDetails"]["Code"] == "AWSOrganizationsNotInUseException"


# -- temporary delegation: IAM's delegation requests and STS GetDelegatedAccessToken ---------------------
PARTNER, CUSTOMER, STRANGER = "510987654321", "520987654321", "530987654321"
TEMPLATE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::{{AccountId}}:user/{{UserName}}"}]})


@pytest.fixture(scope="module")
def parties(server: Server) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, account in (("partner", PARTNER), ("customer", CUSTOMER), ("stranger", STRANGER)):
        key = json.loads(server.cli("account", "create", account, "--json").stdout)
        out[name] = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        out[name + "_sts"] = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    out["template"] = out["partner"].create_policy(PolicyName="delegation-template",
                                                   PolicyDocument=TEMPLATE)["Policy"]["Arn"]
    return out


def _create(parties: dict[str, Any], workflow: str, **extra: Any) -> str:
    return parties["partner"].create_delegation_request(
        OwnerAccountId=CUSTOMER, Description="Set up monitoring", RequestorWorkflowId=workflow,
        NotificationChannel=f"arn:aws:sns:us-east-1:{PARTNER}:delegations", SessionDuration=extra.pop("duration", 900),
        Permissions={"PolicyTemplateArn": parties["template"], "Parameters": [
            {"Name": "AccountId", "Values": [CUSTOMER], "Type": "string"},
            {"Name": "UserName", "Values": ["admin"], "Type": "string"}]}, **extra)["DelegationRequestId"]


def _token(server: Server, request_id: str) -> str:
    inbox = server.data_dir / "notifications" / f"arn_aws_sns_us-east-1_{PARTNER}_delegations.jsonl"
    messages = [json.loads(line) for line in inbox.read_text().splitlines()]
    return next(m["ExchangeToken"] for m in messages if m["DelegationRequestId"] == request_id)


def test_delegation_request_lifecycle_and_trade_in(server: Server, parties: dict[str, Any]) -> None:
    partner, customer, stranger = parties["partner"], parties["customer"], parties["stranger"]
    request_id = _create(parties, "workflow-1", RequestMessage="Ticket 42")
    got = customer.get_delegation_request(DelegationRequestId=request_id)["DelegationRequest"]
    assert got["State"] == "UNASSIGNED" and got["RequestorId"] == PARTNER and got["OwnerAccountId"] == CUSTOMER
    assert json.loads(got["PermissionPolicy"])["Statement"][1]["Resource"] == f"arn:aws:iam::{CUSTOMER}:user/admin"
    with pytest.raises(ClientError) as exc:  # only the owner account may see it
        stranger.get_delegation_request(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        stranger.associate_delegation_request(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:  # not associated yet: nothing to accept
        customer.accept_delegation_request(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("InvalidInput", 400)
    customer.associate_delegation_request(DelegationRequestId=request_id)
    customer.update_delegation_request(DelegationRequestId=request_id, Notes="looks fine")
    got = customer.get_delegation_request(DelegationRequestId=request_id)["DelegationRequest"]
    assert got["State"] == "PENDING_APPROVAL" and got["Notes"] == "looks fine"
    assert got["OwnerId"] == f"arn:aws:iam::{CUSTOMER}:user/admin"
    listed = customer.list_delegation_requests()["DelegationRequests"]
    assert [r["DelegationRequestId"] for r in listed] == [request_id]
    summary = customer.get_human_readable_summary(
        EntityArn=f"arn:aws:iam::{CUSTOMER}:delegation-request/{request_id}")
    assert summary["SummaryState"] == "AVAILABLE" and "iam:ListUsers" in summary["SummaryContent"]
    customer.accept_delegation_request(DelegationRequestId=request_id)
    assert customer.get_delegation_request(DelegationRequestId=request_id)["DelegationRequest"]["ApproverId"] == \
        f"arn:aws:iam::{CUSTOMER}:user/admin"
    customer.send_delegation_token(DelegationRequestId=request_id)
    assert customer.get_delegation_request(DelegationRequestId=request_id)["DelegationRequest"]["State"] == "FINALIZED"
    with pytest.raises(ClientError) as exc:  # final: cannot be rejected any more
        customer.reject_delegation_request(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("InvalidInput", 400)

    token = _token(server, request_id)
    with pytest.raises(ClientError) as exc:  # only the requesting partner trades it in
        parties["stranger_sts"].get_delegated_access_token(TradeInToken=token)
    assert error(exc)[:2] == ("AccessDenied", 403)
    out = parties["partner_sts"].get_delegated_access_token(TradeInToken=token)
    assert out["AssumedPrincipal"] == f"arn:aws:iam::{CUSTOMER}:user/admin"
    creds = out["Credentials"]
    delegated = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                              token=creds["SessionToken"])
    assert "Users" in delegated.list_users()  # granted by the template (and the approver)
    assert delegated.get_user(UserName="admin")["User"]["UserName"] == "admin"
    with pytest.raises(ClientError) as exc:  # the approver could; the delegation does not allow it
        delegated.create_user(UserName="intruder")
    assert error(exc)[:2] == ("AccessDenied", 403)
    assert 800 <= (creds["Expiration"].timestamp() - time.time()) <= 901
    with pytest.raises(ClientError) as exc:  # traded in once
        parties["partner_sts"].get_delegated_access_token(TradeInToken=token)
    assert error(exc)[:2] == ("ExpiredTradeInTokenException", 400)
    with pytest.raises(ClientError) as exc:
        parties["partner_sts"].get_delegated_access_token(TradeInToken="dt-" + "x" * 40)
    assert error(exc)[:2] == ("ExpiredTradeInTokenException", 400)


def test_delegation_request_refusals(server: Server, parties: dict[str, Any]) -> None:
    partner, customer = parties["partner"], parties["customer"]
    _create(parties, "workflow-dup")
    with pytest.raises(ClientError) as exc:
        _create(parties, "workflow-dup")
    assert error(exc)[:2] == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as exc:  # a template parameter without a value
        partner.create_delegation_request(
            Description="d", RequestorWorkflowId="workflow-x", NotificationChannel="chan",
            SessionDuration=900, Permissions={"PolicyTemplateArn": parties["template"]})
    assert error(exc)[:2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:  # SessionDuration beyond 12 hours: the model's limit
        _create(parties, "workflow-long", duration=43201)
    assert error(exc)[:2] == ("ValidationError", 400)
    # an approver needs iam:AcceptDelegationRequest, even as the owner
    reviewer = user_client(server, customer, "reviewer", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:AssociateDelegationRequest"], "Resource": "*"}]})
    request_id = _create(parties, "workflow-2", OnlySendByOwner=True)
    reviewer.associate_delegation_request(DelegationRequestId=request_id)
    reviewer.get_delegation_request(DelegationRequestId=request_id)  # the owner's default permission
    with pytest.raises(ClientError) as exc:
        reviewer.accept_delegation_request(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("AccessDenied", 403)
    customer.accept_delegation_request(DelegationRequestId=request_id)  # the admin approves
    with pytest.raises(ClientError) as exc:  # OnlySendByOwner: the approver may not send it
        customer.send_delegation_token(DelegationRequestId=request_id)
    assert error(exc)[:2] == ("AccessDenied", 403)
    reviewer.reject_delegation_request(DelegationRequestId=request_id, Notes="changed my mind")
    got = customer.get_delegation_request(DelegationRequestId=request_id)["DelegationRequest"]
    assert got["State"] == "REJECTED" and got["RejectionReason"] == "changed my mind"
    # the root user approves at most 4 hours
    root_key = json.loads(server.cli("account", "create-root-key", CUSTOMER, "--json").stdout)
    root = server.client("iam", key=root_key["AccessKeyId"], secret=root_key["SecretAccessKey"])
    long_id = _create(parties, "workflow-3", duration=4 * 3600 + 1)
    root.associate_delegation_request(DelegationRequestId=long_id)
    with pytest.raises(ClientError) as exc:
        root.accept_delegation_request(DelegationRequestId=long_id)
    assert error(exc)[:2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        customer.get_delegation_request(DelegationRequestId="dr-" + "0" * 32)
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_root_approved_delegation_is_bounded_by_the_policy(server: Server, parties: dict[str, Any]) -> None:
    root_key = json.loads(server.cli("account", "create-root-key", CUSTOMER, "--json").stdout)
    root = server.client("iam", key=root_key["AccessKeyId"], secret=root_key["SecretAccessKey"])
    request_id = _create(parties, "workflow-root")
    root.associate_delegation_request(DelegationRequestId=request_id)
    root.accept_delegation_request(DelegationRequestId=request_id)
    root.send_delegation_token(DelegationRequestId=request_id)
    creds = parties["partner_sts"].get_delegated_access_token(TradeInToken=_token(server, request_id))["Credentials"]
    delegated = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                              token=creds["SessionToken"])
    delegated.list_users()
    with pytest.raises(ClientError) as exc:  # root could; the delegation does not allow it
        delegated.create_user(UserName="intruder")
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_role_templates_do_not_exist_here(iam: Any) -> None:
    for call in (lambda: iam.get_role_template_version(TemplateArn="arn:aws:iam::aws:role-template/x"),
                 lambda: iam.acquire_role(TemplateArn="arn:aws:iam::aws:role-template/x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[:2] == ("NoSuchEntity", 404)


# -- expiry: a second server on the same data folder whose clock runs 8 days ahead ----------------------
LATER = 8 * 86400


def test_reports_requests_and_tokens_expire(server: Server, parties: dict[str, Any]) -> None:
    import datetime as dt

    import botocore.auth

    from tests.conftest import start_server, stop_server

    customer = parties["customer"]
    customer.generate_credential_report()
    open_id = _create(parties, "workflow-expiring")  # never acted on
    sent_id = _create(parties, "workflow-sent")
    customer.associate_delegation_request(DelegationRequestId=sent_id)
    customer.accept_delegation_request(DelegationRequestId=sent_id)
    customer.send_delegation_token(DelegationRequestId=sent_id)
    token = _token(server, sent_id)
    srv = start_server(server.data_dir, {"OPENSTS_CLOCK_OFFSET_SECONDS": str(LATER)})
    real = botocore.auth.get_current_datetime
    try:
        ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=LATER)
        botocore.auth.get_current_datetime = lambda: ahead.replace(tzinfo=None)  # type: ignore[assignment]
        creds = customer._request_signer._credentials
        later_iam = srv.client("iam", key=creds.access_key, secret=creds.secret_key)
        partner_creds = parties["partner_sts"]._request_signer._credentials
        later_sts = srv.client("sts", key=partner_creds.access_key, secret=partner_creds.secret_key)
        with pytest.raises(ClientError) as exc:
            later_iam.get_credential_report()
        assert error(exc)[:2] == ("ReportExpired", 410)
        assert later_iam.generate_credential_report()["State"] == "STARTED"  # a new one
        assert later_iam.get_credential_report()["ReportFormat"] == "text/csv"
        got = later_iam.get_delegation_request(DelegationRequestId=open_id)["DelegationRequest"]
        assert got["State"] == "EXPIRED"
        with pytest.raises(ClientError) as exc:
            later_iam.associate_delegation_request(DelegationRequestId=open_id)
        assert error(exc)[:2] == ("InvalidInput", 400)
        with pytest.raises(ClientError) as exc:  # the delegation ended SessionDuration after the token was sent
            later_sts.get_delegated_access_token(TradeInToken=token)
        assert error(exc)[:2] == ("ExpiredTradeInTokenException", 400)
    finally:
        botocore.auth.get_current_datetime = real  # type: ignore[assignment]
        stop_server(srv)


def test_organizations_access_report(server: Server) -> None:
    key = json.loads(server.cli("account", "create", "560987654321", "--json").stdout)
    orgs = server.client("organizations", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    iam = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    status = orgs.create_account(Email="m@example.com", AccountName="M")["CreateAccountStatus"]
    member = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
    creds = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="audit")["Credentials"]
    server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                  token=creds["SessionToken"]).list_roles()  # a call in the member account
    job = iam.generate_organizations_access_report(EntityPath=f"{org['Id']}/{root}")["JobId"]
    got = iam.get_organizations_access_report(JobId=job, SortKey="LAST_AUTHENTICATED_TIME_DESCENDING")
    assert got["JobStatus"] == "COMPLETED" and got["NumberOfServicesAccessible"] >= 5
    details = {d["ServiceNamespace"]: d for d in got["AccessDetails"]}
    assert details["iam"]["LastAuthenticatedTime"] and details["iam"]["TotalAuthenticatedEntities"] >= 1
    assert details["s3"].keys() == {"ServiceName", "ServiceNamespace"}  # allowed, never used
    assert got["NumberOfServicesNotAccessed"] == sum(1 for d in got["AccessDetails"] if "LastAuthenticatedTime" not in d)
    job = iam.generate_organizations_access_report(EntityPath=f"{org['Id']}/{root}/{member}")["JobId"]
    only_member = iam.get_organizations_access_report(JobId=job)
    assert {d["EntityPath"] for d in only_member["AccessDetails"] if "EntityPath" in d} == {
        f"{org['Id']}/{root}/{member}"}
    job = iam.generate_organizations_access_report(EntityPath=f"{org['Id']}/{root}/999999999999")["JobId"]
    assert iam.get_organizations_access_report(JobId=job)["JobStatus"] == "FAILED"
    member_iam = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                               token=creds["SessionToken"])
    job = member_iam.generate_organizations_access_report(EntityPath=f"{org['Id']}/{root}")["JobId"]
    failed = member_iam.get_organizations_access_report(JobId=job)  # only the management account may
    assert failed["JobStatus"] == "FAILED" and failed["ErrorDetails"]["Code"] == "AccessDeniedException"
    managements = iam.generate_organizations_access_report(EntityPath=f"{org['Id']}/{root}")["JobId"]
    with pytest.raises(ClientError) as exc:  # another account's job does not exist for it
        member_iam.get_organizations_access_report(JobId=managements)
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def _aws(server: Server, key: dict[str, str], *args: str) -> dict[str, Any]:
    import subprocess
    import sys

    env = {**server.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.url, *args, "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_reads_and_delegation_with_the_cli(server: Server, parties: dict[str, Any]) -> None:
    key = json.loads(server.cli("account", "create", "570987654321", "--json").stdout)
    last = _aws(server, key, "iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"])
    assert last["UserName"] == "admin"
    job = _aws(server, key, "iam", "generate-service-last-accessed-details", "--arn",
               "arn:aws:iam::570987654321:user/admin")["JobId"]
    got = _aws(server, key, "iam", "get-service-last-accessed-details", "--job-id", job)
    assert got["JobStatus"] == "COMPLETED" and {s["ServiceNamespace"] for s in got["ServicesLastAccessed"]} >= {"iam"}
    request_id = _create(parties, "workflow-cli")
    customer_key = {"AccessKeyId": parties["customer"]._request_signer._credentials.access_key,
                    "SecretAccessKey": parties["customer"]._request_signer._credentials.secret_key}
    _aws(server, customer_key, "iam", "associate-delegation-request", "--delegation-request-id", request_id)
    listed = _aws(server, customer_key, "iam", "list-delegation-requests")["DelegationRequests"]
    assert request_id in [r["DelegationRequestId"] for r in listed]
    got = _aws(server, customer_key, "iam", "get-delegation-request", "--delegation-request-id", request_id)
    assert got["DelegationRequest"]["State"] == "ASSIGNED"
