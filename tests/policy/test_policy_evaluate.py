"""Evaluation: deny/allow precedence, trust + identity (same/cross account), boundaries, session
policies, role chaining, SCP/RCP, NotPrincipal, API pre-checks, AssumeRole helper, messages, context."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opensts.policy import (
    PolicySet,
    Principal,
    RequestContext,
    access_denied_message,
    authorize_assume_role,
    evaluate,
    principal_keys,
    sts_context_keys,
)
from tests.policy.conftest import (
    ACCT,
    ALICE,
    BOB,
    DEV_SESSION,
    OTHER,
    ROLE,
    allow,
    decide,
    deny,
    doc,
    trust_stmt,
)

A, ED, ID = "Allow", "ExplicitDeny", "ImplicitDeny"
ASSUME = "sts:AssumeRole"
ALICE_ARN = ALICE.arn
DEV_ROLE = f"arn:aws:iam::{ACCT}:role/Dev"
OPS = Principal.role_session(f"arn:aws:sts::{OTHER}:assumed-role/Ops/s2", f"arn:aws:iam::{OTHER}:role/Ops",
                             "AROAOPSEXAMPLE111")
IDENT_ASSUME = doc(allow(ASSUME, ROLE))
BOUNDARY_S3 = doc(allow("s3:*", "*"))
BOUNDARY_ALL = doc(allow("*", "*"))
SESSION_S3 = doc(allow("s3:*", "*"))


def trust(*principals: Any, **extra: Any) -> dict[str, Any]:
    return doc(*[trust_stmt(p, **extra) for p in principals])


# -- precedence ------------------------------------------------------------------------------------

@pytest.mark.parametrize("statements, expected", [
    ([allow("s3:GetObject")], A),
    ([deny("s3:GetObject")], ED),
    ([allow("s3:GetObject"), deny("s3:GetObject")], ED),
    ([deny("s3:GetObject"), allow("s3:GetObject")], ED),
    ([allow("s3:PutObject")], ID),
    ([], ID),
    ([allow("s3:GetObject", "arn:aws:s3:::other/*")], ID),
    ([allow("s3:GetObject"), deny("s3:GetObject", Condition={"Bool": {"aws:SecureTransport": "false"}})], A),
    ([{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::other/*"}], A),
    ([{"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}, allow()], A),
    ([{"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::b/*"}, allow()], A),
    ([{"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::x/*"}, allow()], ED),
])
def test_identity_precedence(statements: list[dict[str, Any]], expected: str) -> None:
    policies = {"identity": [doc(*statements)] if statements else []}
    got = decide(policies, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, {"aws:SecureTransport": "true"})
    assert got == expected


def test_deny_in_any_identity_policy_wins() -> None:
    policies = {"identity": [doc(allow()), doc(deny("s3:*"))]}
    assert decide(policies, "s3:GetObject", "arn:aws:s3:::b/k") == ED


# -- trust + identity matrix (policy.md §4.4) ----------------------------------------------------------

MATRIX = [
    # (name, trust principal, caller, identity?, boundary, session, expected)
    ("same: user ARN, no identity", {"AWS": ALICE_ARN}, ALICE, None, None, None, A),
    ("same: user ARN, boundary allows", {"AWS": ALICE_ARN}, ALICE, None, BOUNDARY_ALL, None, A),
    ("same: user ARN, boundary lacks (CHOICE)", {"AWS": ALICE_ARN}, ALICE, None, BOUNDARY_S3, None, ID),
    ("same: account, no identity", {"AWS": ACCT}, ALICE, None, None, None, ID),
    ("same: account root ARN + identity", {"AWS": f"arn:aws:iam::{ACCT}:root"}, ALICE, IDENT_ASSUME, None, None, A),
    ("same: account + identity, boundary lacks", {"AWS": ACCT}, ALICE, IDENT_ASSUME, BOUNDARY_S3, None, ID),
    ("same: '*', nothing else", "*", ALICE, None, None, None, A),
    ("same: '*', boundary lacks (not limited)", "*", ALICE, None, BOUNDARY_S3, None, A),
    ("same: role ARN, no identity", {"AWS": DEV_ROLE}, DEV_SESSION, None, None, None, A),
    ("same: role ARN, boundary lacks", {"AWS": DEV_ROLE}, DEV_SESSION, None, BOUNDARY_S3, None, ID),
    ("same: role ARN, session lacks", {"AWS": DEV_ROLE}, DEV_SESSION, None, None, SESSION_S3, ID),
    ("same: role ARN, session allows", {"AWS": DEV_ROLE}, DEV_SESSION, None, None, doc(allow(ASSUME)), A),
    ("same: session ARN, session lacks", {"AWS": DEV_SESSION.arn}, DEV_SESSION, None, None, SESSION_S3, A),
    ("same: session ARN, boundary lacks", {"AWS": DEV_SESSION.arn}, DEV_SESSION, None, BOUNDARY_S3, None, A),
    ("same: other user", {"AWS": f"arn:aws:iam::{ACCT}:user/zed"}, ALICE, IDENT_ASSUME, None, None, ID),
    ("cross: user ARN, no identity", {"AWS": BOB.arn}, BOB, None, None, None, ID),
    ("cross: user ARN + identity", {"AWS": BOB.arn}, BOB, IDENT_ASSUME, None, None, A),
    ("cross: user ARN + identity, boundary lacks", {"AWS": BOB.arn}, BOB, IDENT_ASSUME, BOUNDARY_S3, None, ID),
    ("cross: account + identity", {"AWS": OTHER}, BOB, IDENT_ASSUME, None, None, A),
    ("cross: account, no identity", {"AWS": OTHER}, BOB, None, None, None, ID),
    ("cross: '*' + identity", "*", BOB, IDENT_ASSUME, None, None, A),
    ("cross: '*', no identity", "*", BOB, None, None, None, ID),
    ("cross: role chain + identity", {"AWS": OPS.role_arn}, OPS, IDENT_ASSUME, None, None, A),
    ("cross: role chain + identity, session lacks", {"AWS": OPS.role_arn}, OPS, IDENT_ASSUME, None, SESSION_S3, ID),
    ("cross: wrong account", {"AWS": "999999999999"}, BOB, IDENT_ASSUME, None, None, ID),
    ("identity alone never suffices", {"AWS": "999999999999"}, ALICE, doc(allow()), None, None, ID),
]


@pytest.mark.parametrize("principal, caller, identity, boundary, session, expected",
                         [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_trust_matrix(principal: Any, caller: Principal, identity: Any, boundary: Any, session: Any,
                      expected: str) -> None:
    policies: dict[str, Any] = {"trust": trust(principal)}
    if identity is not None:
        policies["identity"] = [identity]
    if boundary is not None:
        policies["boundary"] = boundary
    if session is not None:
        policies["session"] = [session]
    assert decide(policies, ASSUME, ROLE, caller) == expected


def test_trust_explicit_deny_for_matching_principal() -> None:
    t = doc(trust_stmt("*"), trust_stmt({"AWS": ALICE_ARN}, effect="Deny"))
    assert decide({"trust": t}, ASSUME, ROLE, ALICE) == ED
    assert decide({"trust": t}, ASSUME, ROLE, Principal.user(f"arn:aws:iam::{ACCT}:user/zed", "AIDAZED")) == A


def test_boundary_and_session_explicit_denies() -> None:
    t = trust({"AWS": DEV_ROLE})
    assert decide({"trust": t, "boundary": doc(allow(), deny(ASSUME))}, ASSUME, ROLE, DEV_SESSION) == ED
    assert decide({"trust": t, "session": [doc(allow(), deny("sts:*"))]}, ASSUME, ROLE, DEV_SESSION) == ED


def test_session_policies_are_one_set() -> None:
    t = trust({"AWS": DEV_ROLE})
    sess = [doc(allow("s3:*")), doc(allow(ASSUME))]
    assert decide({"trust": t, "session": sess}, ASSUME, ROLE, DEV_SESSION) == A
    assert decide({"trust": t, "session": []}, ASSUME, ROLE, DEV_SESSION) == ID  # empty set allows nothing


def test_identity_with_session_policies_is_an_intersection() -> None:
    role_policy = [doc(allow("s3:*"))]
    assert decide({"identity": role_policy, "session": [doc(allow("s3:Get*"))]},
                  "s3:GetObject", "arn:aws:s3:::b/k", DEV_SESSION) == A
    assert decide({"identity": role_policy, "session": [doc(allow("s3:Get*"))]},
                  "s3:PutObject", "arn:aws:s3:::b/k", DEV_SESSION) == ID
    assert decide({"identity": [doc(allow("s3:Get*"))], "session": [doc(allow("*"))]},
                  "s3:PutObject", "arn:aws:s3:::b/k", DEV_SESSION) == ID


def test_tagsession_and_setsourceidentity_are_separate_actions() -> None:
    t = doc(trust_stmt({"AWS": ALICE_ARN}),
            trust_stmt({"AWS": ALICE_ARN}, "sts:TagSession",
                       Condition={"StringEquals": {"aws:RequestTag/Project": "Blue"}}))
    assert decide({"trust": t}, "sts:TagSession", ROLE, ALICE, {"aws:RequestTag/Project": "Blue"}) == A
    assert decide({"trust": t}, "sts:TagSession", ROLE, ALICE, {"aws:RequestTag/Project": "Red"}) == ID
    assert decide({"trust": t}, "sts:SetSourceIdentity", ROLE, ALICE, {}) == ID


def test_web_identity_and_saml_need_direct_or_wildcard_grants() -> None:
    prov = f"arn:aws:iam::{ACCT}:oidc-provider/oidc.example.com"
    wi = Principal.web_identity(prov)
    act = "sts:AssumeRoleWithWebIdentity"
    assert decide({"trust": trust({"Federated": prov}, action=act)}, act, ROLE, wi) == A
    assert decide({"trust": trust("*", action=act)}, act, ROLE, wi) == A
    assert decide({"trust": trust({"AWS": ACCT}, action=act)}, act, ROLE, wi) == ID
    assert decide({}, act, ROLE, wi) == ID
    # identity policies, boundaries and SCPs do not apply to unsigned callers
    assert decide({"trust": trust({"Federated": prov}, action=act), "identity": [doc(deny())],
                   "scp": [doc(deny())]}, act, ROLE, wi) == A
    # but RCPs do
    assert decide({"trust": trust({"Federated": prov}, action=act),
                   "rcp": [doc({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})]},
                  act, ROLE, wi) == ED
    saml = Principal.saml(f"arn:aws:iam::{ACCT}:saml-provider/Okta")
    act = "sts:AssumeRoleWithSAML"
    t = trust({"Federated": saml.provider}, action=act,
              Condition={"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}})
    assert decide({"trust": t}, act, ROLE, saml, {"saml:aud": "https://signin.aws.amazon.com/saml"}) == A
    assert decide({"trust": t}, act, ROLE, saml, {"saml:aud": "https://example.com"}) == ID


def test_service_principals_skip_rcps() -> None:
    svc = Principal.aws_service("lambda.amazonaws.com")
    rcp = [doc({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})]
    assert decide({"trust": trust({"Service": "lambda.amazonaws.com"}), "rcp": rcp}, ASSUME, ROLE, svc) == A


def test_scp_levels_each_must_allow() -> None:
    t = trust({"AWS": ALICE_ARN})
    assert decide({"trust": t, "scp": [doc(allow()), doc(allow("sts:*"))]}, ASSUME, ROLE) == A
    assert decide({"trust": t, "scp": [doc(allow()), doc(allow("s3:*"))]}, ASSUME, ROLE) == ID
    assert decide({"trust": t, "scp": []}, ASSUME, ROLE) == A


def test_rcp_with_orgid_condition() -> None:
    t = trust({"AWS": OTHER})
    rcp = [doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
               {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-mine"}}})]
    pol = {"trust": t, "identity": [IDENT_ASSUME], "rcp": rcp}
    assert decide(pol, ASSUME, ROLE, BOB, {"aws:PrincipalOrgID": "o-mine"}) == A
    assert decide(pol, ASSUME, ROLE, BOB, {"aws:PrincipalOrgID": "o-other"}) == ED
    assert decide(pol, ASSUME, ROLE, BOB, {}) == ED


# -- ordinary resource policies ---------------------------------------------------------------------

OBJ = "arn:aws:s3:::corp/k"


def res_policy(principal: Any, effect: str = "Allow", key: str = "Principal") -> dict[str, Any]:
    return doc({"Effect": effect, key: principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::corp/*"})


@pytest.mark.parametrize("policies, caller, expected", [
    ({"resource": res_policy({"AWS": ALICE_ARN})}, ALICE, A),
    ({"resource": res_policy({"AWS": ACCT})}, ALICE, ID),
    ({"resource": res_policy({"AWS": ACCT}), "identity": [doc(allow("s3:*"))]}, ALICE, A),
    ({"resource": res_policy({"AWS": "*"})}, ALICE, A),
    ({"resource": res_policy({"AWS": ALICE_ARN}), "boundary": BOUNDARY_S3}, ALICE, A),
    ({"resource": res_policy({"AWS": ALICE_ARN}), "boundary": doc(allow("ec2:*"))}, ALICE, A),
    ({"resource": res_policy({"AWS": f"arn:aws:iam::{ACCT}:user/zed"}), "identity": [doc(allow("s3:*"))]}, ALICE, A),
    ({"resource": res_policy({"AWS": "*"}, "Deny"), "identity": [doc(allow("s3:*"))]}, ALICE, ED),
    ({"resource": res_policy({"AWS": DEV_ROLE}), "session": [doc(allow("s3:*"))]}, DEV_SESSION, A),
])
def test_resource_policies_same_account(policies: dict[str, Any], caller: Principal, expected: str) -> None:
    assert decide(policies, "s3:GetObject", OBJ, caller, resource_account=ACCT) == expected


def test_resource_policies_cross_account() -> None:
    pol = {"resource": res_policy({"AWS": BOB.arn})}
    assert decide(pol, "s3:GetObject", OBJ, BOB, resource_account=ACCT) == ID
    pol["identity"] = [doc(allow("s3:*"))]
    assert decide(pol, "s3:GetObject", OBJ, BOB, resource_account=ACCT) == A
    assert decide({"identity": [doc(allow("s3:*"))], "resource": res_policy({"AWS": ACCT})},
                  "s3:GetObject", OBJ, BOB, resource_account=ACCT) == ID


def test_notprincipal_deny_with_boundary_always_applies() -> None:
    pol = {"identity": [doc(allow("s3:*"))],
           "resource": res_policy({"AWS": [ALICE_ARN, ACCT]}, "Deny", "NotPrincipal")}
    assert decide(pol, "s3:GetObject", OBJ, ALICE, resource_account=ACCT) == A
    pol["boundary"] = BOUNDARY_ALL
    assert decide(pol, "s3:GetObject", OBJ, ALICE, resource_account=ACCT) == ED


def test_root_caller() -> None:
    root = Principal.root(ACCT)
    assert decide({}, "s3:GetObject", OBJ, root, resource_account=ACCT) == A
    assert decide({"scp": [doc(deny("s3:*"), allow())]}, "s3:GetObject", OBJ, root, resource_account=ACCT) == ED
    assert decide({"trust": trust({"AWS": ACCT})}, ASSUME, ROLE, root) == ID  # roles not assumable by root


# -- API pre-checks --------------------------------------------------------------------------------

FED = Principal.federated_user(f"arn:aws:sts::{ACCT}:federated-user/carol", f"arn:aws:iam::{ACCT}:user/tokenapp")


@pytest.mark.parametrize("caller, action, policies, expected", [
    (ALICE, "sts:GetCallerIdentity", {"identity": [doc(deny())], "scp": [doc(deny())]}, A),
    (FED, "sts:GetCallerIdentity", {}, A),
    (FED, ASSUME, {"trust": trust("*"), "session": [doc(allow())]}, ID),
    (FED, "sts:GetFederationToken", {"identity": [doc(allow())]}, ID),
    (FED, "iam:ListUsers", {"identity": [doc(allow())], "session": [doc(allow())]}, ID),
    (FED, "s3:GetObject", {"identity": [doc(allow())], "session": [doc(allow())]}, A),
    (FED, "s3:GetObject", {"identity": [doc(allow())], "session": []}, ID),
    (DEV_SESSION, "sts:GetSessionToken", {}, ID),
    (DEV_SESSION, "sts:GetFederationToken", {"identity": [doc(allow())]}, ID),
    (ALICE, "sts:GetSessionToken", {"identity": [doc(deny())]}, A),
    (Principal.user(ALICE_ARN, "AIDAALICEEXAMPLE1", session_token=True), "sts:GetFederationToken",
     {"identity": [doc(allow())]}, ID),
    (Principal.user(ALICE_ARN, "AIDAALICEEXAMPLE1", session_token=True), ASSUME,
     {"trust": trust({"AWS": ALICE_ARN})}, A),
    (ALICE, "sts:GetFederationToken", {"identity": [doc(allow("sts:GetFederationToken"))]}, A),
])
def test_api_prechecks(caller: Principal, action: str, policies: dict[str, Any], expected: str) -> None:
    assert decide(policies, action, ROLE if "Assume" in action else "*", caller) == expected


# -- AssumeRole helper and messages ------------------------------------------------------------------

def test_authorize_assume_role_checks_each_permission() -> None:
    t = doc(trust_stmt({"AWS": ALICE_ARN}))
    ps = PolicySet.build(trust=t)
    ctx = RequestContext(ASSUME, ROLE, ALICE, {"aws:TagKeys": ["a"]})
    assert authorize_assume_role(ps, ctx).allowed
    d = authorize_assume_role(ps, ctx, tags=True)
    assert not d.allowed and d.action == "sts:TagSession"
    assert [a for a, _ in d.checks] == [ASSUME, "sts:TagSession"]
    ps2 = PolicySet.build(trust=doc(trust_stmt({"AWS": ALICE_ARN}, ["sts:AssumeRole", "sts:TagSession",
                                                                     "sts:SetSourceIdentity"])))
    ok = authorize_assume_role(ps2, ctx, tags=True, source_identity=True, explain=True)
    assert ok.allowed and len(ok.checks) == 3 and ok.decision.trace is not None
    assert not authorize_assume_role(ps2, ctx, provided_contexts=True).allowed


def test_access_denied_messages() -> None:
    ps = PolicySet.build(trust=doc(trust_stmt({"AWS": OTHER})))
    ctx = RequestContext(ASSUME, ROLE, BOB)
    d = evaluate(ps, ctx)
    assert access_denied_message(ctx, d) == \
        f"User: {BOB.arn} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
    assert access_denied_message(ctx, d, with_reason=True).endswith(
        "because no identity-based policy allows the sts:AssumeRole action")
    root_ctx = RequestContext(ASSUME, ROLE, Principal.root(ACCT))
    assert access_denied_message(root_ctx, evaluate(ps, root_ctx)) == "Roles may not be assumed by root accounts."
    wi = RequestContext("sts:AssumeRoleWithWebIdentity", ROLE, Principal.web_identity("accounts.google.com"))
    assert access_denied_message(wi, evaluate(ps, wi)) == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    deny_ps = PolicySet.build(trust=doc(trust_stmt({"AWS": OTHER})), identity=[doc(deny())])
    assert evaluate(deny_ps, ctx).denial_suffix(ASSUME) == "with an explicit deny in an identity-based policy"


# -- explain ---------------------------------------------------------------------------------------

def test_trace_names_statement_condition_and_value() -> None:
    t = doc({"Sid": "ExternalId", **trust_stmt({"AWS": OTHER},
                                               Condition={"StringEquals": {"sts:ExternalId": "Example987"}})})
    ps = PolicySet.build(trust=t, identity=[IDENT_ASSUME])
    d = evaluate(ps, RequestContext(ASSUME, ROLE, BOB, {"sts:ExternalId": "wrong"}), explain=True)
    assert d.decision == ID and d.trace is not None
    text = d.trace.render()
    assert "ExternalId" in text and "sts:ExternalId" in text and "'wrong'" in text and "FALSE" in text
    as_dict = d.trace.to_dict()
    trust_trace = [p for p in as_dict["policies"] if p["policy"] == "trust"][0]
    cond = trust_trace["statements"][0]["conditions"][0]
    assert cond == {"operator": "StringEquals", "key": "sts:ExternalId", "values": ["Example987"],
                    "context_value": "wrong", "result": False}
    assert evaluate(ps, RequestContext(ASSUME, ROLE, BOB)).trace is None


# -- context ---------------------------------------------------------------------------------------

def test_context_is_case_insensitive_and_normalised() -> None:
    ctx = RequestContext("STS:AssumeRole", ROLE, ALICE, {"AWS:PrincipalTag/Dept": "hr", "x:flag": True,
                                                         "x:n": 5, "aws:TagKeys": ["a", "b"]})
    assert ctx.get("aws:principaltag/dept") == "hr"
    assert ctx.get("X:FLAG") == "true" and ctx.get("x:n") == "5" and ctx.get("aws:tagkeys") == ("a", "b")
    assert ctx.action_l == "sts:assumerole" and ctx.resource_account == ACCT
    again = RequestContext.from_dict(ctx.to_dict())
    assert again.keys == ctx.keys and again.principal == ctx.principal


@pytest.mark.parametrize("principal, expected", [
    (ALICE, {"aws:PrincipalType": "User", "aws:PrincipalArn": ALICE_ARN, "aws:userid": "AIDAALICEEXAMPLE1",
             "aws:username": "alice", "aws:PrincipalAccount": ACCT}),
    (DEV_SESSION, {"aws:PrincipalType": "AssumedRole", "aws:PrincipalArn": DEV_ROLE,
                   "aws:userid": "AROADEVEXAMPLE111:s1", "aws:PrincipalAccount": ACCT}),
    (Principal.root(ACCT), {"aws:PrincipalType": "Account", "aws:PrincipalArn": f"arn:aws:iam::{ACCT}:root",
                            "aws:userid": ACCT, "aws:PrincipalAccount": ACCT}),
    (FED, {"aws:PrincipalType": "FederatedUser", "aws:PrincipalArn": FED.arn, "aws:userid": f"{ACCT}:carol",
           "aws:PrincipalAccount": ACCT}),
    (Principal.anonymous(), {"aws:PrincipalType": "Anonymous", "aws:userid": "anonymous",
                             "aws:PrincipalAccount": "anonymous"}),
    (Principal.web_identity("accounts.google.com"), {}),
])
def test_principal_keys(principal: Principal, expected: dict[str, str]) -> None:
    assert principal_keys(principal) == expected


def test_sts_context_keys_for_assume_role() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    keys = sts_context_keys(
        DEV_SESSION, now=now, region="us-east-1", secure_transport=True, source_ip="203.0.113.5",
        user_agent="aws-cli/2", principal_tags={"team": "red"}, mfa_present=False,
        token_issue_time=now - dt.timedelta(minutes=5), caller_source_identity="diego",
        role_session_name="s2", external_id="ext", source_identity=None,
        request_tags={"Project": "Blue"}, transitive_tag_keys=["Project"], resource_tags={"env": "prod"})
    assert keys["aws:CurrentTime"] == "2024-05-01T12:00:00Z"
    assert keys["aws:EpochTime"] == str(int(now.timestamp()))
    assert keys["aws:SecureTransport"] == "true" and keys["aws:RequestedRegion"] == "us-east-1"
    assert keys["aws:PrincipalArn"] == DEV_ROLE and keys["aws:userid"] == "AROADEVEXAMPLE111:s1"
    assert keys["aws:PrincipalTag/team"] == "red" and keys["aws:MultiFactorAuthPresent"] == "false"
    assert "aws:MultiFactorAuthAge" not in keys and keys["aws:TokenIssueTime"] == "2024-05-01T11:55:00Z"
    assert keys["aws:SourceIdentity"] == "diego" and "sts:SourceIdentity" not in keys
    assert keys["aws:TagKeys"] == ("Project",) and keys["sts:TransitiveTagKeys"] == ("Project",)
    assert keys["aws:RequestTag/Project"] == "Blue" and keys["aws:ResourceTag/env"] == "prod"
    assert keys["sts:ExternalId"] == "ext" and keys["sts:RoleSessionName"] == "s2"
    # unsigned callers carry no caller keys
    wi = sts_context_keys(Principal.web_identity("accounts.google.com"), now=now, region="eu-west-1",
                          secure_transport=True, extra={"accounts.google.com:aud": "app"})
    assert "aws:PrincipalArn" not in wi and wi["accounts.google.com:aud"] == "app"
    # end to end: the built context drives a decision
    t = doc(trust_stmt({"AWS": DEV_ROLE}, Condition={"StringEquals": {"aws:PrincipalTag/team": "red"},
                                                      "Bool": {"aws:SecureTransport": "true"}}))
    assert evaluate(PolicySet.build(trust=t), RequestContext(ASSUME, ROLE, DEV_SESSION, keys)).allowed
