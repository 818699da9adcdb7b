"""Minting a role session: what AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML
share once the decision is made — the session's ARN and id, the sealed extras (the role's policy
snapshot for relying services, session policies, federation keys), the response fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.identifiers import assumed_role_arn, role_arn
from opensts.service.minting import Minted, Minter
from opensts.service.sessions import SessionPolicies, minify
from opensts.store.iam_repository import RoleRecord

__all__ = ["RoleSession", "mint_role_session"]


@dataclass(slots=True)
class RoleSession:
    """The new session's parameters (decided and validated by the calling action)."""

    role: RoleRecord
    partition: str
    session_name: str
    duration: int
    policies: SessionPolicies
    principal_tags: dict[str, str]
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated: bool = False
    mfa_auth_time: int | None = None
    chained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. federation keys carried into the session
    packed: bool = False  # report PackedPolicySize (session policies or tags were passed)
    minimum_size: int | None = None


def mint_role_session(minter: Minter, authorizer: Any, info: RequestInfo, s: RoleSession) -> tuple[dict[str, Any], Minted]:
    """(the response fields common to the AssumeRole family, the minted session)."""
    role = s.role
    identity, boundary = authorizer.role_policies(role.id)
    the_role_arn = role_arn(s.partition, role.account_id, role.path, role.name)
    snapshot = {"i": [minify(d) for d in identity], "b": minify(boundary) if boundary else None}
    extra: dict[str, Any] = {"role_arn": the_role_arn, **s.extra, "pol": snapshot}
    fallback: dict[str, Any] = {"role_arn": the_role_arn, **s.extra, "pr": role.id}  # if the snapshot does not fit
    for target in (extra, fallback):
        if s.policies.managed:
            target["spm"] = [doc for _, doc in s.policies.managed]
        if s.policies.present:
            target["has_session_policy"] = True
    session_arn = assumed_role_arn(s.partition, role.account_id, role.name, s.session_name)
    minted = minter.mint(
        info, s.duration,
        account_id=role.account_id,
        principal_type="AssumedRole",
        arn=session_arn,
        user_id=f"{role.id}:{s.session_name}",
        name=role.name,
        parent_id=role.id,
        session_name=s.session_name,
        session_policies=(s.policies.inline,) if s.policies.inline else (),
        policy_arns=tuple(a for a, _ in s.policies.managed),
        tags=s.principal_tags,
        transitive_tag_keys=s.transitive_tag_keys,
        source_identity=s.source_identity,
        mfa_authenticated=s.mfa_authenticated,
        mfa_auth_time=s.mfa_auth_time,
        chained=s.chained,
        extra=extra,
        fallback_extra=fallback,
        minimum_size=s.minimum_size,
    )
    result: dict[str, Any] = {
        "Credentials": minted.credentials,
        "AssumedRoleUser": {"AssumedRoleId": f"{role.id}:{s.session_name}", "Arn": session_arn},
    }
    if s.packed:
        result["PackedPolicySize"] = minted.utilization
    result.update(minter.result_sizes(minted))
    if s.source_identity is not None:
        result["SourceIdentity"] = s.source_identity
    return result, minted
