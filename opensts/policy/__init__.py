"""The IAM policy engine: parse, validate, evaluate, explain.  A pure library (no I/O).

Typical use::

    from opensts.policy import PolicySet, Principal, RequestContext, evaluate, parse_policy

    trust = parse_policy(role.trust_policy_text, "trust")          # validated + compiled, cached
    policies = PolicySet(identity=tuple(parse_policy(t) for t in caller_policy_texts), trust=trust)
    ctx = RequestContext("sts:AssumeRole", role.arn, Principal.user(caller_arn, caller_id),
                         keys=sts_context_keys(principal, now=now, region=region, secure_transport=True))
    decision = evaluate(policies, ctx)
    if not decision.allowed: raise AccessDenied(access_denied_message(ctx, decision))

See ``shared/spec/policy.md`` for the semantics; every CHOICE lives in :mod:`opensts.policy.choices`.
"""

from __future__ import annotations

from opensts.policy.assume import AssumeRoleDecision, access_denied_message, authorize_assume_role
from opensts.policy.compile import Policy, Statement, clear_compile_cache, compile_cache_info, parse_policy
from opensts.policy.context import (
    Principal,
    PrincipalType,
    RequestContext,
    principal_keys,
    sts_context_keys,
)
from opensts.policy.document import (
    PolicyKind,
    check_inline_quota,
    check_session_policy_length,
    check_size,
    policy_size,
)
from opensts.policy.errors import LimitExceeded, MalformedPolicyDocument, PolicyError
from opensts.policy.evaluate import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Decision, PolicySet, evaluate
from opensts.policy.trace import ConditionTrace, PolicyTrace, StatementTrace, Trace

__all__ = [
    # parsing / validation
    "PolicyKind",
    "Policy",
    "Statement",
    "parse_policy",
    "policy_size",
    "check_size",
    "check_inline_quota",
    "check_session_policy_length",
    "compile_cache_info",
    "clear_compile_cache",
    # errors
    "PolicyError",
    "MalformedPolicyDocument",
    "LimitExceeded",
    # context
    "Principal",
    "PrincipalType",
    "RequestContext",
    "principal_keys",
    "sts_context_keys",
    # evaluation
    "PolicySet",
    "Decision",
    "evaluate",
    "ALLOW",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "AssumeRoleDecision",
    "authorize_assume_role",
    "access_denied_message",
    # explain
    "Trace",
    "PolicyTrace",
    "StatementTrace",
    "ConditionTrace",
]
