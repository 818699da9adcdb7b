"""The decision procedure (``policy.md`` §4, [UG reference_policies_evaluation-logic]).

``evaluate(PolicySet, RequestContext)`` returns a :class:`Decision`: ``Allow``, ``ExplicitDeny``
(an applicable Deny anywhere — identity, boundary, session, SCP, RCP, or a resource/trust
statement whose principal matches) or ``ImplicitDeny`` (everything else).  Outline:

0. API pre-checks: GetCallerIdentity is never denied; GetFederationToken sessions may call no
   other STS (or IAM) action; role sessions may not call GetFederationToken/GetSessionToken;
   GetSessionToken credentials may call only AssumeRole in STS; root may not assume roles;
   GetSessionToken is never policy-checked.
1. Evaluate every policy set; explicit deny wins.
2. Every SCP level (signed callers) and RCP level (all but AWS services) must allow.
3. Unsigned callers (web identity, SAML, service): the trust/resource policy must grant them
   directly or by ``*``.
4. ``id_ok`` = identity allows ∧ boundary (if any) allows ∧ session policies (if any) allow.
5. No resource policy: ``id_ok``.  A trust policy without a matching Allow: implicit deny
   (identity policies never suffice for AssumeRole).  Cross-account: the resource policy must
   allow *and* ``id_ok``.  Same account: by the best grant kind — ``*`` allows; a grant to the
   caller's exact ARN allows (CHOICE: a trust grant to an IAM user still needs its boundary);
   a grant to the caller's role (or to the IAM user behind a federated session) needs boundary
   and session policies; an account grant needs ``id_ok``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opensts.frozen import frozen
from opensts.policy import choices
from opensts.policy.compile import Policy, Statement, parse_policy
from opensts.policy.context import Principal, PrincipalType, RequestContext
from opensts.policy.document import PolicyKind
from opensts.policy.matching import (
    KIND_ACCOUNT,
    KIND_DIRECT,
    KIND_NAMES,
    KIND_NONE,
    KIND_ROLE,
    KIND_WILDCARD,
)
from opensts.policy.trace import ConditionTrace, PolicyTrace, StatementTrace, Trace

__all__ = ["PolicySet", "Decision", "evaluate", "ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY",
           "TRUST_ACTIONS"]

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"

#: Actions decided by the *trust* policy of the target role (§4.4).
TRUST_ACTIONS = frozenset({"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
                           "sts:tagsession", "sts:setsourceidentity", "sts:setcontext"})
_ASSUME_FAMILY = frozenset({"sts:assumerole", "sts:tagsession", "sts:setsourceidentity", "sts:setcontext"})

PolicyLike = Policy | str | bytes | Mapping[str, Any]


def _one(doc: PolicyLike | None, kind: PolicyKind, strict: bool) -> Policy | None:
    return None if doc is None else parse_policy(doc, kind, strict=strict)


def _many(docs: Iterable[PolicyLike] | None, kind: PolicyKind, strict: bool) -> tuple[Policy, ...]:
    return tuple(parse_policy(d, kind, strict=strict) for d in (docs or ()))


@frozen
class PolicySet:
    """Everything that bears on one request.

    ``identity``: the caller's identity policies (user inline + managed + groups', or the role's).
    ``boundary``: the caller's permissions boundary, or None.
    ``session``: the caller's session policies; **None** = not a session with session policies,
    ``()`` = a session whose policy set is empty (e.g. GetFederationToken without Policy), which
    allows nothing.
    ``trust``: the target role's trust policy (used for the AssumeRole family, TagSession,
    SetSourceIdentity, SetContext).  ``resource``: any other resource-based policy.
    ``trust_principal_ids``: user/role ARN → unique id stored when the trust policy was saved (§2.5).
    ``scp`` / ``rcp``: one policy per level; every level must allow.
    """

    identity: tuple[Policy, ...] = ()
    boundary: Policy | None = None
    session: tuple[Policy, ...] | None = None
    trust: Policy | None = None
    resource: Policy | None = None
    trust_principal_ids: Mapping[str, str] = field(default_factory=dict)
    scp: tuple[Policy, ...] = ()
    rcp: tuple[Policy, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        identity: Iterable[PolicyLike] = (),
        boundary: PolicyLike | None = None,
        session: Iterable[PolicyLike] | None = None,
        trust: PolicyLike | None = None,
        resource: PolicyLike | None = None,
        trust_principal_ids: Mapping[str, str] | None = None,
        scp: Iterable[PolicyLike] = (),
        rcp: Iterable[PolicyLike] = (),
        strict: bool = True,
    ) -> PolicySet:
        """Parse (cached) and assemble; documents may be text, mappings or :class:`Policy`.

        ``strict=False`` evaluates documents as given (structure checked, IAM content rules not).
        """
        return cls(
            identity=_many(identity, PolicyKind.IDENTITY, strict),
            boundary=_one(boundary, PolicyKind.BOUNDARY, strict),
            session=None if session is None else _many(session, PolicyKind.SESSION, strict),
            trust=_one(trust, PolicyKind.TRUST, strict),
            resource=_one(resource, PolicyKind.RESOURCE, strict),
            trust_principal_ids=dict(trust_principal_ids or {}),
            scp=_many(scp, PolicyKind.SCP, strict),
            rcp=_many(rcp, PolicyKind.RCP, strict),
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, strict: bool = False) -> PolicySet:
        """The case-file ``policies`` object (``policy.md`` §7); documents evaluated as given."""
        return cls.build(
            strict=strict,
            identity=d.get("identity") or (),
            boundary=d.get("boundary"),
            session=d.get("session"),
            trust=d.get("trust"),
            resource=d.get("resource"),
            trust_principal_ids=d.get("trust_principal_ids"),
            scp=d.get("scp") or (),
            rcp=d.get("rcp") or (),
        )


@dataclass(slots=True)
class Decision:
    """The outcome.  ``denied_by`` names what refused (for AccessDenied texts): ``identity``,
    ``boundary``, ``session``, ``scp``, ``rcp``, ``trust``, ``resource`` or ``api``."""

    decision: str
    reason: str
    denied_by: str | None = None
    trace: Trace | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    @property
    def explicit(self) -> bool:
        return self.decision == EXPLICIT_DENY

    def denial_suffix(self, action: str) -> str:
        """AWS's newer AccessDenied tail, e.g. ``because no identity-based policy allows the
        sts:AssumeRole action`` / ``with an explicit deny in a resource-based policy``."""
        what = {"identity": "identity-based policy", "boundary": "permissions boundary",
                "session": "session policy", "scp": "service control policy",
                "rcp": "resource control policy", "trust": "resource-based policy",
                "resource": "resource-based policy"}.get(self.denied_by or "")
        if self.allowed or what is None:
            return ""
        if self.explicit:
            article = "an" if what[0] in "aeiou" else "a"
            return f"with an explicit deny in {article} {what}"
        return f"because no {what} allows the {action} action"


# ------------------------------------------------------------------------------------------------
# Statement and policy evaluation
# ------------------------------------------------------------------------------------------------

def _statement_kind(st: Statement, ctx: RequestContext, keys: Mapping[str, Any],
                    id_map: Mapping[str, str], principal_based: bool, has_boundary: bool) -> int:
    """0 when ``st`` does not apply; otherwise the principal match kind (1 for identity policies)."""
    check = st.check_resource if principal_based else st.check_identity
    return check(ctx, keys, id_map, has_boundary)


def _statement_trace(st: Statement, ctx: RequestContext, keys: Mapping[str, Any],
                     id_map: Mapping[str, str], principal_based: bool, has_boundary: bool) -> StatementTrace:
    action = st.actions(ctx.action, ctx.action_l) != st.not_action
    principal_text: str | None = None
    principal_ok = True
    if principal_based:
        spec = st.principal
        if spec is None:
            principal_ok, principal_text = False, "no match"
        elif st.not_principal:
            excluded = spec.all_listed(ctx.principal, id_map)
            principal_ok = not excluded or (has_boundary and not st.allow)
            principal_text = "not excluded by NotPrincipal" if principal_ok else "no match"
        else:
            k = spec.kind(ctx.principal, id_map)
            principal_ok = k != KIND_NONE
            principal_text = KIND_NAMES[k] if principal_ok else "no match"
    resource = None if st.resources is None else st.resource_matches(ctx.resource, keys)
    conds = [ConditionTrace(c.operator, c.key, list(c.values), c.context_value(keys), c.test(keys))
             for c in st.conditions]
    applies = action and principal_ok and resource is not False and all(c.result for c in conds)
    return StatementTrace(st.index, st.sid, st.effect, applies, action, resource, principal_text, conds)


class _Result:
    """Aggregate of one policy or policy set: any applicable Deny, best applicable Allow kind."""

    __slots__ = ("deny", "allow")

    def __init__(self, deny: bool = False, allow: int = KIND_NONE) -> None:
        self.deny = deny
        self.allow = allow


def _eval(policies: Sequence[Policy], label: str, ctx: RequestContext, id_map: Mapping[str, str],
          principal_based: bool, has_boundary: bool, trace: Trace | None) -> _Result:
    """Evaluate a policy set (``label`` names it in traces: ``identity`` → ``identity[0]`` …)."""
    if trace is not None:
        return _eval_traced(policies, label, ctx, id_map, principal_based, has_boundary, trace)
    keys = ctx.keys
    deny = False
    allow = KIND_NONE
    for policy in policies:
        for st in policy.statements:
            k = (st.check_resource if principal_based else st.check_identity)(ctx, keys, id_map, has_boundary)
            if k:
                if not st.allow:
                    deny = True
                elif k > allow:
                    allow = k
    return _Result(deny, allow)


def _eval_traced(policies: Sequence[Policy], label: str, ctx: RequestContext, id_map: Mapping[str, str],
                 principal_based: bool, has_boundary: bool, trace: Trace) -> _Result:
    res = _Result()
    keys = ctx.keys
    many = label in ("identity", "session")
    for i, policy in enumerate(policies):
        ptrace = PolicyTrace(f"{label}[{i}]" if many else label, "NoMatch")
        best, deny = KIND_NONE, False
        for st in policy.statements:
            s = _statement_trace(st, ctx, keys, id_map, principal_based, has_boundary)
            ptrace.statements.append(s)
            if s.applies:
                if st.allow:
                    best = max(best, _statement_kind(st, ctx, keys, id_map, principal_based, has_boundary))
                else:
                    deny = True
        ptrace.result = "Deny" if deny else "Allow" if best else "NoMatch"
        if principal_based and best:
            ptrace.grant = KIND_NAMES[best]
        trace.policies.append(ptrace)
        res.deny = res.deny or deny
        res.allow = max(res.allow, best)
    return res


# ------------------------------------------------------------------------------------------------
# Decision procedure
# ------------------------------------------------------------------------------------------------

def _precheck(p: Principal, action_l: str) -> tuple[str, str] | None:
    """§4.2 step 0 / sts-api §4.2: API rules that no policy can change."""
    t = p.type
    if action_l == "sts:getcalleridentity":
        return ALLOW, "GetCallerIdentity is never denied by policies"
    if t == PrincipalType.FEDERATED_USER and (action_l.startswith("sts:") or action_l.startswith("iam:")):
        return IMPLICIT_DENY, "GetFederationToken sessions may call only sts:GetCallerIdentity in STS and no IAM API"
    if t == PrincipalType.ASSUMED_ROLE and action_l in ("sts:getfederationtoken", "sts:getsessiontoken"):
        return IMPLICIT_DENY, "role sessions cannot call GetFederationToken or GetSessionToken"
    if p.session_token and action_l.startswith("sts:") and action_l not in _ASSUME_FAMILY:
        return IMPLICIT_DENY, "GetSessionToken credentials may call only AssumeRole and GetCallerIdentity in STS"
    if t == PrincipalType.ROOT and action_l in _ASSUME_FAMILY:
        return IMPLICIT_DENY, "Roles may not be assumed by root accounts."
    if action_l == "sts:getsessiontoken":
        return ALLOW, "GetSessionToken is not authorized by policies"
    return None


def _done(trace: Trace | None, decision: str, reason: str, denied_by: str | None = None) -> Decision:
    if trace is not None:
        trace.decision, trace.reason = decision, reason
    return Decision(decision, reason, denied_by, trace)


def evaluate(policies: PolicySet, ctx: RequestContext, *, explain: bool = False) -> Decision:
    """Decide one request.  With ``explain=True`` the decision carries a full :class:`Trace`."""
    p = ctx.principal
    trace = Trace(ctx.action, ctx.resource, p.arn or p.provider or p.service or p.type) if explain else None

    pre = _precheck(p, ctx.action_l)
    if pre is not None:
        return _done(trace, pre[0], pre[1], None if pre[0] == ALLOW else "api")

    id_map = policies.trust_principal_ids
    boundary = policies.boundary
    has_b = boundary is not None
    signed = p.type not in PrincipalType.UNSIGNED
    use_trust = policies.trust is not None and ctx.action_l in TRUST_ACTIONS
    r_policy = policies.trust if use_trust else policies.resource
    r_name = "trust" if use_trust else "resource"

    ident = bound = sess = None
    scps: list[_Result] = []
    if signed:
        ident = _eval(policies.identity, "identity", ctx, id_map, False, has_b, trace)
        if boundary is not None:
            bound = _eval((boundary,), "boundary", ctx, id_map, False, has_b, trace)
        if policies.session is not None:
            sess = _eval(policies.session, "session", ctx, id_map, False, has_b, trace)
        for i, scp in enumerate(policies.scp):
            scps.append(_eval((scp,), f"scp[{i}]", ctx, id_map, False, has_b, trace))
    rcps: list[_Result] = []
    if policies.rcp and p.type != PrincipalType.SERVICE:
        for i, rcp in enumerate(policies.rcp):
            rcps.append(_eval((rcp,), f"rcp[{i}]", ctx, id_map, True, has_b, trace))
    res = _eval((r_policy,), r_name, ctx, id_map, True, has_b, trace) if r_policy is not None else None

    # -- explicit deny ---------------------------------------------------------------------------
    if ident is not None and ident.deny:
        return _done(trace, EXPLICIT_DENY, "explicit Deny in the identity policies", "identity")
    if bound is not None and bound.deny:
        return _done(trace, EXPLICIT_DENY, "explicit Deny in the permissions boundary", "boundary")
    if sess is not None and sess.deny:
        return _done(trace, EXPLICIT_DENY, "explicit Deny in the session policies", "session")
    if scps or rcps:
        for name, group in (("scp", scps), ("rcp", rcps)):
            if any(r.deny for r in group):
                return _done(trace, EXPLICIT_DENY, f"explicit Deny in a {name.upper()}", name)
    if res is not None and res.deny:
        return _done(trace, EXPLICIT_DENY, f"explicit Deny in the {r_name} policy", r_name)

    # -- organisation guardrails -----------------------------------------------------------------
    if scps or rcps:
        for name, group in (("scp", scps), ("rcp", rcps)):
            if any(not r.allow for r in group):
                return _done(trace, IMPLICIT_DENY, f"no {name.upper()} at some level allows the action", name)

    # -- unsigned callers --------------------------------------------------------------------------
    if not signed:
        if res is not None and res.allow >= KIND_DIRECT:
            return _done(trace, ALLOW, f"the {r_name} policy grants this {p.type} principal "
                                       f"({KIND_NAMES[res.allow]})")
        return _done(trace, IMPLICIT_DENY, f"no {r_name} policy statement grants this {p.type} principal",
                     r_name)

    # -- identity side -----------------------------------------------------------------------------
    root = p.type == PrincipalType.ROOT
    b_ok = bound is None or bound.allow > 0
    s_ok = sess is None or sess.allow > 0
    i_ok = root or (ident is not None and ident.allow > 0)
    # The root user needs no policy, but a root session is still bound by its session policies
    # (AssumeRoot's task policy).
    id_ok = (root or (i_ok and b_ok)) and s_ok
    if trace is not None:
        trace.steps.append(
            f"identity policies: {'allow' if i_ok else 'no allow'}"
            + ("" if bound is None else f"; boundary: {'allow' if b_ok else 'no allow'}")
            + ("" if sess is None else f"; session policies: {'allow' if s_ok else 'no allow'}"))

    if res is None:
        return _id_decision(trace, id_ok, i_ok, b_ok, "no resource policy: identity-based permissions decide")

    kind = res.allow
    if kind == KIND_NONE and use_trust:
        return _done(trace, IMPLICIT_DENY, "the role's trust policy does not allow this principal", "trust")

    if ctx.resource_account is not None and p.account != ctx.resource_account:
        if trace is not None:
            trace.steps.append(f"cross-account: caller {p.account}, resource {ctx.resource_account}")
        if kind == KIND_NONE:
            return _done(trace, IMPLICIT_DENY,
                         f"cross-account: the {r_name} policy does not allow this principal", r_name)
        return _id_decision(trace, id_ok, i_ok, b_ok,
                            f"cross-account: the {r_name} policy allows and the caller's account must too")

    if trace is not None:
        trace.steps.append(f"same account: best {r_name} grant kind is {KIND_NAMES[kind]}")
    if kind == KIND_WILDCARD:
        return _done(trace, ALLOW, f"the {r_name} policy allows every principal ('*')")
    if kind == KIND_DIRECT:
        if (use_trust and not b_ok and p.type == PrincipalType.USER
                and choices.TRUST_USER_GRANT_NEEDS_BOUNDARY):
            return _done(trace, IMPLICIT_DENY, "the trust policy names the user but its permissions "
                                               "boundary does not allow the action", "boundary")
        return _done(trace, ALLOW, f"the {r_name} policy names the caller directly")
    if kind == KIND_ROLE:
        if not b_ok:
            return _done(trace, IMPLICIT_DENY, "grant to the caller's role/user is limited by the "
                                               "permissions boundary, which does not allow the action",
                         "boundary")
        if not s_ok:
            return _done(trace, IMPLICIT_DENY, "grant to the caller's role/user is limited by the session "
                                               "policies, which do not allow the action", "session")
        return _done(trace, ALLOW, f"the {r_name} policy names the caller's role (or creating user)")
    return _id_decision(trace, id_ok, i_ok, b_ok,
                        f"the {r_name} policy delegates to the account's identity policies"
                        if kind == KIND_ACCOUNT else f"the {r_name} policy does not name the caller")


def _id_decision(trace: Trace | None, id_ok: bool, i_ok: bool, b_ok: bool, why: str) -> Decision:
    if id_ok:
        return _done(trace, ALLOW, why)
    failed = "identity" if not i_ok else "boundary" if not b_ok else "session"
    return _done(trace, IMPLICIT_DENY, f"no {failed} policy allows the action ({why})", failed)
