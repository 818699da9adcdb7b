"""SimulatePrincipalPolicy / SimulateCustomPolicy on our policy engine.

This is how a relying service asks "may this principal do X?": every ActionNames × ResourceArns
pair is evaluated with the ContextEntries given (typed as IAM types them), and the answer carries
AWS's EvalDecision (``allowed`` | ``explicitDeny`` | ``implicitDeny``), the statements that
decided it and the condition keys the request did not supply.
"""

from __future__ import annotations

import re
from typing import Any

from opensts.frozen import frozen
from opensts.policy import (
    ALLOW,
    EXPLICIT_DENY,
    MalformedPolicyDocument,
    PolicySet,
    Principal,
    RequestContext,
    evaluate,
    parse_policy,
    principal_keys,
)
from opensts.service.authorization import principal_of
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, page

__all__ = ["SimulationActions"]

_SOURCE_ARN = re.compile(r"^arn:([a-z-]+):iam::(\d{12}):(user|role|group)(/(?:[^/]+/)*)?([^/]+)$")
_DECISIONS = {ALLOW: "allowed", EXPLICIT_DENY: "explicitDeny"}


@frozen
class _Source:
    """One identity policy and how AWS names it in MatchedStatements."""

    document: str
    policy_id: str
    policy_type: str  # user | role | IAM Policy | none


def context_entries(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    """ContextEntries → engine keys: list types stay lists, scalars take their first value."""
    keys: dict[str, Any] = {}
    for entry in entries or ():
        name, values = entry.get("ContextKeyName"), list(entry.get("ContextKeyValues") or [])
        kind = entry.get("ContextKeyType", "string")
        if not name:
            continue
        if kind == "boolean" or kind == "booleanList":
            values = [str(v).lower() for v in values]
        if kind.endswith("List"):
            keys[name] = tuple(values)
        elif values:
            keys[name] = values[0]
    return keys


class SimulationActions(IamBase):
    def _documents(self, kind: str, docs: list[str] | None) -> list[str]:
        out = []
        for doc in docs or ():
            try:
                parse_policy(doc, kind)
            except MalformedPolicyDocument as exc:
                raise self.invalid(exc.message) from None
            out.append(doc)
        return out

    def _simulate(self, info: RequestInfo, params: Params, principal: Principal, sources: list[_Source],
                  boundary: str | None, session: tuple[str, ...] | None = None, scp: tuple[str, ...] = ()) -> Result:
        boundary_docs = self._documents("boundary", params.get("PermissionsBoundaryPolicyInputList"))
        if boundary_docs:
            boundary = boundary_docs[0]
        resource_policy = params.get("ResourcePolicy")
        if resource_policy is not None:
            self._documents("resource", [resource_policy])
        policies = PolicySet.build(identity=[s.document for s in sources], boundary=boundary, session=session,
                                   resource=resource_policy, scp=scp, strict=False)
        base = principal_keys(principal)
        base.update(context_entries(params.get("ContextEntries")))
        results = []
        for action_name in params["ActionNames"]:
            for resource in params.get("ResourceArns") or ["*"]:
                ctx = RequestContext(action_name, resource, principal, keys=base,
                                     resource_account=params.get("ResourceOwner"))
                results.append(self._result(ctx, policies, sources, boundary is not None))
        chunk, extra = page(results, params)
        return {"EvaluationResults": chunk, **extra}

    @staticmethod
    def _result(ctx: RequestContext, policies: PolicySet, sources: list[_Source], has_boundary: bool) -> Result:
        decision = evaluate(policies, ctx, explain=True)
        verdict = _DECISIONS.get(decision.decision, "implicitDeny")
        matched: list[Result] = []
        missing: list[str] = []
        boundary_allows = organizations_allow = True
        trace = decision.trace
        for ptrace in trace.policies if trace else ():
            if ptrace.label == "boundary":
                boundary_allows = ptrace.result == "Allow"
            if ptrace.label.startswith("scp["):
                organizations_allow = organizations_allow and ptrace.result == "Allow"
            for st in ptrace.statements:
                if st.action and st.resource is not False:
                    for cond in st.conditions:
                        if cond.context_value is None and cond.key not in missing:
                            missing.append(cond.key)
                wanted = "Allow" if verdict == "allowed" else "Deny" if verdict == "explicitDeny" else None
                if st.applies and st.effect == wanted and ptrace.label.startswith("identity["):
                    source = sources[int(ptrace.label[len("identity["):-1])]
                    matched.append({"SourcePolicyId": source.policy_id, "SourcePolicyType": source.policy_type})
        out: Result = {
            "EvalActionName": ctx.action,
            "EvalResourceName": ctx.resource,
            "EvalDecision": verdict,
            "MatchedStatements": matched,
            "MissingContextValues": missing,
        }
        if has_boundary:
            out["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": boundary_allows}
        if policies.scp:  # the principal's account is governed by service control policies
            out["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": organizations_allow}
        return out

    # -- actions ----------------------------------------------------------------------------
    @action("SimulatePrincipalPolicy")
    def simulate_principal_policy(self, info: RequestInfo, params: Params) -> Result:
        arn = params["PolicySourceArn"]
        self.authorize(info, "SimulatePrincipalPolicy", arn)
        caller = self.caller(info)
        if caller.session is not None and arn == caller.arn and caller.type in ("AssumedRole", "FederatedUser"):
            return self._simulate_own_session(info, params)
        match = _SOURCE_ARN.match(arn)
        if match is None or match.group(3) == "group":
            raise self.invalid(f"Invalid ARN: {arn} is not a user or role ARN.")
        account, kind, path, name = match.group(2), match.group(3), match.group(4) or "/", match.group(5)
        if account != self.caller(info).account_id:
            raise self.no_such(f"The {kind} with name {name} cannot be found.")
        sources: list[_Source] = []
        if kind == "user":
            user = self.find_user(info, name)
            entity_id = user.id
            inline = self.repo.list_user_policies(user.id)
            boundary_arn = self.repo.user_permissions_boundary(user.id)
            principal = Principal.user(arn, user.id)
        else:
            role = self.find_role(info, name)
            entity_id = role.id
            inline = self.repo.list_role_policies(role.id)
            boundary_arn = role.permissions_boundary_arn
            principal = Principal.role_session(
                f"arn:{match.group(1)}:sts::{account}:assumed-role/{role.name}/SimulatePrincipalPolicy",
                self.role_arn(info, role), role.id,
            )
        sources += [_Source(doc, pname, kind) for pname, doc in sorted(inline.items())]
        for policy_arn, doc in self.repo.attached_documents(kind, entity_id):
            sources.append(_Source(doc, policy_arn.rsplit("/", 1)[-1], "IAM Policy"))
        for i, doc in enumerate(self._documents("identity", params.get("PolicyInputList")), 1):
            sources.append(_Source(doc, f"PolicyInputList.{i}", "none"))
        boundary = self.repo.default_policy_document(boundary_arn) if boundary_arn else None
        return self._simulate(info, params, principal, sources, boundary,
                              scp=self.authorizer.scp_levels(self.caller(info).account_id))

    def _simulate_own_session(self, info: RequestInfo, params: Params) -> Result:
        """OpenSTS extension: a session may simulate itself (PolicySourceArn = its own session ARN),
        evaluated exactly as its own requests are: its role's or user's *current* policies and
        boundary (nothing once that entity is gone or re-created), ∩ its session policies, under
        its account's SCPs. AWS's IAM accepts only user, group and role ARNs here."""
        caller = self.caller(info)
        mine = self.authorizer.caller_policies(caller)
        sources = [_Source(doc, f"session-identity.{i}", "role") for i, doc in enumerate(mine.identity, 1)]
        sources += [_Source(doc, f"PolicyInputList.{i}", "none")
                    for i, doc in enumerate(self._documents("identity", params.get("PolicyInputList")), 1)]
        return self._simulate(info, params, principal_of(caller), sources, mine.boundary, mine.session, mine.scp)

    @action("SimulateCustomPolicy")
    def simulate_custom_policy(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "SimulateCustomPolicy", "*")
        sources = [
            _Source(doc, f"PolicyInputList.{i}", "none")
            for i, doc in enumerate(self._documents("identity", params["PolicyInputList"]), 1)
        ]
        caller_arn = params.get("CallerArn") or self.arn(info, "user/SimulatedCaller")
        return self._simulate(info, params, Principal.user(caller_arn), sources, None)
