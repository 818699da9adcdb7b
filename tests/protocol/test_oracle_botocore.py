"""botocore as the oracle in both directions (LocalStack-style contract tests).

Request: botocore's query serializer encodes a fully-populated valid input → form body → parse_form →
OperationSpec.parse must give back exactly the input. Response: OperationSpec.render → botocore's
query response parser must give back exactly the result (and Code/Message/Type for errors).
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from opensts.protocol.errors import AccessDenied, InternalFailure, ServiceError, ValidationError
from opensts.protocol.form import parse_form
from opensts.protocol.model import load_service
from opensts.protocol.render import render_error

from .samples import T0, value_for

SESSION = botocore.session.get_session()
MODELS = {s: SESSION.get_service_model(s) for s in ("sts", "iam")}
STS_OPS = MODELS["sts"].operation_names
IAM_REQUEST_OPS = [
    "CreateRole", "PutRolePolicy", "TagRole", "UntagRole", "ListRoles", "CreatePolicy", "AttachRolePolicy",
    "CreateOpenIDConnectProvider", "SimulatePrincipalPolicy", "SetSecurityTokenServicePreferences",
    "CreateUser", "CreateAccessKey", "UpdateAssumeRolePolicy", "CreateSAMLProvider", "ListPolicies",
    "GetAccountAuthorizationDetails", "CreatePolicyVersion", "UpdateRole", "EnableMFADevice",
    "UpdateAccountPasswordPolicy", "SimulateCustomPolicy", "CreateServiceLinkedRole",
]
IAM_RESPONSE_OPS = [
    "ListRoles", "GetRole", "CreateRole", "GetAccountSummary", "CreatePolicy", "ListAttachedRolePolicies",
    "GetCredentialReport", "SimulatePrincipalPolicy", "GetAccountAuthorizationDetails", "CreateAccessKey",
    "GetOpenIDConnectProvider", "ListRoleTags", "GetAccountPasswordPolicy", "CreateSAMLProvider",
]


def _serialize(service: str, op_name: str, params: dict) -> bytes:
    model = MODELS[service].operation_model(op_name)
    req = create_serializer("query").serialize_to_request(params, model)
    return urlencode(req["body"]).encode("ascii")


def _cases(service: str, ops: list[str]) -> list:
    return [pytest.param(service, op, id=f"{service}:{op}") for op in ops]


@pytest.mark.parametrize(
    "service,op_name", _cases("sts", STS_OPS) + _cases("iam", IAM_REQUEST_OPS)
)
def test_request_roundtrip_fully_populated(service: str, op_name: str) -> None:
    model = MODELS[service].operation_model(op_name)
    params = value_for(model.input_shape) if model.input_shape is not None else {}
    body = _serialize(service, op_name, params)
    form = parse_form(body)
    spec = load_service(service)
    op = spec.operation(form["Action"], form["Version"])
    assert op.parse(form) == params


@pytest.mark.parametrize("service,op_name", _cases("sts", STS_OPS) + _cases("iam", IAM_REQUEST_OPS))
def test_request_roundtrip_required_only(service: str, op_name: str) -> None:
    model = MODELS[service].operation_model(op_name)
    if model.input_shape is None:
        pytest.skip("no input")
    full = value_for(model.input_shape)
    params = {k: v for k, v in full.items() if k in model.input_shape.required_members}
    form = parse_form(_serialize(service, op_name, params))
    assert load_service(service).operations[op_name].parse(form) == params


def test_every_iam_operation_roundtrips() -> None:
    """Not just a sample: every IAM operation's fully-populated input survives the round trip."""
    spec = load_service("iam")
    for op_name in MODELS["iam"].operation_names:
        model = MODELS["iam"].operation_model(op_name)
        params = value_for(model.input_shape) if model.input_shape is not None else {}
        form = parse_form(_serialize("iam", op_name, params))
        assert spec.operations[op_name].parse(form) == params, op_name


def test_empty_list_roundtrip() -> None:
    params = {"RoleArn": "arn:aws:iam::123456789012:role/demo", "RoleSessionName": "s1", "TransitiveTagKeys": []}
    form = parse_form(_serialize("sts", "AssumeRole", params))
    assert form["TransitiveTagKeys"] == ""
    assert load_service("sts").operations["AssumeRole"].parse(form) == params


def test_unicode_and_reserved_chars_roundtrip() -> None:
    params = {
        "RoleArn": "arn:aws:iam::123456789012:role/démo+ü€😀",
        "RoleSessionName": "a+b=c,d.e@f-g",
        "Tags": [{"Key": "Ключ 名前", "Value": "värde/=+-@:._ "}],
        "Policy": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}&x=1%',
    }
    form = parse_form(_serialize("sts", "AssumeRole", params))
    assert load_service("sts").operations["AssumeRole"].parse(form) == params


# ----------------------------------------------------------------------------- responses


def _botocore_parse(service: str, op_name: str, body: bytes, status: int = 200) -> dict:
    model = MODELS[service].operation_model(op_name)
    parser = create_parser("query")
    return parser.parse({"body": body, "headers": {}, "status_code": status}, model.output_shape)


@pytest.mark.parametrize("service,op_name", _cases("sts", STS_OPS) + _cases("iam", IAM_RESPONSE_OPS))
def test_response_roundtrip(service: str, op_name: str) -> None:
    model = MODELS[service].operation_model(op_name)
    result = value_for(model.output_shape) if model.output_shape is not None else {}
    op = load_service(service).operations[op_name]
    body = op.render(result, "c6a5c1f8-7d1e-4b5a-9d41-3f1c7e0d8a11")
    parsed = _botocore_parse(service, op_name, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "c6a5c1f8-7d1e-4b5a-9d41-3f1c7e0d8a11"
    assert parsed == result


def test_every_iam_response_roundtrips() -> None:
    spec = load_service("iam")
    for op_name in MODELS["iam"].operation_names:
        model = MODELS["iam"].operation_model(op_name)
        result = value_for(model.output_shape) if model.output_shape is not None else {}
        parsed = _botocore_parse("iam", op_name, spec.operations[op_name].render(result, "rid"))
        parsed.pop("ResponseMetadata")
        assert parsed == result, op_name


def test_no_output_operation_renders_metadata_only() -> None:
    op = load_service("iam").operations["TagRole"]
    body = op.render(None, "rid-1")
    assert body == (
        b'<TagRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata>'
        b"<RequestId>rid-1</RequestId></ResponseMetadata></TagRoleResponse>"
    )
    assert _botocore_parse("iam", "TagRole", body)["ResponseMetadata"]["RequestId"] == "rid-1"


def test_escaping_and_none_omitted() -> None:
    op = load_service("sts").operations["GetCallerIdentity"]
    body = op.render({"Arn": "arn:aws:iam::1:user/<a&b>\"'", "UserId": None, "Account": "1\r\n2"}, "r&<>")
    parsed = _botocore_parse("sts", "GetCallerIdentity", body)
    assert parsed["Arn"] == "arn:aws:iam::1:user/<a&b>\"'"
    assert parsed["Account"] == "1\r\n2"
    assert "UserId" not in parsed
    assert parsed["ResponseMetadata"]["RequestId"] == "r&<>"


def test_timestamp_rendering() -> None:
    op = load_service("sts").operations["GetSessionToken"]
    creds = {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t"}
    for value in (
        T0,
        T0.replace(microsecond=611000),  # truncated to whole seconds
        T0.replace(tzinfo=None),  # naive = UTC
        T0.astimezone(dt.timezone(dt.timedelta(hours=5))),
        T0.timestamp(),
    ):
        body = op.render({"Credentials": {**creds, "Expiration": value}}, "r")
        assert b"<Expiration>2019-11-01T20:26:47Z</Expiration>" in body
        assert _botocore_parse("sts", "GetSessionToken", body)["Credentials"]["Expiration"] == T0


def test_account_summary_map_xml_shape() -> None:
    op = load_service("iam").operations["GetAccountSummary"]
    body = op.render({"SummaryMap": {"Users": 3, "Roles": 10}}, "r")
    assert b"<SummaryMap><entry><key>Users</key><value>3</value></entry>" in body
    assert _botocore_parse("iam", "GetAccountSummary", body)["SummaryMap"] == {"Users": 3, "Roles": 10}


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "err",
    [
        AccessDenied("User: arn:aws:iam::1:user/bob is not authorized to perform: sts:AssumeRole on <x> & y"),
        ValidationError("1 validation error detected: Value 'a' at 'roleSessionName' failed ..."),
        InternalFailure("boom"),
        load_service("sts").modelled_error("MalformedPolicyDocument", "bad policy"),
        load_service("sts").modelled_error("RegionDisabledException", "STS is not activated"),
        load_service("iam").modelled_error("NoSuchEntity", "The role with name x cannot be found."),
    ],
    ids=lambda e: e.code,
)
def test_error_roundtrip(err: ServiceError) -> None:
    for service in ("sts", "iam"):
        spec = load_service(service)
        body = render_error(err, "req-1", xmlns=spec.xmlns)
        parsed = _botocore_parse(service, "GetCallerIdentity" if service == "sts" else "GetUser", body, err.status)
        assert parsed["Error"] == {"Code": err.code, "Message": err.message, "Type": err.error_type}
        assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
        j = json.loads(render_error(err, "req-1", xmlns=spec.xmlns, json=True))
        assert j == {"Error": {"Code": err.code, "Message": err.message, "Type": err.error_type}, "RequestId": "req-1"}


def test_modelled_error_statuses() -> None:
    sts = load_service("sts")
    assert sts.modelled_error("RegionDisabledException").status == 403
    assert sts.modelled_error("IDPRejectedClaimException").code == "IDPRejectedClaim"
    assert sts.modelled_error("IDPRejectedClaim").status == 403
    assert sts.operations["AssumeRole"].error("MalformedPolicyDocument", "m").status == 400
    iam = load_service("iam")
    assert iam.modelled_error("NoSuchEntity").status == 404
    assert iam.modelled_error("EntityAlreadyExists").status == 409
    assert iam.modelled_error("ServiceFailure").sender_fault is False
    with pytest.raises(KeyError):
        sts.modelled_error("NoSuchThing")


# ----------------------------------------------------------------------------- JSON variant


def test_json_variant_shape() -> None:
    sts = load_service("sts")
    gci = sts.operations["GetCallerIdentity"]
    j = json.loads(gci.render({"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/Alice", "UserId": "AIDA"}, "r1", json=True))
    assert j == {
        "GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/Alice"},
            "ResponseMetadata": {"RequestId": "r1"},
        }
    }
    ar = sts.operations["AssumeRole"]
    result = value_for(MODELS["sts"].operation_model("AssumeRole").output_shape)
    j = json.loads(ar.render(result, "r2", json=True))["AssumeRoleResponse"]
    assert j["ResponseMetadata"] == {"RequestId": "r2"}
    assert j["AssumeRoleResult"]["Credentials"]["Expiration"] == int(T0.timestamp())
    assert j["AssumeRoleResult"]["AssumedRoleUser"] == result["AssumedRoleUser"]
    summary = load_service("iam").operations["GetAccountSummary"].render({"SummaryMap": {"Users": 1}}, "r", json=True)
    assert json.loads(summary)["GetAccountSummaryResponse"]["GetAccountSummaryResult"] == {"SummaryMap": {"Users": 1}}
    roles = load_service("iam").operations["ListRoles"]
    result = value_for(MODELS["iam"].operation_model("ListRoles").output_shape)
    j = json.loads(roles.render(result, "r", json=True))["ListRolesResponse"]["ListRolesResult"]
    assert isinstance(j["Roles"], list) and j["Roles"][0]["CreateDate"] == int(T0.timestamp())
    assert json.loads(load_service("iam").operations["TagRole"].render(None, "r", json=True)) == {
        "TagRoleResponse": {"ResponseMetadata": {"RequestId": "r"}}
    }
