"""SimulatePrincipalPolicy / SimulateCustomPolicy on our policy engine.

This is how a relying service asks "may this principal do X?": every ActionNames × ResourceArns
pair is evaluated with the ContextEntries given (typed as IAM types them), and the answer carries
AWS's EvalDecision (``allowed`` | ``explicitDeny`` | ``implicitDeny``), the statements that
decided it and the condition keys the request did not supply.

The work of one call is bounded: the input lists are capped (``LIST_LIMITS``: AWS's model sets no
count, so these are ours, except the one permissions boundary AWS documents), and only the page
being returned is evaluated, lazily — ``MaxItems`` pairs at most, fewer when the policies are large
(``PAGE_WORK``), which AWS allows ("IAM might return fewer than the MaxItems number of results even
when there are more results available"). Both actions are in ``service/blocking.OFF_LOOP``: the edge
runs them in a worker thread so they never stall other callers on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, overload

from opensts.frozen import frozen
from opensts.policy import (
    ALLOW,
    EXPLICIT_DENY,
    MalformedPolicyDocument,
    Policy,
    PolicySet,
    Principal,
    RequestContext,
    evaluate,
    parse_policy,
    principal_keys,
)
from opensts.protocol.errors import NotImplementedYet, ValidationError
from opensts.protocol.inputs import lower_camel
from opensts.protocol.model import format_validation
from opensts.service.authorization import principal_of
from opensts.service.control_policies import scp_level
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, page

__all__ = ["SimulationActions", "LIST_LIMITS", "CONTEXT_VALUES_MAX", "PAGE_WORK"]

#: Most members one call may carry. AWS documents no count for these (its model sets none) except
#: "You can input only one permissions boundary"; the others are ours, generous for real use.
LIST_LIMITS = {
    "PolicyInputList": 20,
    "PermissionsBoundaryPolicyInputList": 1,
    "ActionNames": 1000,
    "ResourceArns": 1000,
    "ContextEntries": 100,
}
CONTEXT_VALUES_MAX = 100  # ContextKeyValues per ContextEntry (ours)
#: SCPs per level of OrderedOrganizationPolicyInputList: Organizations attaches at most 5 per target.
SCPS_PER_LEVEL_MAX = 5
#: Policy characters evaluated per page (pairs × characters of every policy in play): ≈ 0.3 s of
#: evaluation at worst; a page holds MaxItems pairs when the policies are small (most are).
PAGE_WORK = 4_000_000

_SOURCE_ARN = re.compile(r"^arn:([a-z-]+):iam::(\d{12}):(user|role|group)(/(?:[^/]+/)*)?([^/]+)\Z", re.ASCII)
_DECISIONS = {ALLOW: "allowed", EXPLICIT_DENY: "explicitDeny"}


@frozen
class _Source:
    """One identity policy and how AWS names it in MatchedStatements."""

    document: str | Policy  # text, or already parsed (input documents: parsed once, when validated)
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


def check_limits(params: dict[str, Any]) -> None:
    """AWS's ValidationError (all violations, Coral's format) for inputs over ``LIST_LIMITS``.
    Policy documents and context entries are not echoed back (they may be large)."""
    errs: list[str] = []
    for member, limit in LIST_LIMITS.items():
        items = params.get(member) or []
        if len(items) > limit:
            shown = f"Value '[{', '.join(items)}]'" if member in ("ActionNames", "ResourceArns") else "Value"
            errs.append(f"{shown} at '{lower_camel(member)}' failed to satisfy constraint: "
                        f"Member must have length less than or equal to {limit}")
    for i, entry in enumerate(params.get("ContextEntries") or [], 1):
        if len(entry.get("ContextKeyValues") or []) > CONTEXT_VALUES_MAX:
            errs.append(f"Value at 'contextEntries.{i}.member.contextKeyValues' failed to satisfy constraint: "
                        f"Member must have length less than or equal to {CONTEXT_VALUES_MAX}")
    for i, level in enumerate(params.get("OrderedOrganizationPolicyInputList") or [], 1):
        if len(level.get("ServiceControlPolicyInputList") or []) > SCPS_PER_LEVEL_MAX:
            errs.append(f"Value at 'orderedOrganizationPolicyInputList.{i}.member.serviceControlPolicyInputList' "
                        f"failed to satisfy constraint: Member must have length less than or equal to "
                        f"{SCPS_PER_LEVEL_MAX}")
    if errs:
        raise ValidationError(format_validation(errs))


class _Evaluations(Sequence[Result]):
    """ActionNames × ResourceArns as a lazy sequence: only the slice asked for is evaluated."""

    def __init__(self, actions: list[str], resources: list[str], evaluate_pair: Callable[[str, str], Result]) -> None:
        self._actions, self._resources, self._evaluate = actions, resources, evaluate_pair

    def __len__(self) -> int:
        return len(self._actions) * len(self._resources)

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> list[Result]: ...

    def __getitem__(self, index: int | slice) -> Result | list[Result]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        action_i, resource_i = divmod(index, len(self._resources))
        return self._evaluate(self._actions[action_i], self._resources[resource_i])


def _page_size(params: dict[str, Any], policy_chars: int) -> int:
    """MaxItems (default 100), lowered so one page evaluates at most ``PAGE_WORK`` characters."""
    wanted = params.get("MaxItems") or 100
    return max(1, min(wanted, PAGE_WORK // max(1, policy_chars)))


class SimulationActions(IamBase):
    def _documents(self, kind: str, docs: list[str] | None) -> list[Policy]:
        """Input documents validated as AWS does (InvalidInput), kept parsed: each is parsed once."""
        out = []
        for doc in docs or ():
            try:
                out.append(parse_policy(doc, kind))
            except MalformedPolicyDocument as exc:
                raise self.invalid(exc.message) from None
        return out

    def _simulate(self, info: RequestInfo, params: Params, principal: Principal, sources: list[_Source],
                  boundary: str | Policy | None, session: tuple[str, ...] | None = None,
                  scp: tuple[str, ...] = ()) -> Result:
        boundary_docs = self._documents("boundary", params.get("PermissionsBoundaryPolicyInputList"))
        if boundary_docs:
            boundary = boundary_docs[0]
        resource_policy = params.get("ResourcePolicy")
        resource_policy = self._documents("resource", [resource_policy])[0] if resource_policy is not None else None
        policies = PolicySet.build(identity=[s.document for s in sources], boundary=boundary, session=session,
                                   resource=resource_policy, scp=scp, strict=False)
        base = principal_keys(principal)
        base.update(context_entries(params.get("ContextEntries")))

        def evaluate_pair(action_name: str, resource: str) -> Result:
            ctx = RequestContext(action_name, resource, principal, keys=base,
                                 resource_account=params.get("ResourceOwner"))
            return self._result(ctx, policies, sources, boundary is not None)

        pairs = _Evaluations(list(params["ActionNames"]), list(params.get("ResourceArns") or ["*"]), evaluate_pair)
        in_play = [s.document for s in sources] + [boundary or "", resource_policy or "", *(session or ()), *scp]
        size = _page_size(params, sum(len(doc.text if isinstance(doc, Policy) else doc) for doc in in_play))
        chunk, extra = page(pairs, {**params, "MaxItems": size})
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
        check_limits(params)
        if params.get("PolicyExclusionList"):  # refused, not silently ignored: the answer would be wrong
            raise NotImplementedYet("PolicyExclusionList is not supported by this server.")
        arn = params["PolicySourceArn"]
        self.authorize(info, "SimulatePrincipalPolicy", arn)
        caller = self.caller(info)
        if caller.session is not None and arn == caller.arn and caller.type in ("AssumedRole", "FederatedUser"):
            return self._simulate_own_session(info, params)
        match = _SOURCE_ARN.match(arn)
        if match is None:
            raise self.invalid(f"Invalid ARN: {arn} is not a user, group or role ARN.")
        account, kind, path, name = match.group(2), match.group(3), match.group(4) or "/", match.group(5)
        if account != self.caller(info).account_id:
            raise self.no_such(f"The {kind} with name {name} cannot be found.")
        sources: list[_Source] = []
        boundary_arn: str | None
        if kind == "group":  # a group's own policies, evaluated for a user of the account
            group = self.repo.get_group(account, name)
            if group is None:
                raise self.no_such(f"The group with name {name} cannot be found.")
            entity_id, inline, boundary_arn = group.id, self.repo.list_group_policies(group.id), None
            principal = Principal.user(self.arn(info, "user/SimulatedUser"))
        elif kind == "user":
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
        if kind == "user":  # and every policy of every group the user is in, as its requests see them
            for _group, origin, pname, doc in self.repo.user_group_documents(entity_id):
                sources.append(_Source(doc, pname, "group") if origin == "inline"
                               else _Source(doc, pname.rsplit("/", 1)[-1], "IAM Policy"))
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
        check_limits(params)
        self.authorize(info, "SimulateCustomPolicy", "*")
        sources = [
            _Source(doc, f"PolicyInputList.{i}", "none")
            for i, doc in enumerate(self._documents("identity", params["PolicyInputList"]), 1)
        ]
        caller_arn = params.get("CallerArn") or self.arn(info, "user/SimulatedCaller")
        return self._simulate(info, params, Principal.user(caller_arn), sources, None, scp=self._scp_levels(params))

    def _scp_levels(self, params: Params) -> tuple[str, ...]:
        """OrderedOrganizationPolicyInputList (root → OUs → account) as the engine's SCP chain:
        one merged document per level, as for a real organization (service/control_policies.py)."""
        levels = []
        for level in params.get("OrderedOrganizationPolicyInputList") or ():
            levels.append(scp_level([p.text for p in self._documents("scp", level.get("ServiceControlPolicyInputList"))]))
        return tuple(levels)
