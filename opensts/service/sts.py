"""The STS actions: business rules only. Inputs are validated dicts, outputs plain dicts.

Handlers receive the request facts (``RequestInfo``) and the input parsed and validated by the
wire layer (botocore-shaped: model member names, ints as int, lists as lists) and return the
result dict that the wire layer renders. They never see HTTP or XML. A refusal is a
``ServiceError``. AssumeRole's rules live in ``assume_role.py``, AssumeRoot's in ``assume_root.py``, session rules in
``sessions.py``, minting in ``minting.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opensts.auth.keyring import KeyRing
from opensts.policy import access_denied_message, parse_policy
from opensts.protocol.errors import AccessDenied, InvalidParameterValue, NotImplementedYet, ServiceError, ValidationError
from opensts.regions.rules import RegionRules
from opensts.service.assume_role import AssumeRoleAction
from opensts.service.assume_root import AssumeRootAction
from opensts.service.authorization import Authorizer
from opensts.service.authz_message import HEADER, AuthorizationMessages
from opensts.service.context import RequestInfo
from opensts.service.federation import FederationActions
from opensts.service.identifiers import account_of_access_key, federated_user_arn
from opensts.service.mfa_check import MfaChecker
from opensts.service.minting import Minter
from opensts.service.sessions import minify, session_policies, session_tags
from opensts.store.cache import StoreCache

__all__ = ["StsService", "NotImplementedYet"]

Handler = Callable[[RequestInfo, dict[str, Any]], dict[str, Any]]


class InvalidSubjectCredentials(ServiceError):
    code = "InvalidSubjectCredentials"
    status = 400


class InsufficientSessionLifetime(ServiceError):
    code = "InsufficientSessionLifetime"
    status = 400


MAX_SCOPE_LAYERS = 3


def action(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Mark a method as the handler of the STS action ``name``."""

    def mark(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        fn.__sts_action__ = name  # type: ignore[attr-defined]
        return fn

    return mark


class StsService:
    """One method per STS action; ``handlers`` is the dispatch table, built once."""

    def __init__(self, keyring: KeyRing, cache: StoreCache, authorizer: Authorizer, regions: RegionRules,
                 settings: Any = None, region_state: Any = None, signing_keys_writable: bool = True) -> None:
        """``region_state``: where STS's own writes go (``store/region_state.py``; None: the
        node's own database); ``signing_keys_writable``: outbound-federation keys may be created here."""
        self._cache = cache
        self._authz = authorizer
        self._minter = Minter(keyring, regions)
        self._mfa = MfaChecker(cache.repo, region_state)  # type: ignore[arg-type]
        self._spent = region_state if region_state is not None else cache.repo  # tokens traded in
        self._assume_role = AssumeRoleAction(cache, authorizer, self._minter, self._mfa)
        self._assume_root = AssumeRootAction(cache, self._minter, self._authorize)
        self.messages = AuthorizationMessages(keyring)
        self.federation = FederationActions(cache=cache, authorizer=authorizer, minter=self._minter, regions=regions,
                                            settings=settings, keyring=keyring, region_state=region_state,
                                            signing_keys_writable=signing_keys_writable)
        self.handlers: dict[str, Handler] = {}
        for attr in dir(type(self)):
            fn = getattr(self, attr)
            name = getattr(fn, "__sts_action__", None)
            if name:
                self.handlers[name] = fn

    def handle(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(info.action)
        if handler is None:
            raise NotImplementedYet(f"{info.action} is not implemented by this OpenSTS server yet.")
        return handler(info, params)

    # -- identity -------------------------------------------------------------------------
    @action("GetCallerIdentity")
    def get_caller_identity(self, info: RequestInfo, _params: dict[str, Any]) -> dict[str, Any]:
        """Always allowed: AWS ignores even an explicit Deny on sts:GetCallerIdentity."""
        caller = _required_caller(info)
        return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}

    @action("GetAccessKeyInfo")
    def get_access_key_info(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        """Keys in our store answer from it (a key given at bootstrap need not encode its
        account); any other id answers from the account encoded in it, as on AWS."""
        key_id = params["AccessKeyId"]
        self._authorize(info, "sts:GetAccessKeyInfo", "*")
        stored = self._cache.access_key(key_id) if key_id.startswith("AKIA") else None
        account = stored.account_id if stored else account_of_access_key(key_id)
        if account is None:
            raise InvalidParameterValue("The specified access key ID is not valid.")
        return {"Account": account}

    # -- sessions -------------------------------------------------------------------------
    @action("GetSessionToken")
    def get_session_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        """No policy governs it (AWS: sts:GetSessionToken in a policy has no effect)."""
        caller = _required_caller(info)
        if caller.temporary:
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        mfa = False
        if "SerialNumber" in params or "TokenCode" in params:
            mfa = self._mfa(params.get("SerialNumber"), params.get("TokenCode"), caller, info.epoch)
        duration = _long_session_duration(params.get("DurationSeconds"), root=caller.type == "Root")
        minted = self._minter.mint(
            info, duration, account_id=caller.account_id, principal_type=caller.type, arn=caller.arn,
            user_id=caller.user_id, name=caller.name, parent_id=caller.iam_user_id,
            mfa_authenticated=mfa, mfa_auth_time=int(info.epoch) if mfa else None,
            minimum_size=params.get("MinimumSessionTokenSize"),
        )
        return {"Credentials": minted.credentials, **self._minter.result_sizes(minted)}

    @action("GetDelegatedAccessToken")
    def get_delegated_access_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        from opensts.service.delegated_access import delegated_access_token

        return delegated_access_token(self._cache.repo, self._spent, self._minter, info, params)

    @action("AssumeRole")
    def assume_role(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self._assume_role(info, params)

    @action("AssumeRoot")
    def assume_root(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self._assume_root(info, params)

    @action("GetFederationToken")
    def get_federation_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = _required_caller(info)
        if caller.temporary:
            raise AccessDenied("Cannot call GetFederationToken with session credentials")
        name = params["Name"]
        arn = federated_user_arn(caller.partition, caller.account_id, name)
        tags = session_tags(params.get("Tags"), None, None)
        policies = session_policies(
            params.get("Policy"), params.get("PolicyArns"), caller.account_id,
            validate=lambda doc: parse_policy(doc, "session"),
            load_managed=self._cache.repo.default_policy_document,  # type: ignore[attr-defined]
        )
        keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.requested.items()}
        if tags.requested:
            keys["aws:TagKeys"] = list(tags.requested)
        self._authorize(info, "sts:GetFederationToken", arn, keys)
        if tags.requested:
            self._authorize(info, "sts:TagSession", arn, keys)
        duration = _long_session_duration(params.get("DurationSeconds"), root=caller.type == "Root")
        principal_tags = dict(self._authz.principal_tags(caller)) if caller.type == "IAMUser" else {}
        principal_tags.update(tags.requested)
        extra: dict[str, Any] = {"user_arn": caller.arn, "has_session_policy": True}
        if policies.managed:
            extra["spm"] = [doc for _, doc in policies.managed]
        if caller.type == "Root":
            extra["root_parent"] = True
        minted = self._minter.mint(
            info, duration, account_id=caller.account_id, principal_type="FederatedUser", arn=arn,
            user_id=f"{caller.account_id}:{name}", name=name, parent_id=caller.iam_user_id,
            session_name=name, session_policies=(policies.inline,) if policies.inline else (),
            policy_arns=tuple(a for a, _ in policies.managed), tags=principal_tags, extra=extra,
            minimum_size=params.get("MinimumSessionTokenSize"),
        )
        result: dict[str, Any] = {
            "Credentials": minted.credentials,
            "FederatedUser": {"FederatedUserId": f"{caller.account_id}:{name}", "Arn": arn},
        }
        if policies.present or tags.passed:
            result["PackedPolicySize"] = minted.utilization
        result.update(self._minter.result_sizes(minted))
        return result

    @action("GetScopedCredentials")
    def get_scoped_credentials(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        """Same session, new keys: fewer permissions (a scope-down layer), a shorter life, or both.

        No permission is checked (like GetSessionToken, it can only take rights away); every
        layer is sealed in the token and each must allow (authorization.py)."""
        caller = _required_caller(info)
        session = caller.session
        if session is None:
            raise InvalidSubjectCredentials("GetScopedCredentials must be called with temporary security credentials.")
        policy, duration = params.get("Policy"), params.get("DurationSeconds")
        if policy is None and duration is None:
            raise ValidationError("A request must provide at least one of Policy or DurationSeconds.")
        layers = list(session.extra.get("scope", ()))
        if policy is not None:
            if len(layers) >= MAX_SCOPE_LAYERS:
                raise AccessDenied(f"The session already has {MAX_SCOPE_LAYERS} scope down policies; "
                                   "no further scope down policy can be added.")
            parse_policy(policy, "session")
            layers.append(minify(policy))
        remaining = session.expires_at - int(info.epoch)
        if duration is not None and duration > remaining:
            raise InsufficientSessionLifetime(
                f"The requested DurationSeconds ({duration}) exceeds the remaining lifetime of the calling session "
                f"({remaining} seconds)."
            )
        expires = int(info.epoch) + duration if duration is not None else session.expires_at
        extra = {**session.extra, "scope": layers}
        if params.get("ScopedSessionDescription"):
            extra["scope_description"] = params["ScopedSessionDescription"]
        minted = self._minter.remint(info, session, expires, extra=extra,
                                     minimum_size=params.get("MinimumSessionTokenSize"))
        result: dict[str, Any] = {
            "Credentials": minted.credentials,
            "SessionInfo": {"ScopedSessionId": caller.user_id, "Arn": caller.arn},
            "ScopedPoliciesCount": len(layers),
            **self._minter.result_sizes(minted),
        }
        if session.source_identity:
            result["SourceIdentity"] = session.source_identity
        return result

    @action("AssumeRoleWithWebIdentity")
    def assume_role_with_web_identity(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self.federation.assume_role_with_web_identity(info, params)

    @action("AssumeRoleWithSAML")
    def assume_role_with_saml(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self.federation.assume_role_with_saml(info, params)

    @action("GetWebIdentityToken")
    def get_web_identity_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self.federation.get_web_identity_token(info, params)

    @action("DecodeAuthorizationMessage")
    def decode_authorization_message(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = _required_caller(info)
        self._authorize(info, "sts:DecodeAuthorizationMessage", "*")
        return {"DecodedMessage": self.messages.decode(params["EncodedMessage"], caller.account_id)}

    # -- helpers --------------------------------------------------------------------------
    def _authorize(self, info: RequestInfo, action_name: str, resource: str, keys: dict[str, Any] | None = None) -> None:
        """Policy check for STS actions other than the AssumeRole family; denials carry an
        encoded authorization message (header ``x-amz-encoded-authorization-message``)."""
        ctx, decision = self._authz.decide(info, action_name, resource, keys, explain=True)
        if decision is not None and not decision.allowed and info.caller is not None:
            err = AccessDenied(access_denied_message(ctx, decision))
            err.headers = {HEADER: self.messages.encode(ctx, decision)}  # type: ignore[attr-defined]
            raise err


def _required_caller(info: RequestInfo) -> Any:
    if info.caller is None:  # pragma: no cover - the edge refuses unsigned calls to these actions
        raise AccessDenied("Request is missing Authentication Token")
    return info.caller


def _long_session_duration(requested: int | None, *, root: bool) -> int:
    """GetSessionToken/GetFederationToken: root sessions are clamped to one hour, silently."""
    if root:
        return min(requested or 3600, 3600)
    return requested or 43200
