"""From a caller to a decision: gather the caller's policies, build the request context, ask
the policy engine.

Where the policies come from, per caller:

* root user: full access to its own account (no policy can restrict root here; SCPs are not
  modelled), nothing in other accounts.
* IAM user (long-term keys, or a GetSessionToken session): the user's inline and attached
  managed policies and those of every group it is in, and its permissions boundary, read
  through the store cache (memoised per user id: no query per request).
* assumed-role session: the role's *current* policies and boundary (as AWS evaluates them: a
  policy change reaches live sessions), intersected with the session policies sealed in the
  token. The token also carries a snapshot of the role's policies at issue (``extra["pol"]``) for
  relying services; no decision of ours reads it.
* federated user (GetFederationToken): the user's policies ∩ the session policies.
* root session (AssumeRoot): everything, ∩ the task policy sealed in the token as its session policy.

The session's entity is found by its *id* (``session.parent_id``), never by name: a session whose
role or user was deleted — or deleted and re-created under the same name, which gives a new id —
is an orphan and gets no permission at all (AccessDenied on every decision), as on AWS. Current
state is read through the store cache, so a change is seen within its check interval (1 s).

Every principal of an organization's member account — its root user included — is also bound by
the service control policies of its account's place in the organization (``control_policies.py``).

GetSessionToken sessions without MFA and all federated-user sessions may not call IAM, as on AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opensts.auth.principals import Caller
from opensts.frozen import frozen
from opensts.policy import (
    Decision,
    PolicySet,
    Principal,
    RequestContext,
    access_denied_message,
    evaluate,
    sts_context_keys,
)
from opensts.protocol.errors import AccessDenied
from opensts.service.context import RequestInfo
from opensts.service.control_policies import org_path, scp_levels
from opensts.store.cache import ORG, StoreCache

__all__ = ["Authorizer", "CallerPolicies", "principal_of", "is_assumed_root"]

#: What a root user's federated session starts from before its session policies narrow it.
ROOT_EQUIVALENT = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


@frozen
class _EntityPolicies:
    """A user's or role's policies as stored now; ``exists`` False for an id that is gone."""

    exists: bool
    identity: tuple[str, ...] = ()
    boundary: str | None = None

    @property
    def policies(self) -> tuple[tuple[str, ...], str | None]:
        return self.identity, self.boundary


_GONE = _EntityPolicies(False)


@frozen
class CallerPolicies:
    """Policy documents (JSON text) that bound what a caller may do."""

    identity: tuple[str, ...] = ()
    boundary: str | None = None
    session: tuple[str, ...] | None = None  # None: not a session with session policies
    scp: tuple[str, ...] = ()  # one document per level of the account's organization

    def policy_set(self, **extra: Any) -> PolicySet:
        return PolicySet.build(
            identity=self.identity, boundary=self.boundary, session=self.session, scp=self.scp, strict=False,
            **extra
        )


def is_assumed_root(caller: Caller) -> bool:
    """A root session opened by AssumeRoot: unlike the root user, bound by its task policy."""
    return caller.session is not None and bool(caller.session.extra.get("assumed_root"))


def principal_of(caller: Caller) -> Principal:
    """The policy engine's view of a caller."""
    session = caller.session
    if caller.type == "Root":
        return Principal.root(caller.account_id, partition=caller.partition, session_token=session is not None)
    if caller.type == "IAMUser":
        return Principal.user(caller.arn, caller.user_id, session_token=session is not None)
    if caller.type == "AssumedRole" and session is not None:
        role_arn = str(session.extra.get("role_arn", ""))
        return Principal.role_session(caller.arn, role_arn, session.parent_id)
    if caller.type == "FederatedUser" and session is not None:
        user_arn = str(session.extra.get("user_arn", ""))
        return Principal.federated_user(caller.arn, user_arn, session.parent_id)
    raise ValueError(f"unknown caller type {caller.type}")  # pragma: no cover


class Authorizer:
    """Decides whether a signed caller may perform an action on a resource."""

    def __init__(self, cache: StoreCache) -> None:
        self._cache = cache

    # -- policies -------------------------------------------------------------------------
    def user_policies(self, user_id: str) -> tuple[tuple[str, ...], str | None]:
        """(identity documents, boundary document) of an IAM user, through the cache; nothing
        for a user id that does not exist (any more)."""
        return self._entity("user", user_id).policies

    def role_policies(self, role_id: str) -> tuple[tuple[str, ...], str | None]:
        """(identity documents, boundary document) of a role, by id; nothing for a gone role."""
        return self._entity("role", role_id).policies

    def _entity(self, kind: str, entity_id: str) -> _EntityPolicies:
        """A user's or role's current policies, by id, memoised under the store's generation.
        Absence is memoised too, safely: ids are never reused, so an id that is gone stays gone."""
        load = self._load_user if kind == "user" else self._load_role
        return self._cache.memo(f"{kind}_policy_docs", entity_id, load, ((kind, entity_id),))

    def _load_user(self, user_id: str) -> _EntityPolicies:
        repo = self._cache.repo
        if not user_id or repo.get_user(user_id) is None:
            return _GONE
        docs = list(repo.list_user_policies(user_id).values())
        attached = repo.attached_documents("user", user_id)
        docs += [doc for _, doc in attached]
        grouped = repo.user_group_documents(user_id)
        docs += [doc for *_, doc in grouped]  # every group's, as on AWS
        boundary_arn = repo.user_permissions_boundary(user_id)
        # What the cached documents were built from (store/changes.py tokens): the user's own rows
        # ("user"), its groups' rows (a membership row carries both), every managed policy's versions.
        self._cache.depends(*(("group", g.id) for g in repo.groups_for_user(user_id)))
        self._cache.depends(*(("policy", arn) for arn, _ in attached),
                            *(("policy", name) for _, how, name, _ in grouped if how == "managed"))
        if boundary_arn:
            self._cache.depends(("policy", boundary_arn))
        boundary = repo.default_policy_document(boundary_arn) if boundary_arn else None
        return _EntityPolicies(True, tuple(docs), boundary)

    def _load_role(self, role_id: str) -> _EntityPolicies:
        repo = self._cache.repo
        role = repo.get_role_by_id(role_id) if role_id else None
        if role is None:
            return _GONE
        docs = list(repo.list_role_policies(role_id).values())
        attached = repo.attached_documents("role", role_id)
        docs += [doc for _, doc in attached]
        self._cache.depends(*(("policy", arn) for arn, _ in attached))
        if role.permissions_boundary_arn:
            self._cache.depends(("policy", role.permissions_boundary_arn))
        boundary = repo.default_policy_document(role.permissions_boundary_arn) if role.permissions_boundary_arn else None
        return _EntityPolicies(True, tuple(docs), boundary)

    def is_orphan(self, caller: Caller) -> bool:
        """A session whose role or IAM user no longer exists under the id sealed in its token
        (deleted, or deleted and re-created: a new id). Such a session has no permission, and no
        resource-based or trust policy naming it can grant one either."""
        session = caller.session
        if session is None or is_assumed_root(caller) or session.extra.get("root_parent"):
            return False  # long-term keys die with their user; a root cannot be deleted
        if caller.type == "AssumedRole":
            return not self._entity("role", str(session.parent_id or "")).exists
        if caller.type in ("IAMUser", "FederatedUser"):
            return not self._entity("user", str(session.parent_id or "")).exists
        return False

    def scp_levels(self, account_id: str) -> tuple[str, ...]:
        """The service control policies over an account's principals (empty for most)."""
        return self._cache.memo("scp_levels", account_id, lambda a: scp_levels(self._cache.repo, a), (ORG,))

    def caller_policies(self, caller: Caller) -> CallerPolicies:
        scp = self.scp_levels(caller.account_id)
        session = caller.session
        if caller.type == "IAMUser":
            identity, boundary = self.user_policies(caller.user_id)
            return CallerPolicies(identity, boundary, scp=scp)
        if caller.type == "Root":  # the root user; its sessions carry session policies only from AssumeRoot
            sealed = _session_policies(session.session_policies, session.extra) if session else None
            return CallerPolicies((ROOT_EQUIVALENT,), None, sealed, scp)
        assert session is not None
        if caller.type == "AssumedRole":
            # AWS evaluates a session against its role's *current* policies, found by the role id
            # sealed in the token: a gone (or re-created) role gives nothing. The snapshot sealed
            # in the token (extra["pol"]) is for relying services only, never a fallback here.
            identity, boundary = self.role_policies(str(session.parent_id or ""))
            return CallerPolicies(identity, boundary, _session_policies(session.session_policies, session.extra), scp)
        if session.extra.get("root_parent"):
            identity, boundary = (ROOT_EQUIVALENT,), None
        else:
            identity, boundary = self.user_policies(session.parent_id or "")
        return CallerPolicies(identity, boundary, _session_policies(session.session_policies, session.extra) or (), scp)

    # -- context and decision -------------------------------------------------------------
    def context(
        self, info: RequestInfo, action: str, resource: str, keys: Mapping[str, Any] | None = None
    ) -> RequestContext:
        caller = info.caller
        assert caller is not None
        session = caller.session
        principal = principal_of(caller)
        org = self._cache.organization(caller.account_id)
        path = self._cache.memo("org_path", caller.account_id, lambda a: org_path(self._cache.repo, a),
                                (ORG,)) if org else ""
        if session is not None and session.extra.get("assumed_root"):
            keys = {**(keys or {}), "aws:AssumedRoot": "true"}
        base = sts_context_keys(
            principal,
            now=info.now,
            region=info.extra.get("requested_region", info.signing_region or "us-east-1"),  # type: ignore[arg-type]
            secure_transport=info.secure_transport,
            source_ip=info.source_ip or None,
            user_agent=info.user_agent or None,
            principal_tags=self.principal_tags(caller),
            principal_org_id=org.id if org else None,
            principal_org_paths=(path,) if org else None,
            mfa_present=bool(session and session.mfa_authenticated) if session else None,
            mfa_age_seconds=int(info.epoch - (session.mfa_auth_time or session.issued_at))
            if session and session.mfa_authenticated
            else None,
            token_issue_time=_utc(session.issued_at) if session else None,
            caller_source_identity=session.source_identity if session else None,
            federated_provider=session.extra.get("federated_provider") if session else None,
            federation_keys=session.extra.get("fk") if session else None,
            extra=keys,
        )
        return RequestContext(action, resource, principal, keys=base)

    def principal_tags(self, caller: Caller) -> dict[str, str]:
        if caller.session is not None and caller.type == "AssumedRole":
            return dict(caller.session.tags)
        if caller.type == "IAMUser":
            return self._cache.memo("user_tags", caller.user_id, lambda uid: self._cache.repo.get_tags("user", uid),
                                    (("user", caller.user_id),))
        return dict(caller.session.tags) if caller.session else {}

    def decide(self, info: RequestInfo, action: str, resource: str, keys: Mapping[str, Any] | None = None,
               *, explain: bool = False) -> tuple[RequestContext, Decision | None]:
        """(context, decision); the decision is None for the account's root user (always allowed)."""
        ctx = self.context(info, action, resource, keys)
        caller = info.caller
        assert caller is not None
        if (caller.type == "Root" and not is_assumed_root(caller) and not self.scp_levels(caller.account_id)
                and not (caller.session is not None and caller.session.session_policies)):
            return ctx, None  # the root user, outside any SCP: no policy applies
        decision = evaluate(self.caller_policies(caller).policy_set(), ctx, explain=explain)
        if decision.allowed:
            decision = self.scope_refusal(caller, ctx, explain=explain) or decision
        return ctx, decision

    def scope_refusal(self, caller: Caller, ctx: RequestContext, *, explain: bool = False) -> Decision | None:
        """GetScopedCredentials layers: each sealed scope-down policy must also allow (an
        intersection, like a session policy); the first refusal, or None."""
        session = caller.session
        for doc in (session.extra.get("scope", ()) if session is not None else ()):
            layer = evaluate(PolicySet.build(identity=(doc,), strict=False), ctx, explain=explain)
            if not layer.allowed:
                return layer
        return None

    def authorize(self, info: RequestInfo, action: str, resource: str, keys: Mapping[str, Any] | None = None,
                  *, with_reason: bool = False) -> None:
        """Raise AWS's AccessDenied unless the caller may perform ``action`` on ``resource``."""
        caller = info.caller
        assert caller is not None
        if action.startswith("iam:") and _iam_forbidden(caller):
            raise AccessDenied(f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}")
        ctx, decision = self.decide(info, action, resource, keys)
        if decision is not None and not decision.allowed:
            raise AccessDenied(access_denied_message(ctx, decision, with_reason=with_reason))


def _session_policies(inline: tuple[str, ...], extra: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Session policies sealed in the token: inline ones plus managed ones resolved at issue."""
    managed = tuple(extra.get("spm", ()))
    docs = inline + managed
    return docs if docs or extra.get("has_session_policy") else None


def _iam_forbidden(caller: Caller) -> bool:
    session = caller.session
    if session is None:
        return False
    if caller.type == "FederatedUser":
        return True
    return session.issuer_action == "GetSessionToken" and not session.mfa_authenticated


def _utc(epoch: int) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc)
