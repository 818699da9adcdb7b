"""The request context: who asks (:class:`Principal`), for what, and every condition key.

This is the one object the wire layer fills and the engine reads.  It is deliberately plain: the
engine never adds keys (``shared/spec/policy.md`` §7 — the context *is* the complete set of keys),
and :func:`sts_context_keys` is the single place that knows which keys STS puts in for each API
(§4.7, §4.8 and ``sts-api.md`` §4.2-4.7), so the wire layer does not need to.

Key lookup is case-insensitive (§3.2): keys are lower-cased once on construction.  Values are a
``str`` (single-valued), a ``tuple[str, ...]`` (multivalued, e.g. ``aws:TagKeys``) or ``bytes``
(binary keys).  Booleans and numbers are carried as their AWS string forms (``"true"``, ``"3600"``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import time as _time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from opensts.frozen import frozen

__all__ = [
    "Principal",
    "PrincipalType",
    "RequestContext",
    "ContextValue",
    "normalise_keys",
    "principal_keys",
    "sts_context_keys",
]

ContextValue = Union[str, tuple[str, ...], bytes]


class PrincipalType:
    """The request principal kinds of §2.4 (plain strings so JSON round-trips trivially)."""

    USER = "User"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    ROOT = "Root"
    WEB_IDENTITY = "WebIdentity"
    SAML = "SAML"
    SERVICE = "Service"
    ANONYMOUS = "Anonymous"

    ALL = frozenset(
        {USER, ASSUMED_ROLE, FEDERATED_USER, ROOT, WEB_IDENTITY, SAML, SERVICE, ANONYMOUS}
    )
    #: Callers that do not sign requests: no identity policies, boundaries, sessions or SCPs.
    UNSIGNED = frozenset({WEB_IDENTITY, SAML, SERVICE, ANONYMOUS})


def _account_of(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4] else None


@frozen
class Principal:
    """Who makes the request.

    ``arn`` is the caller's own ARN (user ARN, *session* ARN, federated-user ARN, root ARN);
    ``id`` its unique id (``AIDA…`` for users).  A role session also carries its role's ARN and
    unique id (trust policies name roles, and store them as ids, §2.5); a GetFederationToken
    session carries the IAM user that created it.  ``session_token`` marks GetSessionToken
    credentials (they may call only AssumeRole and GetCallerIdentity in STS).
    """

    type: str
    arn: str | None = None
    account: str | None = None
    id: str | None = None
    role_arn: str | None = None
    role_id: str | None = None
    user_arn: str | None = None
    user_id: str | None = None
    provider: str | None = None
    service: str | None = None
    session_token: bool = False

    # ---- constructors for each kind -------------------------------------------------------
    @classmethod
    def user(cls, arn: str, id: str | None = None, *, session_token: bool = False) -> Principal:
        return cls(PrincipalType.USER, arn=arn, account=_account_of(arn), id=id,
                   session_token=session_token)

    @classmethod
    def root(cls, account: str, *, partition: str = "aws", session_token: bool = False) -> Principal:
        return cls(PrincipalType.ROOT, arn=f"arn:{partition}:iam::{account}:root", account=account,
                   id=account, session_token=session_token)

    @classmethod
    def role_session(cls, session_arn: str, role_arn: str, role_id: str | None = None) -> Principal:
        return cls(PrincipalType.ASSUMED_ROLE, arn=session_arn, account=_account_of(session_arn),
                   role_arn=role_arn, role_id=role_id,
                   id=f"{role_id}:{session_arn.rsplit('/', 1)[-1]}" if role_id else None)

    @classmethod
    def federated_user(cls, arn: str, user_arn: str, user_id: str | None = None) -> Principal:
        account = _account_of(arn)
        return cls(PrincipalType.FEDERATED_USER, arn=arn, account=account, user_arn=user_arn,
                   user_id=user_id, id=f"{account}:{arn.rsplit('/', 1)[-1]}")

    @classmethod
    def web_identity(cls, provider: str) -> Principal:
        return cls(PrincipalType.WEB_IDENTITY, provider=provider)

    @classmethod
    def saml(cls, provider: str) -> Principal:
        return cls(PrincipalType.SAML, provider=provider)

    @classmethod
    def aws_service(cls, service: str) -> Principal:
        return cls(PrincipalType.SERVICE, service=service)

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(PrincipalType.ANONYMOUS)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Principal:
        """Build from the case-file shape (``policy.md`` §7)."""
        ptype = str(d.get("type", PrincipalType.ANONYMOUS))
        if ptype not in PrincipalType.ALL:
            raise ValueError(f"unknown principal type {ptype!r}")
        arn = d.get("arn")
        return cls(
            type=ptype,
            arn=arn,
            account=d.get("account") or _account_of(arn),
            id=d.get("id"),
            role_arn=d.get("role_arn"),
            role_id=d.get("role_id"),
            user_arn=d.get("user_arn"),
            user_id=d.get("user_id"),
            provider=d.get("provider"),
            service=d.get("service"),
            session_token=bool(d.get("session_token", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for name in ("arn", "account", "id", "role_arn", "role_id", "user_arn", "user_id",
                     "provider", "service"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.session_token:
            out["session_token"] = True
        return out

    @property
    def signed(self) -> bool:
        """True for callers that sign with AWS credentials (identity policies apply)."""
        return self.type not in PrincipalType.UNSIGNED


def _norm_value(value: Any) -> ContextValue:
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, _dt.datetime):
        return _iso(value)
    if isinstance(value, Iterable):
        return tuple(_scalar(v) for v in value)
    return str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def normalise_keys(keys: Mapping[str, Any] | None) -> dict[str, ContextValue]:
    """Lower-case every key and coerce values to ``str`` / ``tuple[str]`` / ``bytes``.

    Two keys differing only in case collapse to one (tag keys are unique case-insensitively, §3.2);
    the later one wins.
    """
    out: dict[str, ContextValue] = {}
    if keys:
        for k, v in keys.items():
            if v is None:
                continue
            # strings (nearly every value) pass as they are, without a call per key
            out[k.lower() if type(k) is str else str(k).lower()] = v if type(v) is str else _norm_value(v)
    return out


class RequestContext:
    """One request as the engine sees it.

    ``action`` (``vendor:name``), ``resource`` (ARN or ``*``), ``principal``, ``keys`` (condition
    keys, case-insensitive), and ``resource_account`` for resources whose ARN carries no account
    (S3).  Immutable by convention; build a new one per request.
    """

    __slots__ = ("action", "action_l", "resource", "principal", "keys", "resource_account")

    def __init__(
        self,
        action: str,
        resource: str,
        principal: Principal,
        keys: Mapping[str, Any] | None = None,
        *,
        resource_account: str | None = None,
    ) -> None:
        self.action = action
        self.action_l = action.lower()
        self.resource = resource
        self.principal = principal
        self.keys = normalise_keys(keys)
        self.resource_account = resource_account or _account_of(resource)

    def get(self, key: str) -> ContextValue | None:
        """The value of ``key`` (any case), or None when absent."""
        return self.keys.get(key.lower())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RequestContext:
        """Build from the case-file ``context`` object (``policy.md`` §7)."""
        return cls(
            action=str(d["action"]),
            resource=str(d.get("resource", "*")),
            principal=Principal.from_dict(d.get("principal") or {}),
            keys=d.get("keys") or {},
            resource_account=d.get("resource_account"),
        )

    def to_dict(self) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for k, v in self.keys.items():
            keys[k] = list(v) if isinstance(v, tuple) else v.decode("latin-1") if isinstance(v, bytes) else v
        out: dict[str, Any] = {"action": self.action, "resource": self.resource,
                               "principal": self.principal.to_dict(), "keys": keys}
        if self.resource_account:
            out["resource_account"] = self.resource_account
        return out

    def with_action(self, action: str) -> RequestContext:
        """The same request for another action (TagSession / SetSourceIdentity checks, §4.4)."""
        new = object.__new__(RequestContext)
        new.action, new.action_l = action, action.lower()
        new.resource, new.principal = self.resource, self.principal
        new.keys, new.resource_account = self.keys, self.resource_account
        return new

    def __repr__(self) -> str:
        return (f"RequestContext(action={self.action!r}, resource={self.resource!r}, "
                f"principal={self.principal!r}, keys={self.keys!r})")


# ------------------------------------------------------------------------------------------------
# Which keys STS fills (policy.md §4.7/§4.8, sts-api.md §4.2-4.7, §7)
# ------------------------------------------------------------------------------------------------

def _iso(t: _dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC; naive times are UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return _iso_second(int(t.timestamp() // 1))


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    """strftime dominated building a context, and every request of one second formats the same
    instants, so they are memoised by the second."""
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(second))


def principal_keys(principal: Principal) -> dict[str, str]:
    """``aws:PrincipalArn``/``Account``/``Type``, ``aws:userid``, ``aws:username`` (§4.8).

    Unsigned callers (web identity, SAML, service) get none.
    """
    p = principal
    t = p.type
    if t == PrincipalType.USER:
        out = {"aws:PrincipalType": "User", "aws:PrincipalArn": p.arn or "",
               "aws:userid": p.id or "", "aws:username": (p.arn or "").rsplit("/", 1)[-1]}
    elif t == PrincipalType.ROOT:
        out = {"aws:PrincipalType": "Account", "aws:PrincipalArn": p.arn or "",
               "aws:userid": p.account or ""}
    elif t == PrincipalType.ASSUMED_ROLE:
        session = (p.arn or "").rsplit("/", 1)[-1]
        out = {"aws:PrincipalType": "AssumedRole", "aws:PrincipalArn": p.role_arn or "",
               "aws:userid": p.id or f"{p.role_id}:{session}"}
    elif t == PrincipalType.FEDERATED_USER:
        out = {"aws:PrincipalType": "FederatedUser", "aws:PrincipalArn": p.arn or "",
               "aws:userid": p.id or f"{p.account}:{(p.arn or '').rsplit('/', 1)[-1]}"}
    elif t == PrincipalType.ANONYMOUS:
        return {"aws:PrincipalType": "Anonymous", "aws:userid": "anonymous",
                "aws:PrincipalAccount": "anonymous"}
    else:
        return {}
    if p.account:
        out["aws:PrincipalAccount"] = p.account
    return {k: v for k, v in out.items() if v}


@dataclass(slots=True)
class _Keys:
    items: dict[str, ContextValue] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        if type(value) is str:
            self.items[key] = value
        elif value is not None:
            self.items[key] = _norm_value(value)


def sts_context_keys(
    principal: Principal,
    *,
    now: _dt.datetime,
    region: str,
    secure_transport: bool,
    source_ip: str | None = None,
    user_agent: str | None = None,
    referer: str | None = None,
    principal_tags: Mapping[str, str] | None = None,
    principal_org_id: str | None = None,
    principal_org_paths: Iterable[str] | None = None,
    mfa_present: bool | None = None,
    mfa_age_seconds: int | None = None,
    token_issue_time: _dt.datetime | None = None,
    caller_source_identity: str | None = None,
    federated_provider: str | None = None,
    federation_keys: Mapping[str, Any] | None = None,
    role_session_name: str | None = None,
    external_id: str | None = None,
    source_identity: str | None = None,
    request_tags: Mapping[str, str] | None = None,
    transitive_tag_keys: Iterable[str] | None = None,
    resource_tags: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, ContextValue]:
    """The condition keys STS puts into one request's context (§4.7).

    Global keys: ``aws:CurrentTime``, ``aws:EpochTime``, ``aws:SecureTransport``,
    ``aws:RequestedRegion`` (pass ``us-east-1`` for the global endpoint), ``aws:SourceIp`` (None
    through a VPC endpoint), ``aws:UserAgent``, the caller keys of :func:`principal_keys` (signed
    callers only), ``aws:PrincipalTag/*``, ``aws:MultiFactorAuthPresent`` / ``…Age`` /
    ``aws:TokenIssueTime`` (temporary credentials only — pass None for long-term keys),
    ``aws:SourceIdentity`` and ``aws:FederatedProvider`` of the calling session, and any carried
    federation keys (``saml:sub``, ``<issuer>:sub`` …).

    Per-API keys: ``sts:RoleSessionName``, ``sts:ExternalId``, ``sts:SourceIdentity`` (the value
    being set), ``aws:RequestTag/*`` + ``aws:TagKeys`` + ``sts:TransitiveTagKeys`` (only when tags
    are passed), ``aws:ResourceTag/*`` (target role tags).  ``extra`` is merged last (IdP keys of
    AssumeRoleWithWebIdentity/SAML, ``aws:PrincipalIsAWSService`` …).
    """
    k = _Keys()
    k.put("aws:CurrentTime", _iso(now))
    k.put("aws:EpochTime", str(int(now.timestamp())))
    k.put("aws:SecureTransport", secure_transport)
    k.put("aws:RequestedRegion", region)
    k.put("aws:SourceIp", source_ip)
    k.put("aws:UserAgent", user_agent)
    k.put("aws:referer", referer)
    if principal.signed:
        for key, value in principal_keys(principal).items():
            k.put(key, value)
        k.put("aws:PrincipalIsAWSService", False)
        k.put("aws:ViaAWSService", False)
        k.put("aws:PrincipalOrgID", principal_org_id)
        if principal_org_paths is not None:
            k.put("aws:PrincipalOrgPaths", tuple(principal_org_paths))
        for tag, value in (principal_tags or {}).items():
            k.put(f"aws:PrincipalTag/{tag}", value)
        k.put("aws:MultiFactorAuthPresent", mfa_present)
        if mfa_present:
            k.put("aws:MultiFactorAuthAge", mfa_age_seconds)
        if token_issue_time is not None:
            k.put("aws:TokenIssueTime", _iso(token_issue_time))
        k.put("aws:SourceIdentity", caller_source_identity)
        k.put("aws:FederatedProvider", federated_provider)
        for key, value in (federation_keys or {}).items():
            k.put(key, value)
    k.put("sts:RoleSessionName", role_session_name)
    k.put("sts:ExternalId", external_id)
    k.put("sts:SourceIdentity", source_identity)
    if request_tags:
        for tag, value in request_tags.items():
            k.put(f"aws:RequestTag/{tag}", value)
        k.put("aws:TagKeys", tuple(request_tags))
    if transitive_tag_keys:
        k.put("sts:TransitiveTagKeys", tuple(transitive_tag_keys))
    for tag, value in (resource_tags or {}).items():
        k.put(f"aws:ResourceTag/{tag}", value)
        k.put(f"iam:ResourceTag/{tag}", value)
    for key, value in (extra or {}).items():
        k.put(key, value)
    return k.items
