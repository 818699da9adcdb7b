"""The STS actions: business rules only. Inputs are validated dicts, outputs plain dicts.

Handlers receive the request facts (``RequestInfo``) and the input parsed and validated by the
wire layer (botocore-shaped: model member names, ints as int, lists as lists) and return the
result dict that the wire layer renders. They never see HTTP or XML. A refusal is a
``ServiceError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from opensts.auth.keyring import KeyRing
from opensts.auth.session_token import SessionClaims
from opensts.protocol.errors import AccessDenied, InvalidParameterValue, ServiceError
from opensts.service.context import RequestInfo
from opensts.service.identifiers import account_of_access_key, new_access_key_id, new_secret_access_key
from opensts.store.cache import StoreCache

__all__ = ["StsService", "NotImplementedYet"]

Handler = Callable[[RequestInfo, dict[str, Any]], dict[str, Any]]

_MFA_UNAVAILABLE = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  "
    "Please verify your MFA serial number is valid and associated with this user."
)


class NotImplementedYet(ServiceError):
    code = "NotImplemented"
    status = 501


def action(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Mark a method as the handler of the STS action ``name``."""

    def mark(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        fn.__sts_action__ = name  # type: ignore[attr-defined]
        return fn

    return mark


class StsService:
    """One method per STS action; ``handlers`` is the dispatch table, built once."""

    def __init__(self, keyring: KeyRing, cache: StoreCache) -> None:
        self._keyring = keyring
        self._cache = cache
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

    # -- actions --------------------------------------------------------------------------
    @action("GetCallerIdentity")
    def get_caller_identity(self, info: RequestInfo, _params: dict[str, Any]) -> dict[str, Any]:
        """Always allowed: AWS ignores even an explicit Deny on sts:GetCallerIdentity."""
        caller = _required_caller(info)
        return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}

    @action("GetAccessKeyInfo")
    def get_access_key_info(self, _info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        """Keys in our store answer from it (a key given at bootstrap need not encode its
        account); any other id answers from the account encoded in it, as on AWS."""
        key_id = params["AccessKeyId"]
        stored = self._cache.access_key(key_id) if key_id.startswith("AKIA") else None
        account = stored.account_id if stored else account_of_access_key(key_id)
        if account is None:
            raise InvalidParameterValue("The specified access key ID is not valid.")
        return {"Account": account}

    @action("GetSessionToken")
    def get_session_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = _required_caller(info)
        if caller.temporary:
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        if "SerialNumber" in params or "TokenCode" in params:
            raise AccessDenied(_MFA_UNAVAILABLE)
        duration = _session_duration(params.get("DurationSeconds"), root=caller.type == "Root")
        return {"Credentials": self._issue(info, duration, parent_id=caller.iam_user_id)}

    # -- helpers --------------------------------------------------------------------------
    def _issue(self, info: RequestInfo, duration: int, **claims: Any) -> dict[str, Any]:
        """Mint ASIA credentials for the caller's own identity and seal them into a token."""
        caller = _required_caller(info)
        issued = int(info.epoch)
        key_id = new_access_key_id("ASIA", caller.account_id)
        secret = new_secret_access_key()
        sealed = SessionClaims(
            access_key_id=key_id,
            secret_access_key=secret,
            account_id=caller.account_id,
            principal_type=caller.type,
            arn=caller.arn,
            user_id=caller.user_id,
            name=caller.name,
            issued_at=issued,
            expires_at=issued + duration,
            issuer_action=info.action,
            endpoint_type=info.endpoint_type,
            serving_region=info.serving_region,
            token_version=1 if info.endpoint_type == "global" else 2,
            **claims,
        )
        token = self._keyring.seal(sealed, info.serving_region)
        return {
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": datetime.fromtimestamp(issued + duration, tz=timezone.utc),
        }


def _required_caller(info: RequestInfo) -> Any:
    if info.caller is None:  # pragma: no cover - the edge refuses unsigned calls to these actions
        raise AccessDenied("Request is missing Authentication Token")
    return info.caller


def _session_duration(requested: int | None, *, root: bool) -> int:
    """GetSessionToken/GetFederationToken: root sessions are clamped to one hour, silently."""
    if root:
        return min(requested or 3600, 3600)
    return requested or 43200
