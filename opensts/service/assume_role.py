"""AssumeRole: who may become which role, for how long, with which tags and policies.

Order of checks (AWS's, as far as observable): caller kind → role ARN syntax → parameter rules
(duration, tags, source identity, session policies, ProvidedContexts, MFA) → policy decision (trust policy and,
when needed, the caller's identity policies; ``sts:TagSession`` / ``sts:SetSourceIdentity`` when
tags or a source identity are involved) → mint. A missing role and a refusing trust policy give
the same AccessDenied, so role existence is not disclosed.
"""

from __future__ import annotations

from typing import Any

from opensts.auth.principals import Caller
from opensts.policy import PolicySet, access_denied_message, authorize_assume_role, parse_policy
from opensts.protocol.errors import AccessDenied
from opensts.service.authorization import Authorizer, is_assumed_root
from opensts.service.context import RequestInfo
from opensts.service.minting import Minter
from opensts.service.role_session import RoleSession, mint_role_session
from opensts.service.sessions import (
    check_provided_contexts,
    context_keys_for_tags,
    parse_role_arn,
    role_duration,
    session_policies,
    session_tags,
    source_identity,
)
from opensts.store.cache import StoreCache
from opensts.store.iam_repository import RoleRecord

__all__ = ["AssumeRoleAction"]


class AssumeRoleAction:
    def __init__(self, cache: StoreCache, authorizer: Authorizer, minter: Minter, mfa: Any) -> None:
        self._cache = cache
        self._authz = authorizer
        self._minter = minter
        self._mfa = mfa  # callable(serial, code, caller, now) -> bool; raises AccessDenied with AWS's text

    def role(self, account_id: str, name: str) -> RoleRecord | None:
        return self._cache.role(account_id, name)

    def __call__(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = info.caller
        assert caller is not None
        arn = params["RoleArn"]
        ref = parse_role_arn(arn)
        session_name = params["RoleSessionName"]
        role = self.role(ref.account_id, ref.name)
        if role is not None and role.path != ref.path:
            role = None
        chained = caller.type == "AssumedRole"
        tags = session_tags(params.get("Tags"), params.get("TransitiveTagKeys"), caller)
        source = source_identity(params.get("SourceIdentity"), caller)
        policies = session_policies(
            params.get("Policy"), params.get("PolicyArns"), ref.account_id,
            validate=lambda doc: parse_policy(doc, "session"),
            load_managed=self._cache.repo.default_policy_document,
        )
        check_provided_contexts(params.get("ProvidedContexts"), ref.partition)
        mfa_ok = self._check_mfa(info, caller, params)
        keys: dict[str, Any] = {"sts:RoleSessionName": session_name, **context_keys_for_tags(tags)}
        if "ExternalId" in params:
            keys["sts:ExternalId"] = params["ExternalId"]
        if params.get("SourceIdentity") is not None:
            keys["sts:SourceIdentity"] = params["SourceIdentity"]
        if mfa_ok:
            keys["aws:MultiFactorAuthPresent"] = True
            keys["aws:MultiFactorAuthAge"] = 0
        if role is not None:
            keys.update({f"aws:ResourceTag/{k}": v for k, v in role.tags.items()})
        ctx = self._authz.context(info, "sts:AssumeRole", arn, keys)
        self._decide(caller, role, ctx, bool(tags.requested or tags.transitive), source is not None)
        assert role is not None
        duration = role_duration(params.get("DurationSeconds"), role.max_session_duration, chained=chained)
        return self._mint(info, caller, role, ref.partition, session_name, duration, tags, source, policies, mfa_ok,
                          with_packed=policies.present or tags.passed,
                          minimum_size=params.get("MinimumSessionTokenSize"))

    def _decide(self, caller: Caller, role: RoleRecord | None, ctx: Any, tagging: bool, sourcing: bool) -> None:
        if role is None and caller.type == "Root":
            raise AccessDenied("Roles may not be assumed by root accounts.")
        if role is None or self._authz.is_orphan(caller):  # an orphan: no trust policy naming it counts
            raise AccessDenied(f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {ctx.resource}")
        policies = self._policies(caller, role)
        decision = authorize_assume_role(policies, ctx, tags=tagging, source_identity=sourcing)
        if not decision.allowed:
            raise AccessDenied(access_denied_message(ctx, decision.decision, action=decision.action))
        refused = self._authz.scope_refusal(caller, ctx)
        if refused is not None:
            raise AccessDenied(access_denied_message(ctx, refused))

    def _policies(self, caller: Caller, role: RoleRecord) -> PolicySet:
        """The caller's policies and the role's trust policy, assembled for the decision. For a
        long-term caller (IAM user, root) the set depends only on stored documents, so it is
        memoised in the store cache (dropped when the role, the caller or one of their policies changes); sessions
        carry their own session policies and are assembled each time."""
        if caller.session is None:
            key = f"{caller.type}|{caller.user_id}|{role.id}"
            return self._cache.memo("assume_policies", key, lambda _: self._build_policies(caller, role),
                                    (("role", role.id),))  # + what the caller's policies were built from
        return self._build_policies(caller, role)

    def _build_policies(self, caller: Caller, role: RoleRecord) -> PolicySet:
        mine = self._authz.caller_policies(caller) if caller.type != "Root" or is_assumed_root(caller) else None
        return PolicySet.build(
            identity=mine.identity if mine else (),
            boundary=mine.boundary if mine else None,
            session=mine.session if mine else None,
            scp=mine.scp if mine else self._authz.scp_levels(caller.account_id),
            trust=role.trust_policy,
            trust_principal_ids=role.trust_principal_ids,
            strict=False,
        )

    def _check_mfa(self, info: RequestInfo, caller: Caller, params: dict[str, Any]) -> bool:
        serial, code = params.get("SerialNumber"), params.get("TokenCode")
        if serial is None and code is None:
            return bool(caller.session and caller.session.mfa_authenticated)
        return bool(self._mfa(serial, code, caller, info.epoch))

    def _mint(self, info: RequestInfo, caller: Caller, role: RoleRecord, partition: str, session_name: str,
              duration: int, tags: Any, source: str | None, policies: Any, mfa_ok: bool, *, with_packed: bool, minimum_size: int | None) -> dict[str, Any]:
        inherited_mfa = bool(caller.session and caller.session.mfa_authenticated)
        session = RoleSession(
            role, partition, session_name, duration, policies, tags.principal_tags(role.tags),
            transitive_tag_keys=tags.transitive,
            source_identity=source,
            mfa_authenticated=mfa_ok,
            mfa_auth_time=int(info.epoch) if mfa_ok and not inherited_mfa
            else (caller.session.mfa_auth_time if caller.session else None),
            chained=caller.type == "AssumedRole",
            packed=with_packed,
            minimum_size=minimum_size,
        )
        result, _ = mint_role_session(self._minter, self._authz, info, session)
        return result
