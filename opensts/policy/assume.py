"""AssumeRole-family authorization on top of :func:`~opensts.policy.evaluate.evaluate`.

An AssumeRole call is several permission checks with one request context (``policy.md`` §4.4,
§4.6): the main action (``sts:AssumeRole`` / ``…WithSAML`` / ``…WithWebIdentity``) and, when the
request carries them, ``sts:TagSession`` (tags or transitive tag keys), ``sts:SetSourceIdentity``
(a source identity given or inherited) and ``sts:SetContext`` (provided contexts).  Each is decided
by the same procedure (trust policy + caller's identity, boundary and session policies); the first
refusal is the answer.  This module also renders AWS's AccessDenied text.
"""

from __future__ import annotations

from opensts.frozen import frozen
from opensts.policy.context import PrincipalType, RequestContext
from opensts.policy.evaluate import Decision, PolicySet, evaluate

__all__ = ["AssumeRoleDecision", "authorize_assume_role", "access_denied_message"]


@frozen
class AssumeRoleDecision:
    """``decision`` is the first refusal, or the main action's Allow; ``checks`` lists every
    (action, decision) evaluated, in order."""

    decision: Decision
    action: str
    checks: tuple[tuple[str, Decision], ...]

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def authorize_assume_role(
    policies: PolicySet,
    ctx: RequestContext,
    *,
    tags: bool = False,
    source_identity: bool = False,
    provided_contexts: bool = False,
    explain: bool = False,
) -> AssumeRoleDecision:
    """Decide an AssumeRole / AssumeRoleWithSAML / AssumeRoleWithWebIdentity request.

    ``ctx.action`` is the API's action, ``ctx.resource`` the role ARN, ``policies.trust`` the
    role's trust policy and the rest the *caller's* policies (role chaining: the calling session's
    role policies, boundary and session policies).  ``tags``: Tags or TransitiveTagKeys were passed
    (or the IdP sent tags); ``source_identity``: a SourceIdentity is set or inherited;
    ``provided_contexts``: ProvidedContexts were passed.
    """
    actions = [ctx.action]
    if tags:
        actions.append("sts:TagSession")
    if source_identity:
        actions.append("sts:SetSourceIdentity")
    if provided_contexts:
        actions.append("sts:SetContext")
    checks: list[tuple[str, Decision]] = []
    for action in actions:
        d = evaluate(policies, ctx if action == ctx.action else ctx.with_action(action), explain=explain)
        checks.append((action, d))
        if not d.allowed:
            return AssumeRoleDecision(d, action, tuple(checks))
    return AssumeRoleDecision(checks[0][1], ctx.action, tuple(checks))


def access_denied_message(ctx: RequestContext, decision: Decision, *, action: str | None = None,
                          with_reason: bool = False) -> str:
    """AWS's AccessDenied text for a refused request.

    Signed callers: ``User: {caller ARN} is not authorized to perform: {action} on resource:
    {resource}`` (optionally with AWS's newer ``because no … allows …`` tail).  Unsigned federation
    calls: ``Not authorized to perform {action}``.  Root calling AssumeRole: ``Roles may not be
    assumed by root accounts.``
    """
    action = action or ctx.action
    p = ctx.principal
    if p.type == PrincipalType.ROOT and decision.denied_by == "api" and "root" in decision.reason:
        return "Roles may not be assumed by root accounts."
    if not p.signed:
        return f"Not authorized to perform {action}"
    text = f"User: {p.arn} is not authorized to perform: {action} on resource: {ctx.resource}"
    suffix = decision.denial_suffix(action) if with_reason else ""
    return f"{text} {suffix}" if suffix else text
