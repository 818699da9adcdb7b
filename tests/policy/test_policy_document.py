"""Parsing and validation: AWS's exact MalformedPolicyDocument messages, order, kinds, sizes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opensts.policy import (
    LimitExceeded,
    MalformedPolicyDocument,
    PolicyKind,
    check_inline_quota,
    check_session_policy_length,
    choices,
    parse_policy,
    policy_size,
)
from opensts.policy.errors import MSG_LEGACY, MSG_SYNTAX
from opensts.protocol.errors import ServiceError, ValidationError
from tests.policy.conftest import allow, doc, trust_stmt

V = "2012-10-17"


def err(document: Any, kind: str = "identity") -> str:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(MalformedPolicyDocument) as exc:
        parse_policy(text, kind)
    assert exc.value.code == "MalformedPolicyDocument" and exc.value.status == 400
    return exc.value.message


def ok(document: Any, kind: str = "identity") -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    parse_policy(text, kind)


def test_error_is_a_service_error() -> None:
    with pytest.raises(ServiceError) as exc:
        parse_policy("{", "identity")
    assert exc.value.code == "MalformedPolicyDocument"
    assert exc.value.status == 400
    assert exc.value.message == MSG_SYNTAX


# -- rank 1: syntax ---------------------------------------------------------------------------------

SYNTAX = [
    "", "{", "[]", "null", '"x"', "{}", '{"Version": "2012-10-17"}',
    '{"Version": "2012-10-17", "Statement": []}',
    '{"Version": "2012-10-17", "Statement": ["x"]}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, "Extra": 1}',
    '{"Version": "2012-10-18", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    '{"Version": 2012, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    '{"Id": 5, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    # duplicate keys are invalid (Python's json would keep the last silently)
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    # keys are case-sensitive
    '{"Version": "2012-10-17", "Statement": {"effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": ["Allow"], "Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": 5, "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["s3:*", 5], "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": {"a": 1}}}',
    '{"Version": "2012-10-17", "Statement": {"Sid": 1, "Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": []}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": "x"}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"k": {"a": "b"}}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"k": null}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"k": [["a"]]}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualz": {"k": "v"}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAnyValue::StringEquals": {"k": "v"}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"stringequals": {"k": "v"}}}}',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}} trailing',
    '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericEquals": {"k": NaN}}}}',
    '{"Statement": {"Effect": "Allow", "Principal": "arn:aws:iam::111122223333:root", "Action": "sts:AssumeRole"}}',
    '{"Statement": {"Effect": "Allow", "Principal": {"Bogus": "x"}, "Action": "sts:AssumeRole"}}',
    '{"Statement": {"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "sts:AssumeRole"}}',
]


@pytest.mark.parametrize("text", SYNTAX)
def test_syntax_errors(text: str) -> None:
    kind = "trust" if "Principal" in text else "identity"
    assert err(text, kind) == MSG_SYNTAX


def test_syntax_error_anywhere_beats_an_earlier_legacy_error() -> None:
    d = doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Bogus": 1})
    assert err(d) == MSG_SYNTAX


# -- accepted shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("document", [
    doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*")),
    {"Version": V, "Statement": allow()},  # Statement as an object
    {"Statement": allow()},  # no Version (2008 semantics)
    doc(allow(), version="2008-10-17"),
    {"Id": "policy-1", "Version": V, "Statement": [allow()]},
    doc({"Sid": "", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "", "Effect": "Allow", "Action": "*", "Resource": "*"}),  # empty Sids may repeat
    doc(allow(Condition={})),
    doc(allow(Condition={"UnknownOperator": {}})),  # unknown operator with an empty body: ignored
    doc(allow(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}})),  # JSON number
    doc(allow(Condition={"Bool": {"aws:SecureTransport": True}})),
    doc(allow(Condition={"StringEquals": {"k": []}})),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "01T"}})),  # legacy parser accepts
    doc(allow(Condition={"ForAnyValue:StringLikeIfExists": {"k": ["a*", "b"]}})),
    doc(allow(Condition={"NullIfExists": {"k": "true"}})),
    doc(allow("iam: asdf safdsf af ", "*")),  # the name part is not checked against a catalogue
    doc(allow("s3:*", "arn:aws:fdsasf")),  # short ARNs are accepted
    doc(allow("s3:*", "arn:aws-cn:s3:::bucket")),
    doc(allow("s3:*", "arn:aws:s3:us-west-2:123456789012:accesspoint/ap")),
    doc(allow("iam:*", "arn:aws:iam::123456789012:*")),
    doc(allow("s3:*", "arn:*:s3:::bucket")),
    '{"Version":"2012-10-17",\n\t"Statement":[ {"Effect":"Allow","Action":"*","Resource":"*"} ]}\n',
])
def test_valid_identity_documents(document: Any) -> None:
    ok(document)


# -- rank order and messages --------------------------------------------------------------------------

@pytest.mark.parametrize("document, message", [
    (doc(allow(), version=None), "Policy document must be version 2012-10-17 or greater."),
    (doc(allow(), version="2008-10-17"), "Policy document must be version 2012-10-17 or greater."),
])
def test_managed_policies_require_2012(document: Any, message: str) -> None:
    assert choices.VERSION_2012_ONLY_FOR_MANAGED
    assert err(document, "managed") == message
    ok(document, "identity")  # CHOICE: inline/trust/session accept 2008 semantics


LEGACY = [
    doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
    doc({"Effect": "DENY", "Action": "s3:*", "Resource": "*"}),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "234-13"}})),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "9223372036854775808"}})),
    doc(allow(Condition={"DateLessThanIfExists": {"aws:CurrentTime": ["2020-01-01", "sdfdsf"]}})),
    doc(allow("s3:*", "arn:aws:s3::bucket")),
    doc(allow("s3:*", "arn:aws::::x")),
    doc(allow("s3:*", "arn:aws::fdsasf")),
]


@pytest.mark.parametrize("document", LEGACY)
def test_legacy_parsing(document: Any) -> None:
    assert err(document) == MSG_LEGACY


def test_version_error_beats_legacy() -> None:
    d = doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"}, version="2008-10-17")
    assert err(d, "managed") == "Policy document must be version 2012-10-17 or greater."


@pytest.mark.parametrize("document, message", [
    (doc({"Sid": "A", **allow()}, {"Sid": "A", **allow()}),
     "Statement IDs (SID) in a single policy must be unique."),
    (doc({"Sid": "has space", **allow()}),
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
    (doc({"Effect": "Allow", "Resource": "*"}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow", "Action": [], "Resource": "*"}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow", "Action": "s3:*"}), "Policy statement must contain resources."),
    (doc({"Effect": "Allow", "NotAction": "s3:*", "NotResource": []}), "Policy statement must contain resources."),
    (doc(allow("s3:*", "bucket")), 'Resource bucket must be in ARN format or "*".'),
    (doc(allow("s3:*", "")), 'Resource  must be in ARN format or "*".'),
    (doc(allow("s3:*", "arn:aws")), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(allow("s3:*", "a:b:cadfsdf")), 'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    (doc(allow("s3:*", "arn:bogus:s3:::x")), 'Partition "bogus" is not valid for resource "arn:bogus:s3:::x".'),
    (doc(allow("iam:*", "arn:aws:iam:us-east-1:123456789012:user/x")),
     "IAM resource arn:aws:iam:us-east-1:123456789012:user/x cannot contain region information."),
    (doc(allow("s3:*", "arn:aws:s3:us-east-1::bucket")),
     "Resource arn:aws:s3:us-east-1::bucket can not contain region information."),
    (doc(allow("iam:*", "arn:aws:iam::123456789012:bogus/x")),
     'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, '
     'instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, '
     'report/, access-report/.'),
    (doc(allow("GetObject")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(allow("s3:Get:Object")), "Actions/Condition can contain only one colon."),
    (doc(allow("a a:GetObject")), "Vendor a a is not valid"),
    (doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
     "Policy document should not specify a principal."),
    (doc({"Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "s3:*", "Resource": "*"}),
     "Policy document should not specify a principal."),
])
def test_identity_messages(document: Any, message: str) -> None:
    assert err(document) == message


def test_order_actions_before_resources_before_formats() -> None:
    d = doc({"Effect": "Allow", "Resource": "bucket"}, {"Effect": "Allow", "Action": "s3:*"})
    assert err(d) == "Policy statement must contain actions."
    d = doc({"Effect": "Allow", "Action": "GetObject", "Resource": "bucket"}, {"Effect": "Allow", "Action": "s3:*"})
    assert err(d) == "Policy statement must contain resources."
    d = doc(allow("GetObject", "bucket"))
    assert err(d) == 'Resource bucket must be in ARN format or "*".'
    d = doc({"Sid": "a", **allow("GetObject")}, {"Sid": "a", **allow()})
    assert err(d) == "Statement IDs (SID) in a single policy must be unique."


# -- trust policies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("principal", [
    "*", {"AWS": "*"}, {"AWS": "111122223333"}, {"AWS": "arn:aws:iam::111122223333:root"},
    {"AWS": ["arn:aws:iam::111122223333:user/path/alice", "arn:aws:iam::111122223333:role/Dev"]},
    {"AWS": "arn:aws:sts::111122223333:assumed-role/Dev/s1"},
    {"AWS": "arn:aws:sts::111122223333:federated-user/carol"},
    {"AWS": "AROADEVEXAMPLE111"},
    {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
    {"Federated": "arn:aws:iam::111122223333:saml-provider/Okta"},
    {"Federated": ["accounts.google.com", "cognito-identity.amazonaws.com", "graph.facebook.com", "www.amazon.com"]},
    {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
    {"AWS": "111122223333", "Service": "ecs-tasks.amazonaws.com"},
])
def test_valid_trust_principals(principal: Any) -> None:
    ok(doc(trust_stmt(principal)), "trust")


@pytest.mark.parametrize("document, message", [
    (doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
     "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
     "The passed in policy has a statement with no principals!"),
    (doc(trust_stmt({})), "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
                          "The passed in policy has a statement with no principals!"),
    (doc(trust_stmt({"AWS": []})), "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
                                   "The passed in policy has a statement with no principals!"),
    (doc(trust_stmt({"AWS": "arn:aws:iam::123456789012:role/*"})),
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/*"'),
    (doc(trust_stmt({"AWS": "not-an-arn"})), 'Invalid principal in policy: "AWS":"not-an-arn"'),
    (doc(trust_stmt({"Federated": "not a domain"})),
     "Federated principals must be valid domain names or SAML metadata ARNs"),
    (doc(trust_stmt({"AWS": "111122223333"}, "s3:GetObject")),
     "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc(trust_stmt({"AWS": "111122223333"}, ["sts:AssumeRole", "sts:GetFederationToken"])),
     "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc(trust_stmt({"AWS": "111122223333"}, Resource="*")), "Has prohibited field Resource"),
    (doc({"Effect": "Deny", "NotPrincipal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}),
     "Has prohibited field NotPrincipal"),
])
def test_trust_messages(document: Any, message: str) -> None:
    assert err(document, "trust") == message


@pytest.mark.parametrize("action", ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
                                    "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext", "sts:*",
                                    "*", "sts:assumerole", "sts:AssumeRole*"])
def test_trust_actions_accepted(action: str) -> None:
    ok(doc(trust_stmt({"AWS": "111122223333"}, action)), "trust")


def test_resource_policy_requires_principal() -> None:
    assert err(doc(allow("s3:*", "arn:aws:s3:::b/*")), "resource").startswith("Invalid principal in policy")
    ok(doc({"Effect": "Deny", "NotPrincipal": {"AWS": "111122223333"}, "Action": "s3:*",
            "Resource": "arn:aws:s3:::b/*"}), "resource")


def test_session_and_boundary_validate_like_identity() -> None:
    for kind in ("session", "boundary", "scp"):
        assert err(doc({"Effect": "Allow", "Action": "s3:*"}), kind) == "Policy statement must contain resources."
        assert err(doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}), kind) == \
            "Policy document should not specify a principal."


# -- sizes -------------------------------------------------------------------------------------------

def test_policy_size_counts_non_whitespace() -> None:
    assert policy_size(' { "a" :\t1 }\r\n') == len('{"a":1}')


def _padded(n_chars: int) -> str:
    base = json.dumps(doc(allow("s3:GetObject", "arn:aws:s3:::b/")), separators=(",", ":"))
    pad = n_chars - len(base)
    return base.replace("arn:aws:s3:::b/", "arn:aws:s3:::b/" + "x" * pad)


def test_managed_policy_quota() -> None:
    ok(_padded(6144), "managed")
    with pytest.raises(LimitExceeded) as exc:
        parse_policy(_padded(6145), "managed")
    assert exc.value.code == "LimitExceeded" and exc.value.status == 409
    assert exc.value.message == "Cannot exceed quota for PolicySize: 6144"
    # whitespace is free
    spaced = _padded(6144).replace(",", ",    \n")
    ok(spaced, "managed")


def test_trust_policy_quota() -> None:
    base = json.dumps(doc(trust_stmt({"AWS": "111122223333"}, Condition={"StringEquals": {"sts:ExternalId": ""}})),
                      separators=(",", ":"))
    big = base.replace('"sts:ExternalId":""', '"sts:ExternalId":"' + "x" * (2049 - len(base)) + '"')
    assert policy_size(big) == 2049
    with pytest.raises(LimitExceeded, match="Cannot exceed quota for ACLSizePerRole: 2048"):
        parse_policy(big, "trust")
    parse_policy(big, "identity" if False else "trust", strict=False)  # stored documents evaluate


def test_inline_and_session_limits() -> None:
    check_inline_quota(["x" * 2048], "user", "alice")
    with pytest.raises(LimitExceeded, match="Maximum policy size of 2048 bytes exceeded for user alice"):
        check_inline_quota(["x" * 2000, "y" * 49], "user", "alice")
    with pytest.raises(LimitExceeded, match="of 10240 bytes exceeded for role R"):
        check_inline_quota(["x" * 10241], "role", "R")
    check_session_policy_length("x" * 2048)
    with pytest.raises(ValidationError) as exc:
        check_session_policy_length("x" * 2049)
    assert "Member must have length less than or equal to 2048" in exc.value.message


# -- compile cache and API -----------------------------------------------------------------------------

def test_parse_is_cached_and_accepts_mappings_and_bytes() -> None:
    text = json.dumps(doc(allow()))
    a = parse_policy(text, "identity")
    assert parse_policy(text, PolicyKind.IDENTITY) is a
    assert parse_policy(text.encode(), "identity") is a
    assert parse_policy(a, "identity") is a
    m = parse_policy(doc(allow()), "identity")
    assert m.statements[0].allow and m.version == V
    assert len(a.digest) == 64


def test_strict_false_keeps_unvalidated_content() -> None:
    p = parse_policy(doc(allow("sts:A,sts:B")), "identity", strict=False)
    assert p.statements[0].actions.patterns == ("sts:A,sts:B",)
    with pytest.raises(MalformedPolicyDocument):
        parse_policy("{", "identity", strict=False)
