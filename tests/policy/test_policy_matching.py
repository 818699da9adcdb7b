"""Glob, action, ARN and principal matching."""

from __future__ import annotations

import pytest

from opensts.policy import Principal
from opensts.policy.matching import (
    KIND_ACCOUNT,
    KIND_DIRECT,
    KIND_NONE,
    KIND_ROLE,
    KIND_WILDCARD,
    ActionMatcher,
    ArnPattern,
    PrincipalSpec,
    compile_glob,
)
from opensts.policy.variables import tokenize
from tests.policy.conftest import ALICE, DEV_SESSION


@pytest.mark.parametrize("pattern, value, expected", [
    ("*", "", True), ("*", "anything/at:all", True), ("a*", "a", True), ("a*c", "abbbc", True),
    ("a?c", "abc", True), ("a?c", "ac", False), ("a?c", "abbc", False), ("?", "", False),
    ("a.c", "abc", False), ("a+b", "a+b", True), ("a+b", "aab", False), ("(x)", "(x)", True),
    ("[ab]", "a", False), ("[ab]", "[ab]", True), ("a|b", "a", False), ("a|b", "a|b", True),
    ("^a$", "^a$", True), ("a\\b", "a\\b", True), ("**", "x", True), ("a*b*c", "aXbYc", True),
    ("x", "X", False), ("line*", "line1\nline2", True),
])
def test_glob(pattern: str, value: str, expected: bool) -> None:
    assert compile_glob(pattern).match(value) is expected


@pytest.mark.parametrize("patterns, action, expected", [
    (["sts:AssumeRole"], "sts:AssumeRole", True),
    (["sts:assumerole"], "STS:ASSUMEROLE", True),
    (["sts:Get*"], "sts:GetFederationToken", True),
    (["sts:Get*"], "sts:AssumeRole", False),
    (["sts:*Role"], "sts:AssumeRole", True),
    (["sts:AssumeRole?"], "sts:AssumeRole", False),
    (["*"], "iam:Anything", True),
    (["s3:*", "sts:Tag*"], "sts:TagSession", True),
    (["sts:A,sts:B"], "sts:A", False),
    ([" sts:AssumeRole"], "sts:AssumeRole", False),
    (["sts:AssumeRole "], "sts:AssumeRole", False),
    (["sts:Assume.Role"], "sts:AssumeXRole", False),
    ([], "sts:AssumeRole", False),
])
def test_actions(patterns: list[str], action: str, expected: bool) -> None:
    assert ActionMatcher(patterns)(action, action.lower()) is expected


def arn(pattern: str, value: str, keys: dict[str, object] | None = None, *, resource_mode: bool = True,
        substitute: bool = True) -> bool:
    return ArnPattern(pattern, tokenize(pattern, substitute), resource_mode=resource_mode).matches(value, keys or {})


@pytest.mark.parametrize("pattern, value, expected", [
    ("*", "not-an-arn", True),
    ("arn:aws:iam::111122223333:role/Target", "arn:aws:iam::111122223333:role/Target", True),
    ("arn:aws:iam::111122223333:role/Target", "arn:aws:iam::111122223333:role/target", False),
    ("arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:role/path/Target", True),
    ("arn:aws:iam::*:role/Target", "arn:aws:iam::444455556666:role/Target", True),
    ("arn:aws:iam::????????????:role/T", "arn:aws:iam::444455556666:role/T", True),
    ("arn:aws:sts:?:111122223333:x", "arn:aws:sts::111122223333:x", False),
    ("arn:aws:sts:*:111122223333:x", "arn:aws:sts::111122223333:x", True),
    ("arn:aws:*:federated-user/app1", "arn:aws:sts::111122223333:federated-user/app1", False),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c", True),
    ("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket-2", True),
    ("arn:aws:s3:::*", "arn:aws:s3", False),  # request ARN with fewer than six parts
    ("arn:aws:fdsasf", "arn:aws:fdsasf:r:a:x", True),  # short policy ARN padded with '*'
    ("arn:aws:fdsasf", "arn:aws:fdsasf", False),
    ("a:aws:s3:::b", "arn:aws:s3:::b", True),  # IAM normalises the first segment to 'arn'
    ("arn:aws:s3:::b+c", "arn:aws:s3:::bbc", False),
    ("arn:*:s3:::b", "arn:aws-cn:s3:::b", True),
    ("arn:aws*:s3:::b", "arn:aws:s3:us:x:b", False),
])
def test_resource_arns(pattern: str, value: str, expected: bool) -> None:
    assert arn(pattern, value) is expected


def test_resource_variables_only_in_resource_part() -> None:
    keys = {"aws:username": "alice", "aws:principalaccount": "111122223333"}
    assert arn("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/alice/x", keys)
    assert not arn("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/bob/x", keys)
    # a variable in the account segment stays literal text
    assert not arn("arn:aws:iam::${aws:PrincipalAccount}:role/x", "arn:aws:iam::111122223333:role/x", keys)
    assert arn("arn:aws:iam::${aws:PrincipalAccount}:role/x", "arn:aws:iam::${aws:PrincipalAccount}:role/x", keys)
    # unresolvable variable: matches nothing (not even a literal)
    assert not arn("arn:aws:s3:::b/${aws:userid}", "arn:aws:s3:::b/${aws:userid}", keys)
    # substituted text is literal: a '*' inside the value is not a wildcard
    assert not arn("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/anything", {"aws:username": "*"})
    assert arn("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/*", {"aws:username": "*"})
    # 2008 semantics: no substitution
    assert arn("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/${aws:username}", keys, substitute=False)
    assert not arn("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/alice", keys, substitute=False)


def test_condition_arns_substitute_everywhere() -> None:
    keys = {"aws:principalaccount": "111122223333"}
    assert arn("arn:aws:iam::${aws:PrincipalAccount}:role/*", "arn:aws:iam::111122223333:role/x", keys,
               resource_mode=False)
    assert not arn("*", "not-an-arn", resource_mode=False)


ROLE_ARN = "arn:aws:iam::111122223333:role/Dev"


@pytest.mark.parametrize("element, principal, kind", [
    ("*", ALICE, KIND_WILDCARD),
    ({"AWS": "*"}, Principal.web_identity("accounts.google.com"), KIND_WILDCARD),
    ({"AWS": "111122223333"}, ALICE, KIND_ACCOUNT),
    ({"AWS": "arn:aws:iam::111122223333:root"}, ALICE, KIND_ACCOUNT),
    ({"AWS": "arn:aws:iam::444455556666:root"}, ALICE, KIND_NONE),
    ({"AWS": "arn:aws:iam::111122223333:user/alice"}, ALICE, KIND_DIRECT),
    ({"AWS": "arn:aws:iam::111122223333:user/Alice"}, ALICE, KIND_NONE),  # case-sensitive
    ({"AWS": "AIDAALICEEXAMPLE1"}, ALICE, KIND_DIRECT),  # stored unique id
    ({"AWS": ROLE_ARN}, DEV_SESSION, KIND_ROLE),
    ({"AWS": "AROADEVEXAMPLE111"}, DEV_SESSION, KIND_ROLE),
    ({"AWS": "arn:aws:sts::111122223333:assumed-role/Dev/s1"}, DEV_SESSION, KIND_DIRECT),
    ({"AWS": "arn:aws:sts::111122223333:assumed-role/Dev/s2"}, DEV_SESSION, KIND_NONE),
    ({"AWS": ["111122223333", ROLE_ARN]}, DEV_SESSION, KIND_ROLE),  # best kind wins
    ({"AWS": "111122223333"}, Principal.root("111122223333"), KIND_ACCOUNT),
    ({"AWS": "111122223333"}, Principal.web_identity("accounts.google.com"), KIND_NONE),
    ({"Federated": "accounts.google.com"}, Principal.web_identity("accounts.google.com"), KIND_DIRECT),
    ({"Federated": "arn:aws:iam::111122223333:saml-provider/Okta"},
     Principal.saml("arn:aws:iam::111122223333:saml-provider/Okta"), KIND_DIRECT),
    ({"Service": "lambda.amazonaws.com"}, Principal.aws_service("lambda.amazonaws.com"), KIND_DIRECT),
    ({"Service": "lambda.amazonaws.com"}, ALICE, KIND_NONE),
    ({"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"}, ALICE, KIND_NONE),
    ({"AWS": "arn:aws:iam::111122223333:user/tokenapp"},
     Principal.federated_user("arn:aws:sts::111122223333:federated-user/carol",
                              "arn:aws:iam::111122223333:user/tokenapp"), KIND_ROLE),
    ({"AWS": "arn:aws:sts::111122223333:federated-user/carol"},
     Principal.federated_user("arn:aws:sts::111122223333:federated-user/carol",
                              "arn:aws:iam::111122223333:user/tokenapp"), KIND_DIRECT),
    ("*", Principal.anonymous(), KIND_WILDCARD),
    ({"AWS": "111122223333"}, Principal.anonymous(), KIND_NONE),
])
def test_principal_kinds(element: object, principal: Principal, kind: int) -> None:
    assert PrincipalSpec(element).kind(principal, {}) == kind


def test_stored_unique_ids() -> None:
    spec = PrincipalSpec({"AWS": ROLE_ARN})
    assert spec.kind(DEV_SESSION, {ROLE_ARN: "AROADEVEXAMPLE111"}) == KIND_ROLE
    assert spec.kind(DEV_SESSION, {ROLE_ARN: "AROAOLDDEVROLE11"}) == KIND_NONE  # re-created role
    user = PrincipalSpec({"AWS": "arn:aws:iam::111122223333:user/alice"})
    assert user.kind(ALICE, {"arn:aws:iam::111122223333:user/alice": "AIDAOLD"}) == KIND_NONE
    assert user.kind(ALICE, {"arn:aws:iam::111122223333:user/other": "AIDAOTHER"}) == KIND_DIRECT


@pytest.mark.parametrize("element, principal, listed", [
    ({"AWS": ["arn:aws:iam::111122223333:user/alice", "111122223333"]}, ALICE, True),
    ({"AWS": ["arn:aws:iam::111122223333:user/alice"]}, ALICE, False),
    ({"AWS": ["111122223333"]}, ALICE, False),
    ({"AWS": ["111122223333", ROLE_ARN, "arn:aws:sts::111122223333:assumed-role/Dev/s1"]}, DEV_SESSION, True),
    ({"AWS": ["111122223333", ROLE_ARN]}, DEV_SESSION, False),
    ({"AWS": "111122223333"}, Principal.root("111122223333"), True),
    ("*", ALICE, True),
])
def test_notprincipal_chain(element: object, principal: Principal, listed: bool) -> None:
    assert PrincipalSpec(element).all_listed(principal, {}) is listed
