"""Every case of the policy spec's ``policy-cases.jsonl`` (copied to ``tests/policy/data``), table-driven.

Rows whose ``why`` says ``DISAGREE:`` are where AWS documentation and peer implementations differ.
We decide from the AWS IAM User Guide; the reasoning per row is recorded in ``DISAGREE_DECISIONS``
(and each such row is asserted to be covered there, so a new DISAGREE row cannot slip in unread).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from opensts.policy import PolicySet, RequestContext, evaluate
from tests.policy.conftest import VENDORED_CASES, load_cases

CASES = load_cases()

DISAGREE_DECISIONS = {
    "str-008-notequals-nor-miss":
        "UG multi-value conditions: negated operators with several values are a NOR; Ceph's OR of "
        "negations contradicts the documented example, so we follow the doc (Allow).",
    "str-009-notequals-missing":
        "UG condition operators (Important box): a negated operator on a missing key evaluates true; "
        "Ceph/aspen return false. Doc wins: Allow.",
    "str-014-notlike-missing":
        "Same documented rule for StringNotLike: missing key => true. PMapper's false is a bug.",
    "str-022-var-missing-negated":
        "UG policy variables, 'no value' section: a variable with no value makes negated operators "
        "match. iam-simulate errors out; doc wins: Allow.",
    "date-007-epoch-vs-iso-equal":
        "UG aws:EpochTime: epoch and ISO forms denote instants and compare as such (iam-simulate "
        "mixes seconds and milliseconds). Allow.",
    "bool-006-not-boolean":
        "UG Bool operator takes true/false only; a non-boolean request value never matches (Ceph's "
        "'non-empty is true' is not documented). ImplicitDeny.",
    "set-012-forall-notlike-mixed":
        "UG multivalued examples apply the negated operator per value inside the quantifier; "
        "MinIO negates the whole quantified result. Per-value => ForAllValues false => Deny "
        "does not apply => Allow.",
    "set-014-multivalued-no-setop":
        "UG single- vs multivalued keys: multivalued keys need ForAllValues/ForAnyValue; a plain "
        "operator does not match a multivalued value (iam-simulate / re:Inforce IAM431). ImplicitDeny.",
    "trust-014-session-arn-bypasses-session-policy":
        "UG access_policies (session policies): a resource-based policy naming the *session* ARN "
        "adds permissions after the session is created, so the session policy does not limit it. "
        "Allow.",
    "trust-015-boundary-blocks-direct-user":
        "UG id_roles_update-role-trust-policy Notes: 'If a permissions boundary is set for the user, "
        "then it must allow the sts:AssumeRole action' — the trust-policy-specific page wins over "
        "the general boundary page (choices.TRUST_USER_GRANT_NEEDS_BOUNDARY). ImplicitDeny.",
    "sess-008-resource-grants-session-arn":
        "Same UG rule as trust-014 for ordinary resource policies: session-ARN grants are not "
        "limited by session policies. Allow.",
    "notprin-003-account-missing":
        "UG NotPrincipal: to exclude a principal the account ARN must be listed too; the caller chain "
        "(account, user) has an unlisted member, so the Deny applies. ExplicitDeny.",
}


def test_case_file_is_complete() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) >= 142
    assert VENDORED_CASES.exists()


def test_every_disagree_row_has_a_recorded_decision() -> None:
    disagree = {c["id"] for c in CASES if "DISAGREE:" in c["why"]}
    assert disagree == set(DISAGREE_DECISIONS)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_spec_case(case: dict[str, Any]) -> None:
    policies = PolicySet.from_dict(case["policies"])
    ctx = RequestContext.from_dict(case["context"])
    decision = evaluate(policies, ctx)
    assert decision.decision == case["expect"], case["why"]
    traced = evaluate(policies, ctx, explain=True)
    assert traced.decision == decision.decision
    assert traced.trace is not None and traced.trace.decision == decision.decision
    json.dumps(traced.trace.to_dict())
    assert traced.trace.render()
