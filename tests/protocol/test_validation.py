"""Constraint boundaries (just inside / just outside) and AWS's exact ValidationError messages."""

from __future__ import annotations

from tests.testdata import DATA

import json

import pytest

from opensts.protocol.errors import InvalidAction, MissingAction, ValidationError
from opensts.protocol.model import load_service

STS = load_service("sts")
ARN = "arn:aws:iam::123456789012:role/demo"
SNAPSHOT = DATA / "sts-wire" / "localstack-snapshots" / "test_sts.snapshot.json"
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
TAG_VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"


def parse(op: str, **params: str) -> dict:
    return STS.operations[op].parse(params)


def message(op: str, **params: str) -> str:
    with pytest.raises(ValidationError) as exc:
        parse(op, **params)
    assert exc.value.status == 400 and exc.value.code == "ValidationError" and exc.value.error_type == "Sender"
    return exc.value.message


def one(value: str, path: str, constraint: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


# --------------------------------------------------------------------- exact AWS-recorded messages


def _snapshot_errors() -> dict[str, str]:
    data = json.loads(SNAPSHOT.read_text())
    found = {}
    for test in data.values():
        for key, rec in test["recorded-content"].items():
            err = rec.get("Error") if isinstance(rec, dict) else None
            if err and err["Code"] == "ValidationError" and "validation error" in err["Message"]:
                found[key] = err["Message"]
    return found


def test_snapshot_session_name_pattern() -> None:
    expected = _snapshot_errors()["invalid-session-name"]
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="Session1:2") == expected


def test_snapshot_session_name_too_long() -> None:
    expected = _snapshot_errors()["session-name-too-long-error"]
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="s" * 65) == expected


def test_snapshot_federation_policy_too_long() -> None:
    expected = _snapshot_errors()["policy-too-long-error"]
    policy = expected.split("Value '", 1)[1].rsplit("' at 'policy'", 1)[0]
    assert len(policy) > 2048
    assert message("GetFederationToken", Name="fed-user", Policy=policy) == expected


# --------------------------------------------------------------------- required / null


def test_missing_required() -> None:
    assert message("AssumeRole", RoleArn=ARN) == (
        "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert message("AssumeRole") == (
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be "
        "null; Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
    )


def test_empty_string_is_a_value_not_null() -> None:
    # AWS reports '' against the length constraint (aws-sdk-js feature test: "Value '' at 'policy'").
    msg = message("GetFederationToken", Name="fed-user", Policy="")
    assert msg.startswith("2 validation errors detected: Value '' at 'policy' failed to satisfy constraint: ")
    assert "Member must have length greater than or equal to 1" in msg


def test_nested_required_and_paths() -> None:
    msg = message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **{"Tags.member.1.Key": "k", "Tags.member.2.Value": "v"})
    assert msg == (
        "2 validation errors detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must "
        "not be null; Value null at 'tags.2.member.key' failed to satisfy constraint: Member must not be null"
    )


# --------------------------------------------------------------------- boundaries (sts-api.md §2)

OK = object()

BOUNDARIES = [
    # (op, extra params, expected: OK or (value, path, constraint))
    ("AssumeRole", {"RoleSessionName": "ab"}, OK),
    ("AssumeRole", {"RoleSessionName": "a"}, ("a", "roleSessionName", "Member must have length greater than or equal to 2")),
    ("AssumeRole", {"RoleSessionName": "s" * 64}, OK),
    ("AssumeRole", {"RoleSessionName": "s" * 65}, ("s" * 65, "roleSessionName", "Member must have length less than or equal to 64")),
    ("AssumeRole", {"RoleSessionName": "a+=,.@-_Z9"}, OK),
    ("AssumeRole", {"RoleSessionName": "ab cd"}, ("ab cd", "roleSessionName", r"Member must satisfy regular expression pattern: [\w+=,.@-]*")),
    ("AssumeRole", {"RoleSessionName": "séssion"}, ("séssion", "roleSessionName", r"Member must satisfy regular expression pattern: [\w+=,.@-]*")),
    ("AssumeRole", {"DurationSeconds": "900"}, OK),
    ("AssumeRole", {"DurationSeconds": "899"}, ("899", "durationSeconds", "Member must have value greater than or equal to 900")),
    ("AssumeRole", {"DurationSeconds": "43200"}, OK),
    ("AssumeRole", {"DurationSeconds": "43201"}, ("43201", "durationSeconds", "Member must have value less than or equal to 43200")),
    ("AssumeRole", {"DurationSeconds": "86400"}, ("86400", "durationSeconds", "Member must have value less than or equal to 43200")),
    ("GetSessionToken", {"DurationSeconds": "129600"}, OK),
    ("GetSessionToken", {"DurationSeconds": "129601"}, ("129601", "durationSeconds", "Member must have value less than or equal to 129600")),
    ("GetSessionToken", {"DurationSeconds": "899"}, ("899", "durationSeconds", "Member must have value greater than or equal to 900")),
    ("GetSessionToken", {"TokenCode": "123456"}, OK),
    ("GetSessionToken", {"TokenCode": "12345"}, ("12345", "tokenCode", "Member must have length greater than or equal to 6")),
    ("GetSessionToken", {"TokenCode": "1234567"}, ("1234567", "tokenCode", "Member must have length less than or equal to 6")),
    ("GetSessionToken", {"TokenCode": "12345a"}, ("12345a", "tokenCode", r"Member must satisfy regular expression pattern: [\d]*")),
    ("GetSessionToken", {"TokenCode": "١٢٣٤٥٦"}, ("١٢٣٤٥٦", "tokenCode", r"Member must satisfy regular expression pattern: [\d]*")),
    ("GetSessionToken", {"SerialNumber": "arn:aws:iam::123456789012:mfa/user"}, OK),
    ("GetSessionToken", {"SerialNumber": "GAHT1234"}, ("GAHT1234", "serialNumber", "Member must have length greater than or equal to 9")),
    ("GetFederationToken", {"Policy": "p" * 2048}, OK),
    ("GetFederationToken", {"Policy": "p" * 2049}, ("p" * 2049, "policy", "Member must have length less than or equal to 2048")),
    ("GetFederationToken", {"Name": "ab" * 16}, OK),
    ("GetFederationToken", {"Name": "a" * 33}, ("a" * 33, "name", "Member must have length less than or equal to 32")),
    ("AssumeRole", {"Policy": "p" * 5000}, OK),  # unrestrictedSessionPolicyDocumentType: no max
    ("AssumeRole", {"Policy": "{\"a\": \"ÿ\"}"}, OK),
    ("AssumeRole", {"Policy": "{\"a\": \"Ā\"}"}, ("{\"a\": \"Ā\"}", "policy", r"Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+")),
    ("AssumeRole", {"ExternalId": "ab"}, OK),
    ("AssumeRole", {"ExternalId": "a"}, ("a", "externalId", "Member must have length greater than or equal to 2")),
    ("AssumeRole", {"ExternalId": "x" * 1224}, OK),
    ("AssumeRole", {"ExternalId": "x" * 1225}, ("x" * 1225, "externalId", "Member must have length less than or equal to 1224")),
    ("AssumeRole", {"SourceIdentity": "a:b"}, ("a:b", "sourceIdentity", r"Member must satisfy regular expression pattern: [\w+=,.@-]*")),
    ("AssumeRole", {"RoleArn": "a" * 19}, ("a" * 19, "roleArn", "Member must have length greater than or equal to 20")),
    ("AssumeRole", {"RoleArn": "arn:aws:iam::1:role/😀x"}, OK),  # supplementary plane accepted (\u10000-\u10FFFF)
    ("AssumeRole", {"RoleArn": "arn:aws:iam::1:role/\x01x"}, ("arn:aws:iam::1:role/\x01x", "roleArn", r"Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+")),
    ("AssumeRole", {"Tags.member.1.Key": "k" * 128, "Tags.member.1.Value": "v" * 256}, OK),
    ("AssumeRole", {"Tags.member.1.Key": "k" * 129, "Tags.member.1.Value": "v"}, ("k" * 129, "tags.1.member.key", "Member must have length less than or equal to 128")),
    ("AssumeRole", {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v" * 257}, ("v" * 257, "tags.1.member.value", "Member must have length less than or equal to 256")),
    ("AssumeRole", {"Tags.member.1.Key": "k", "Tags.member.1.Value": ""}, OK),
    ("AssumeRole", {"Tags.member.1.Key": "Ключ 名前 ٣", "Tags.member.1.Value": "x\u00a0y"}, OK),
    ("AssumeRole", {"Tags.member.1.Key": "k", "Tags.member.1.Value": "a!"}, ("a!", "tags.1.member.value", f"Member must satisfy regular expression pattern: {TAG_VALUE_PATTERN}")),
    ("AssumeRole", {"Tags.member.1.Key": "k", "Tags.member.2.Key": "b*d", "Tags.member.1.Value": "", "Tags.member.2.Value": ""}, ("b*d", "tags.2.member.key", f"Member must satisfy regular expression pattern: {TAG_PATTERN}")),
    ("AssumeRole", {"TransitiveTagKeys.member.1": "k*"}, ("k*", "transitiveTagKeys.1.member", f"Member must satisfy regular expression pattern: {TAG_PATTERN}")),
    ("AssumeRole", {"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/x"}, OK),
    ("AssumeRole", {"PolicyArns.member.1.arn": "short"}, ("short", "policyArns.1.member.arn", "Member must have length greater than or equal to 20")),
    ("AssumeRole", {"ProvidedContexts.member.1.ProviderArn": ARN, "ProvidedContexts.member.1.ContextAssertion": "abc"}, ("abc", "providedContexts.1.member.contextAssertion", "Member must have length greater than or equal to 4")),
    ("AssumeRoot", {"TargetPrincipal": "123456789012", "TaskPolicyArn.arn": "arn:aws:iam::aws:policy/root-task/X", "DurationSeconds": "901"}, ("901", "durationSeconds", "Member must have value less than or equal to 900")),
    ("DecodeAuthorizationMessage", {"EncodedMessage": "x" * 10241}, ("x" * 10241, "encodedMessage", "Member must have length less than or equal to 10240")),
    ("GetAccessKeyInfo", {"AccessKeyId": "AKIA-NOT-VALID-ID"}, ("AKIA-NOT-VALID-ID", "accessKeyId", r"Member must satisfy regular expression pattern: [\w]*")),
]

BASE = {
    "AssumeRole": {"RoleArn": ARN, "RoleSessionName": "s1"},
    "GetSessionToken": {},
    "GetFederationToken": {"Name": "fed-user"},
    "AssumeRoot": {},
    "DecodeAuthorizationMessage": {},
    "GetAccessKeyInfo": {},
}


@pytest.mark.parametrize("op,extra,expected", BOUNDARIES, ids=[f"{i}-{b[0]}" for i, b in enumerate(BOUNDARIES)])
def test_boundary(op: str, extra: dict, expected: object) -> None:
    params = {**BASE[op], **extra}
    if expected is OK:
        STS.operations[op].parse(params)
    else:
        value, path, constraint = expected  # type: ignore[misc]
        assert message(op, **params) == one(value, path, constraint)


def test_fifty_tags_max() -> None:
    tags = {f"Tags.member.{i}.Key": f"k{i}" for i in range(1, 51)} | {f"Tags.member.{i}.Value": "v" for i in range(1, 51)}
    out = parse("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **tags)
    assert [t["Key"] for t in out["Tags"]] == [f"k{i}" for i in range(1, 51)]
    tags |= {"Tags.member.51.Key": "k51", "Tags.member.51.Value": "v"}
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **tags) == (
        "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
        "Member must have length less than or equal to 50"
    )
    keys = {f"TransitiveTagKeys.member.{i}": f"k{i}" for i in range(1, 52)}
    msg = message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **keys)
    assert msg.startswith("1 validation error detected: Value '[k1, k2, k3,")
    assert msg.endswith("k51]' at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to 50")


def test_list_order_follows_index_not_arrival() -> None:
    out = parse("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **{"TransitiveTagKeys.member.10": "c",
              "TransitiveTagKeys.member.2": "b", "TransitiveTagKeys.member.1": "a", "TransitiveTagKeys.member.x": "ignored"})
    assert out["TransitiveTagKeys"] == ["a", "b", "c"]


def test_provided_contexts_min_max() -> None:
    ctx = {f"ProvidedContexts.member.{i}.{k}": (ARN if k == "ProviderArn" else "assertion") for i in range(1, 7) for k in ("ProviderArn", "ContextAssertion")}
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", **ctx).endswith(
        "at 'providedContexts' failed to satisfy constraint: Member must have length less than or equal to 5"
    )
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", ProvidedContexts="") == (
        "1 validation error detected: Value at 'providedContexts' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_sensitive_value_not_echoed() -> None:
    msg = message("AssumeRoleWithWebIdentity", RoleArn=ARN, RoleSessionName="s1", WebIdentityToken="abc")
    assert msg == (
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4"
    )
    msg = message("AssumeRoleWithSAML", RoleArn=ARN, PrincipalArn=ARN, SAMLAssertion="abc")
    assert "Value at 'sAMLAssertion'" in msg and "abc" not in msg


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "1e3", " 900", "0x384", "1_000", "99999999999", "٩٠٠"])
def test_non_numeric_integer(raw: str) -> None:
    assert message("AssumeRole", RoleArn=ARN, RoleSessionName="s1", DurationSeconds=raw) == one(
        raw, "durationSeconds", "Member must be a valid integer"
    )


def test_signed_integer_accepted_like_java() -> None:
    assert parse("GetSessionToken", DurationSeconds="+900") == {"DurationSeconds": 900}
    assert message("GetSessionToken", DurationSeconds="-1") == one("-1", "durationSeconds", "Member must have value greater than or equal to 900")


def test_many_errors_joined_in_model_order() -> None:
    msg = message("AssumeRole", RoleArn="short", RoleSessionName="bad name", DurationSeconds="1", TokenCode="12")
    assert msg.startswith("4 validation errors detected: Value 'short' at 'roleArn'")
    parts = msg.split(": ", 1)[1].split("; ")
    assert [p.split("' at '")[1].split("'")[0] for p in parts] == ["roleArn", "roleSessionName", "durationSeconds", "tokenCode"]


def test_iam_enum_and_patterns() -> None:
    iam = load_service("iam")
    with pytest.raises(ValidationError) as exc:
        iam.operations["GetAccountAuthorizationDetails"].parse({"Filter.member.1": "Nope"})
    assert exc.value.message == (
        "1 validation error detected: Value 'Nope' at 'filter.1.member' failed to satisfy constraint: "
        "Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]"
    )
    with pytest.raises(ValidationError) as exc:
        iam.operations["CreateRole"].parse({"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Path": "no-slash"})
    assert "Value 'no-slash' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)" in exc.value.message
    with pytest.raises(ValidationError) as exc:
        iam.operations["ListRoles"].parse({"MaxItems": "0"})
    assert exc.value.message.endswith("Member must have value greater than or equal to 1")
    assert iam.operations["ListRoles"].parse({"MaxItems": "1000", "PathPrefix": "/a/"}) == {"MaxItems": 1000, "PathPrefix": "/a/"}
    with pytest.raises(ValidationError):
        iam.operations["SetSecurityTokenServicePreferences"].parse({"GlobalEndpointTokenVersion": "v3Token"})
    assert iam.operations["SetSecurityTokenServicePreferences"].parse({"GlobalEndpointTokenVersion": "v2Token"}) == {
        "GlobalEndpointTokenVersion": "v2Token"
    }
    with pytest.raises(ValidationError) as exc:
        iam.operations["UpdateAccountPasswordPolicy"].parse({"RequireSymbols": "yes"})
    assert "Member must be a boolean" in exc.value.message
    assert iam.operations["UpdateAccountPasswordPolicy"].parse({"RequireSymbols": "TRUE"}) == {"RequireSymbols": True}


# --------------------------------------------------------------------- dispatch


def test_dispatch() -> None:
    assert STS.operation("AssumeRole", "2011-06-15").name == "AssumeRole"
    with pytest.raises(InvalidAction) as exc:
        STS.operation("AssumeRol", "2011-06-15")
    assert exc.value.message == "Could not find operation AssumeRol for version 2011-06-15"
    with pytest.raises(InvalidAction) as exc:
        STS.operation("AssumeRole", "2010-05-08")
    assert exc.value.message == "Could not find operation AssumeRole for version 2010-05-08"
    with pytest.raises(InvalidAction) as exc:
        STS.operation("GetCallerIdentity", None)
    assert exc.value.message == "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"
    with pytest.raises(MissingAction):
        STS.operation(None, "2011-06-15")
    with pytest.raises(InvalidAction):
        load_service("iam").operation("AssumeRole", "2010-05-08")


def test_metadata() -> None:
    assert (STS.name, STS.api_version, STS.xmlns, STS.signing_name) == (
        "sts", "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/", "sts")
    iam = load_service("iam")
    assert (iam.api_version, iam.xmlns) == ("2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/")
    unauth = {n for n, op in STS.operations.items() if op.unauthenticated}
    assert unauth == {"AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"}
    assert not any(op.unauthenticated for op in iam.operations.values())
    assert STS.operations["AssumeRoleWithSAML"].sensitive_members == {"SAMLAssertion"}
    assert STS.operations["GetDelegatedAccessToken"].sensitive_members == {"TradeInToken"}
    assert "Password" in iam.operations["CreateLoginProfile"].sensitive_members
    assert set(STS.operations["AssumeRole"].errors) == {
        "MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabledException", "ExpiredTokenException",
        "InvalidContextAssertion"}


def test_redaction() -> None:
    op = STS.operations["AssumeRoleWithWebIdentity"]
    assert op.redact_input({"RoleArn": ARN, "WebIdentityToken": "jwt"}) == {
        "RoleArn": ARN, "WebIdentityToken": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    out = op.redact_output({"Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t"}})
    assert out["Credentials"] == {"AccessKeyId": "ASIA", "SecretAccessKey": "HIDDEN_DUE_TO_SECURITY_REASONS", "SessionToken": "t"}


def test_unknown_params_ignored() -> None:
    out = parse("GetCallerIdentity", Action="GetCallerIdentity", Version="2011-06-15", **{"X-Amz-Signature": "x", "Foo.member.1": "y"})
    assert out == {}


def test_modelled_error_helper() -> None:
    from opensts.protocol.model import modelled_error as modelled

    e = modelled("sts", "PackedPolicyTooLargeException", "Packed policy consumes 110% of allotted space")
    assert (e.code, e.status, e.error_type) == ("PackedPolicyTooLarge", 400, "Sender")
    assert modelled("iam", "LimitExceeded").status == 409


def test_botocore_not_imported_by_runtime() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from opensts.protocol import load_service, parse_form;"
        "s = load_service('sts'); load_service('iam');"
        "op = s.operation('GetCallerIdentity', '2011-06-15'); op.parse(parse_form(b'Action=GetCallerIdentity'));"
        "op.render({'Account': '1'}, 'r');"
        "assert 'botocore' not in sys.modules, 'botocore imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
