"""The JSON APIs (Organizations, Account, CloudTrail) refuse bad input before acting, answer JSON
errors in their own shape (never a 500), and never leave a write without its audit record.

Raw requests signed by botocore against a real server: every write operation OpenSTS serves, each
with its input mutated the ways an adversary would (unmodelled members holding lone surrogates,
integers past 64 bits, 300-deep nesting; a lone surrogate in a modelled member). A refused request
changes nothing (the organization and Regions read back the same) and a request that acts has its
CloudTrail record, with only modelled members in ``requestParameters``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server
from tests.json_wire import Answer, assert_json_answer, audit_record, send

SCP = "SERVICE_CONTROL_POLICY"
DENY_NOTHING = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]})


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("opensts-jsonapi"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def ctx(srv: Server) -> dict[str, Any]:
    """An organization with one created member account and SCPs enabled."""
    org = srv.client("organizations")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="member@example.com", AccountName="Member")["CreateAccountStatus"]
    member = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    org.enable_policy_type(RootId=root, PolicyType=SCP)
    return {"org": org, "member": member, "root": root, "server": srv}


# --- what each write operation needs: (body, credentials of the caller or None for the admin) ---

def _name() -> str:
    return "n" + uuid.uuid4().hex[:10]


def _ou(c: dict[str, Any]) -> str:
    return str(c["org"].create_organizational_unit(ParentId=c["root"], Name=_name())["OrganizationalUnit"]["Id"])


def _policy(c: dict[str, Any]) -> str:
    return str(c["org"].create_policy(Content=DENY_NOTHING, Description="d", Name=_name(), Type=SCP)["Policy"][
        "PolicySummary"]["Id"])


def _outsider(c: dict[str, Any]) -> dict[str, Any]:
    account = str(100000000000 + uuid.uuid4().int % 800000000000)
    return json.loads(c["server"].cli("account", "create", account, "--json").stdout)  # type: ignore[no-any-return]


def _invited(c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    guest = _outsider(c)
    handshake = c["org"].invite_account_to_organization(Target={"Id": guest["AccountId"], "Type": "ACCOUNT"})
    return str(handshake["Handshake"]["Id"]), guest


def _joined(c: dict[str, Any]) -> dict[str, Any]:
    handshake, guest = _invited(c)
    c["server"].client("organizations", key=guest["AccessKeyId"], secret=guest["SecretAccessKey"]).accept_handshake(
        HandshakeId=handshake)
    return guest


def _delegable(c: dict[str, Any], registered: bool) -> dict[str, Any]:
    c["org"].enable_aws_service_access(ServicePrincipal="ssm.amazonaws.com")
    try:
        (c["org"].register_delegated_administrator if registered else c["org"].deregister_delegated_administrator)(
            AccountId=c["member"], ServicePrincipal="ssm.amazonaws.com")
    except ClientError:
        pass  # already in the wanted state
    return {"AccountId": c["member"], "ServicePrincipal": "ssm.amazonaws.com"}


def _move(c: dict[str, Any]) -> dict[str, Any]:
    parent = c["org"].list_parents(ChildId=c["member"])["Parents"][0]["Id"]
    return {"AccountId": c["member"], "SourceParentId": parent, "DestinationParentId": _ou(c)}


def _attached(c: dict[str, Any]) -> dict[str, Any]:
    policy, ou = _policy(c), _ou(c)
    c["org"].attach_policy(PolicyId=policy, TargetId=ou)
    return {"PolicyId": policy, "TargetId": ou}


def _as(guest: dict[str, Any]) -> dict[str, Any]:
    return {"key": guest["AccessKeyId"], "secret": guest["SecretAccessKey"]}


Prepare = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
ADMIN: dict[str, Any] = {}
#: (service, operation, prepare): every write operation OpenSTS serves on its JSON APIs.
WRITES: list[tuple[str, str, Prepare]] = [
    ("organizations", "CreateOrganization", lambda c: ({"FeatureSet": "ALL"}, ADMIN)),
    ("organizations", "DeleteOrganization", lambda c: ({}, ADMIN)),  # the organization has members: refused
    ("organizations", "CreateAccount", lambda c: ({"Email": f"{_name()}@example.com", "AccountName": "A"}, ADMIN)),
    ("organizations", "EnableAWSServiceAccess", lambda c: ({"ServicePrincipal": "config.amazonaws.com"}, ADMIN)),
    ("organizations", "DisableAWSServiceAccess", lambda c: ({"ServicePrincipal": "config.amazonaws.com"}, ADMIN)),
    ("organizations", "RegisterDelegatedAdministrator", lambda c: (_delegable(c, False), ADMIN)),
    ("organizations", "DeregisterDelegatedAdministrator", lambda c: (_delegable(c, True), ADMIN)),
    ("organizations", "CreateOrganizationalUnit", lambda c: ({"ParentId": c["root"], "Name": _name()}, ADMIN)),
    ("organizations", "UpdateOrganizationalUnit", lambda c: ({"OrganizationalUnitId": _ou(c), "Name": _name()}, ADMIN)),
    ("organizations", "DeleteOrganizationalUnit", lambda c: ({"OrganizationalUnitId": _ou(c)}, ADMIN)),
    ("organizations", "MoveAccount", lambda c: (_move(c), ADMIN)),
    ("organizations", "CreatePolicy", lambda c: ({"Content": DENY_NOTHING, "Description": "d", "Name": _name(),
                                                  "Type": SCP}, ADMIN)),
    ("organizations", "UpdatePolicy", lambda c: ({"PolicyId": _policy(c), "Description": "e"}, ADMIN)),
    ("organizations", "DeletePolicy", lambda c: ({"PolicyId": _policy(c)}, ADMIN)),
    ("organizations", "AttachPolicy", lambda c: ({"PolicyId": _policy(c), "TargetId": _ou(c)}, ADMIN)),
    ("organizations", "DetachPolicy", lambda c: (_attached(c), ADMIN)),
    ("organizations", "EnablePolicyType", lambda c: ({"RootId": c["root"], "PolicyType": SCP}, ADMIN)),  # enabled: refused
    ("organizations", "InviteAccountToOrganization",
     lambda c: ({"Target": {"Id": _outsider(c)["AccountId"], "Type": "ACCOUNT"}, "Notes": "hi"}, ADMIN)),
    ("organizations", "CancelHandshake", lambda c: ({"HandshakeId": _invited(c)[0]}, ADMIN)),
    ("organizations", "AcceptHandshake", lambda c: (lambda h, g: ({"HandshakeId": h}, _as(g)))(*_invited(c))),
    ("organizations", "DeclineHandshake", lambda c: (lambda h, g: ({"HandshakeId": h}, _as(g)))(*_invited(c))),
    ("organizations", "RemoveAccountFromOrganization", lambda c: ({"AccountId": _joined(c)["AccountId"]}, ADMIN)),
    ("organizations", "LeaveOrganization", lambda c: ({}, _as(_joined(c)))),
    ("account", "EnableRegion", lambda c: ({"RegionName": "af-south-1"}, ADMIN)),
    ("account", "DisableRegion", lambda c: ({"RegionName": "af-south-1"}, ADMIN)),
    ("account", "SetStsRegionStatus", lambda c: ({"RegionName": "us-west-2", "Active": True}, ADMIN)),
]

# --- how each request is mutated: raw JSON text, since no SDK sends these ---

DEEP = "[" * 300 + "]" * 300


def _splice(body: dict[str, Any], extra: str) -> bytes:
    """``body`` with ``extra`` (raw JSON members) added as its first members."""
    inner = json.dumps(body)[1:-1]
    return ("{" + extra + ("," + inner if inner else "") + "}").encode()


def _surrogate_member(body: dict[str, Any]) -> bytes | None:
    """The first string member of ``body`` with a lone surrogate appended (None: no string member)."""
    for name, value in body.items():
        if isinstance(value, str):
            return json.dumps(dict(body, **{name: value + "\ud800"})).encode()  # json.dumps escapes it: \ud800
    return None


MUTATIONS: dict[str, Callable[[dict[str, Any]], bytes | None]] = {
    "unmodelled members": lambda b: _splice(b, '"OpenStsExtra": {"k": [1, 2.5, null]}, "Big": 1' + "0" * 40
                                               + ', "Inf": 1e999, "Odd": "\u00e9\u00b2"'),
    "unmodelled lone surrogate": lambda b: _splice(b, '"Zz": "\\ud800"'),
    "unmodelled deep nesting": lambda b: _splice(b, '"Zz": ' + DEEP),
    "modelled lone surrogate": _surrogate_member,
}
REFUSED = {"unmodelled lone surrogate", "unmodelled deep nesting", "modelled lone surrogate"}


def fingerprint(c: dict[str, Any]) -> Any:
    """Everything the write operations can change, read back through the APIs."""
    org, srv = c["org"], c["server"]
    roots = org.list_roots()["Roots"]
    ous = org.list_organizational_units_for_parent(ParentId=c["root"], MaxResults=20)
    policies = org.list_policies(Filter=SCP, MaxResults=20)
    account = srv.client("account")
    return (roots, ous.get("OrganizationalUnits"), ous.get("NextToken"), policies["Policies"], policies.get("NextToken"),
            org.list_accounts(MaxResults=20)["Accounts"], org.describe_organization()["Organization"],
            org.list_aws_service_access_for_organization()["EnabledServicePrincipals"],
            org.list_delegated_administrators()["DelegatedAdministrators"],
            org.list_handshakes_for_organization()["Handshakes"],
            org.list_parents(ChildId=c["member"])["Parents"],
            account.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"])


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("service,operation,prepare", WRITES, ids=[f"{s}.{o}" for s, o, _ in WRITES])
def test_every_write_refuses_before_acting_and_is_audited(ctx: dict[str, Any], service: str, operation: str,
                                                          prepare: Prepare, mutation: str) -> None:
    body, creds = prepare(ctx)
    raw = MUTATIONS[mutation](body)
    if raw is None:
        pytest.skip("no string member to mutate")
    before = fingerprint(ctx) if mutation in REFUSED else None
    answer = send(ctx["server"], service, operation, raw, **creds)
    assert_json_answer(answer, service)
    if mutation in REFUSED:
        assert (answer.status, answer.code) == (400, "SerializationException"), answer.body
        assert fingerprint(ctx) == before  # nothing changed
    record = audit_record(ctx["server"], answer.request_id, operation, **creds)
    assert record is not None, f"{operation} answered {answer.status} without an audit record"
    assert record.get("errorCode") == answer.code
    params = record.get("requestParameters") or {}
    assert not {"openStsExtra", "big", "inf", "odd", "zz"} & set(params), params


def test_the_writes_take_effect_with_unmodelled_members(ctx: dict[str, Any]) -> None:
    """The table above is not vacuous: most writes succeed when only unmodelled members are added."""
    ok = []
    for service, operation, prepare in WRITES:
        body, creds = prepare(ctx)
        answer = send(ctx["server"], service, operation, MUTATIONS["unmodelled members"](body) or b"", **creds)
        assert_json_answer(answer, service)
        ok.append(answer.status == 200)
    assert sum(ok) >= len(WRITES) - 3, ok  # CreateOrganization, DeleteOrganization, EnablePolicyType are refused


# --- item 4: exact member types on every JSON API ---

@pytest.mark.parametrize("service,operation,body,status,code", [
    ("organizations", "ListAccounts", b'{"MaxResults": 1' + b"0" * 40 + b"}", 400, "InvalidInputException"),
    ("organizations", "ListAccounts", b'{"MaxResults": true}', 400, "InvalidInputException"),
    ("organizations", "ListAccounts", b'{"MaxResults": 5.0}', 400, "InvalidInputException"),
    ("organizations", "ListAccounts", b'{"NextToken": "\xc2\xb2"}', 400, "InvalidInputException"),
    ("organizations", "ListAccounts", b'{"NextToken": "' + b"9" * 30 + b'"}', 400, "InvalidInputException"),
    ("organizations", "ListAccounts", b'{"MaxResults": NaN}', 400, "SerializationException"),
    ("organizations", "ListAccounts", b"\xed\xa0\x80", 400, "SerializationException"),  # a UTF-8-encoded surrogate
    ("organizations", "ListAccounts", DEEP.encode(), 400, "SerializationException"),
    ("organizations", "ListAccounts", b"[" * 5000, 400, "SerializationException"),
    ("organizations", "CreateOrganizationalUnit", b'{"ParentId": "r-0000", "Name": "\\udfff"}', 400,
     "SerializationException"),
    ("account", "ListRegions", b'{"MaxResults": 1' + b"0" * 40 + b"}", 400, "SerializationException"),
    ("account", "ListRegions", b'{"MaxResults": true}', 400, "SerializationException"),
    ("account", "ListRegions", b'{"MaxResults": 0}', 400, "ValidationException"),
    ("account", "ListRegions", b'{"NextToken": "\xc2\xb2"}', 400, "ValidationException"),
    ("account", "ListRegions", b'{"NextToken": "' + b"9" * 30 + b'"}', 400, "ValidationException"),
    ("account", "ListRegions", b'{"RegionOptStatusContains": [1]}', 400, "SerializationException"),
    ("account", "ListRegions", b'{"RegionOptStatusContains": ["MAYBE"]}', 400, "ValidationException"),
    ("account", "GetRegionOptStatus", b'{"RegionName": "us-east-1\\ud800"}', 400, "SerializationException"),
    ("account", "GetRegionOptStatus", b'{"RegionName": "x", "AccountId": "\xd9\xa123456789012"}', 400,
     "ValidationException"),
    ("account", "EnableRegion", DEEP.encode(), 400, "SerializationException"),
    ("account", "EnableRegion", b'{"RegionName": "' + b"a" * 51 + b'"}', 400, "ValidationException"),
    ("account", "SetStsRegionStatus", b'{"RegionName": "us-west-2", "Active": "true"}', 400, "SerializationException"),
    ("account", "SetStsRegionStatus", b'{"RegionName": "us-west-2"}', 400, "ValidationException"),
    ("cloudtrail", "LookupEvents", b'{"MaxResults": 1' + b"0" * 40 + b"}", 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"MaxResults": true}', 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"MaxResults": 0}', 400, "InvalidMaxResultsException"),
    ("cloudtrail", "LookupEvents", b'{"MaxResults": 51}', 400, "InvalidMaxResultsException"),
    ("cloudtrail", "LookupEvents", b'{"StartTime": false}', 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"StartTime": NaN}', 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"EndTime": 1' + b"0" * 30 + b"}", 400, "InvalidTimeRangeException"),
    ("cloudtrail", "LookupEvents", b'{"EndTime": 1e999}', 400, "InvalidTimeRangeException"),
    ("cloudtrail", "LookupEvents", b'{"StartTime": 2000000000, "EndTime": 1000000000}', 400,
     "InvalidTimeRangeException"),
    ("cloudtrail", "LookupEvents", b'{"LookupAttributes": {"AttributeKey": "EventName"}}', 400,
     "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"LookupAttributes": ["EventName"]}', 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"LookupAttributes": [{"AttributeKey": "EventName"}]}', 400,
     "InvalidLookupAttributesException"),
    ("cloudtrail", "LookupEvents", b'{"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "x"}]}', 400,
     "InvalidLookupAttributesException"),
    ("cloudtrail", "LookupEvents", b'{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "\\ud800"}]}',
     400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b'{"EventCategory": "other"}', 400, "InvalidEventCategoryException"),
    ("cloudtrail", "LookupEvents", b"[]", 400, "SerializationException"),
    ("cloudtrail", "LookupEvents", b"[" * 5000, 400, "SerializationException"),
])
def test_bad_input_gets_the_apis_own_error(ctx: dict[str, Any], service: str, operation: str, body: bytes,
                                           status: int, code: str) -> None:
    answer = send(ctx["server"], service, operation, body)
    assert_json_answer(answer, service)
    assert (answer.status, answer.code) == (status, code), answer.body


def _token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode()


@pytest.mark.parametrize("token", [
    _token(b'{"before": 1e999}'), _token(b'{"before": 1' + b"0" * 30 + b"}"), _token(b'{"before": -1}'),
    _token(b'{"before": true}'), _token(b'{"before": "5"}'), _token(b'{"before": NaN}'), _token(b"[" * 3000),
    _token(b"[1]"), _token(b"\xff"), "not base64!", "\u00b2", "A" * 5000,
])
def test_lookup_events_next_tokens_that_are_not_ours(ctx: dict[str, Any], token: str) -> None:
    answer = send(ctx["server"], "cloudtrail", "LookupEvents", json.dumps({"NextToken": token}).encode())
    assert_json_answer(answer, "cloudtrail")
    assert (answer.status, answer.code) == (400, "InvalidNextTokenException"), answer.body


def test_lookup_attribute_values_match_literally(srv: Server, ctx: dict[str, Any]) -> None:
    """``%`` and ``_`` are characters, not wildcards, in every attribute value."""
    iam = srv.client("iam")
    role = iam.create_role(RoleName="r_literal", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    srv.client().assume_role(RoleArn=role, RoleSessionName="literal")
    trail = srv.client("cloudtrail")

    def found(key: str, value: str) -> int:
        return len(trail.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}],
                                       MaxResults=50)["Events"])

    assert found("ResourceName", role) >= 1 and found("ResourceType", "AWS::IAM::Role") >= 1
    for key, value in [("ResourceName", role.replace("r_literal", "r%literal")), ("ResourceName", "%"),
                       ("ResourceName", role.replace("_", "_%")), ("ResourceType", "AWS::IAM::%"),
                       ("ResourceType", "AWS_IAM_Role"), ("EventName", "AssumeRol_"), ("EventName", "%"),
                       ("Username", "adm_n"), ("EventSource", "%")]:
        assert found(key, value) == 0, (key, value)


def test_an_unreadable_record_is_skipped_not_fatal(srv: Server, ctx: dict[str, Any]) -> None:
    """One record whose eventTime does not parse (and one that is not JSON) must not hide the trail."""
    srv.client().get_caller_identity()
    trail = srv.client("cloudtrail")
    assert trail.lookup_events(MaxResults=50)["Events"]
    index = srv.data_dir / "audit" / "index.db"
    now = int(time.time())
    bad = {"eventTime": "yesterday-ish", "eventID": "bad-1", "eventName": "GetCallerIdentity",
           "eventSource": "sts.amazonaws.com", "secretMarker": "do-not-log-me"}
    from opensts.audit.event_index import event_keys, insert_events, pack

    conn = sqlite3.connect(index, timeout=30, isolation_level=None)
    try:  # in the index's own layout (packed bodies, lookup keys), under its write lock
        conn.execute("BEGIN IMMEDIATE")
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        keys = event_keys(ACCOUNT_ID, "us-east-1", "bad-1", "GetCallerIdentity", "sts.amazonaws.com", None, None,
                          True, [])
        insert_events(conn, [(seq + i, "us-east-1", ACCOUNT_ID, now, keys, pack(body.encode()))
                             for i, body in enumerate((json.dumps(bad), "{not json", "[]"), start=1)])
        conn.execute("COMMIT")
    finally:
        conn.close()
    events = trail.lookup_events(MaxResults=50)["Events"]
    assert events and all(e["EventId"] != "bad-1" for e in events)
    named = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}])
    assert named["Events"] and all(e["EventId"] != "bad-1" for e in named["Events"])
    log = srv.log()
    assert "skipped an unreadable audit record" in log and "do-not-log-me" not in log


def test_unreadable_journal_lines_are_skipped_not_fatal(srv: Server, ctx: dict[str, Any]) -> None:
    """Journal lines the index cannot store (an epoch past 64 bits, a Region that is not a string, a
    torn line) are skipped with a warning; the good line beside them is indexed and served."""
    from opensts.audit.journal import encode_line

    now = int(time.time())
    good = {"eventVersion": "1.11", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "eventID": "good-foreign-1", "eventName": "ForeignGood", "eventSource": "sts.amazonaws.com",
            "requestID": "r-good", "readOnly": True, "userIdentity": {"type": "IAMUser", "userName": "admin"}}
    lines = [
        encode_line("us-east-1", ACCOUNT_ID, now, dict(good, eventID="bad-when", eventName="ForeignBad")).replace(
            f",{now},".encode(), b"," + b"9" * 30 + b",", 1),
        encode_line("us-east-1", ACCOUNT_ID, now, dict(good, eventID="bad-when", eventName="ForeignBad")).replace(
            b'["us-east-1"', b'[["us-east-1"]', 1),
        b'["us-east-1","' + ACCOUNT_ID.encode() + b'",1\t{torn\n',
        encode_line("us-east-1", ACCOUNT_ID, now, good),
    ]
    (srv.data_dir / "audit" / "log-999999999-1-000000.jsonl").write_bytes(b"".join(lines) + b'["end"]\n')
    trail = srv.client("cloudtrail")
    events = trail.lookup_events(MaxResults=50)["Events"]
    names = {e["EventName"] for e in events}
    assert "ForeignGood" in names and "ForeignBad" not in names
    assert "skipped 3 unreadable journal lines" in srv.log()


def _jwt(header: bytes, claims: bytes = b'{"iss": "https://idp.example.com", "sub": "x"}') -> str:
    def seg(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{seg(header)}.{seg(claims)}.{seg(b'sig')}"


@pytest.mark.parametrize("token", [
    _jwt(b"[" * 5000), _jwt(b'{"alg": "RS256", "x": ' + b"[" * 3000 + b"}"), _jwt(b'{"alg": NaN}'),
    _jwt(b'{"alg": "RS256", "kid": "\\ud800"}'), _jwt(b"\xed\xa0\x80"), _jwt(b"\xff\xfe"),
    _jwt(b'{"alg": "RS256"}', b"{" * 4000), _jwt(b'{"alg": "RS256"}', b'{"iss": "\\udfff"}'),
    _jwt(b'{"alg": "RS256", "typ": 1' + b"0" * 40 + b"}", b'{"iss": "https://i.example", "exp": 1e999}'),
])
def test_a_malformed_web_identity_token_is_invalid_identity_token(srv: Server, token: str) -> None:
    """Unsigned AssumeRoleWithWebIdentity: any malformed token is InvalidIdentityToken (400)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    sts = boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/any", RoleSessionName="web",
                                          WebIdentityToken=token)
    response = exc.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidIdentityToken", 400)


def test_answer_type(ctx: dict[str, Any]) -> None:
    """The helper's contract (so a vacuous parse cannot pass the tables above)."""
    answer: Answer = send(ctx["server"], "organizations", "DescribeOrganization", b"{}")
    assert answer.status == 200 and answer.code is None and json.loads(answer.body)["Organization"]
