"""What AssumeRoleWithWebIdentity and AssumeRoleWithSAML share once the IdP's token is
verified: the role, the trust-policy decision for an unsigned federated principal, the
duration, session policies and minting (mirrors ``service/assume_role.py``).

A missing role and a refusing trust policy give the same AccessDenied (``Not authorized to
perform sts:AssumeRoleWith…``), so role existence is not disclosed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opensts.policy import PolicySet, Principal, RequestContext, access_denied_message, authorize_assume_role, parse_policy
from opensts.policy import sts_context_keys
from opensts.protocol.errors import AccessDenied
from opensts.service.context import RequestInfo
from opensts.service.minting import Minter
from opensts.service.role_session import RoleSession, mint_role_session
from opensts.service.sessions import RoleRef, role_duration, session_policies
from opensts.store.cache import StoreCache
from opensts.store.iam_repository import RoleRecord

__all__ = ["FederatedRequest", "FederatedAssume"]


@dataclass(slots=True)
class FederatedRequest:
    """Everything the IdP's token said that matters to the decision and the session."""

    action: str  # sts:AssumeRoleWithWebIdentity | sts:AssumeRoleWithSAML
    provider: str  # the Principal.Federated value: provider ARN (or well-known host)
    principal: Principal
    session_name: str
    federation_keys: dict[str, Any]  # condition keys for the trust policy (PROVIDER:sub, saml:aud …)
    session_keys: dict[str, Any]  # the subset carried into the session
    tags: dict[str, str] = field(default_factory=dict)
    transitive: tuple[str, ...] = ()
    source_identity: str | None = None


class FederatedAssume:
    def __init__(self, cache: StoreCache, authorizer: Any, minter: Minter) -> None:
        self._cache = cache
        self._authz = authorizer
        self._minter = minter

    def role(self, ref: RoleRef) -> RoleRecord | None:
        role = self._cache.role(ref.account_id, ref.name)
        return role if role is not None and role.path == ref.path else None

    def policies(self, params: Mapping[str, Any], account_id: str) -> Any:
        return session_policies(
            params.get("Policy"), params.get("PolicyArns"), account_id,
            validate=lambda doc: parse_policy(doc, "session"),
            load_managed=self._cache.repo.default_policy_document,  # type: ignore[attr-defined]
        )

    def decide(self, info: RequestInfo, ref: RoleRef, role: RoleRecord | None, arn: str, req: FederatedRequest) -> RoleRecord:
        keys = sts_context_keys(
            req.principal,
            now=info.now,
            region=info.extra.get("requested_region", "us-east-1"),  # type: ignore[arg-type]
            secure_transport=info.secure_transport,
            source_ip=info.source_ip or None,
            user_agent=info.user_agent or None,
            role_session_name=req.session_name,
            source_identity=req.source_identity,
            request_tags=req.tags or None,
            transitive_tag_keys=req.transitive or None,
            resource_tags=role.tags if role is not None else None,
            extra={"aws:FederatedProvider": req.provider, **req.federation_keys},
        )
        ctx = RequestContext(req.action, arn, req.principal, keys=keys)
        if role is None:
            raise AccessDenied(f"Not authorized to perform {req.action}")
        policies = PolicySet.build(trust=role.trust_policy, strict=False)
        decision = authorize_assume_role(policies, ctx, tags=bool(req.tags or req.transitive),
                                         source_identity=req.source_identity is not None)
        if not decision.allowed:
            raise AccessDenied(access_denied_message(ctx, decision.decision, action=decision.action))
        return role

    def mint(self, info: RequestInfo, ref: RoleRef, role: RoleRecord, req: FederatedRequest, duration: int | None,
             policies: Any, *, cap: int | None = None, minimum_size: int | None = None) -> tuple[dict[str, Any], Any]:
        """(result fields common to both actions, Minted)."""
        seconds = role_duration(duration, role.max_session_duration, chained=False)
        if cap is not None:
            seconds = max(1, min(seconds, cap))
        tags = {k: v for k, v in role.tags.items() if k.lower() not in {t.lower() for t in req.tags}}
        tags.update(req.tags)
        session = RoleSession(
            role, ref.partition, req.session_name, seconds, policies, tags,
            transitive_tag_keys=req.transitive,
            source_identity=req.source_identity,
            extra={"federated_provider": req.provider, "fk": req.session_keys},
            packed=bool(policies.present or req.tags),
            minimum_size=minimum_size,
        )
        return mint_role_session(self._minter, self._authz, info, session)
