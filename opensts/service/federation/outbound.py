"""OpenSTS as an OIDC issuer: GetWebIdentityToken (sts-api.md §3.11) and its signing keys.

Issuer URL per account: ``{public base}/oidc/{issuer-id}`` (``--public-url``, default the first
listener). Keys: one per algorithm (RS256, ES384) and rotation slot of
``OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS`` (default 7 days); the next slot's key is created
ahead and published early, and a key stays published until every token it signed has expired
(slot end + the 1-hour maximum token lifetime + skew).

Keys live in the control plane's database and reach every Region by replication. A node whose own
database is writable creates them (current and next slot, ahead of use); a node on a read-only
replica never creates one: it signs with the current slot's key (else the next slot's, already
published) and publishes what exists. Neither there: ``StoreUnavailable`` (ServiceUnavailable, 503).
"""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from opensts.protocol.errors import AccessDenied
from opensts.store.outage import StoreUnavailable
from opensts.service.context import RequestInfo
from opensts.service.federation.errors import (
    JWTPayloadSizeExceeded,
    OutboundWebIdentityFederationDisabled,
    SessionDurationEscalation,
)

__all__ = ["SigningKeys", "OutboundTokens", "issuer_url", "NAMESPACE"]

NAMESPACE = "https://sts.amazonaws.com/"
MAX_TOKEN_LIFETIME = 3600
SKEW = 300
MAX_PAYLOAD_BYTES = 8192
_GENERATE = {"RS256": lambda: RSAKey.generate_key(2048, private=True), "ES384": lambda: ECKey.generate_key("P-384", private=True)}
_IMPORT = {"RS256": RSAKey.import_key, "ES384": ECKey.import_key}


def issuer_url(settings: Any, issuer_id: str) -> str:
    return f"{settings.issuer_base_url()}/oidc/{issuer_id}"


class SigningKeys:
    def __init__(self, repo: Any, rotation: int | None = None, *, writable: bool = True) -> None:
        self._repo = repo
        self.writable = writable
        self.rotation = rotation or int(os.environ.get("OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS", 7 * 86400))
        self._keys: dict[tuple[str, int], tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def _slot(self, now: int) -> int:
        return now // self.rotation

    def _ensure(self, alg: str, slot: int) -> tuple[str, Any] | None:
        """The key of (alg, slot), created when missing on a writable node (None: missing here)."""
        cached = self._keys.get((alg, slot))
        if cached is not None:
            return cached
        with self._lock:
            record = self._repo.signing_key(alg, slot)
            if record is None:
                if not self.writable:
                    return None
                key = _GENERATE[alg]()
                record = self._repo.add_signing_key(f"{alg.lower()}-{slot}-{secrets.token_hex(6)}", alg, slot,
                                                    key.as_pem(private=True))
            loaded = (record.kid, _IMPORT[alg](record.private_pem))
            self._keys[(alg, slot)] = loaded
            return loaded

    def signing(self, alg: str, now: int) -> tuple[str, Any]:
        slot = self._slot(now)
        ahead = self._ensure(alg, slot + 1)  # published ahead of use
        found = self._ensure(alg, slot) or ahead  # a replica: the next slot's key is published already
        if found is None:
            raise StoreUnavailable(f"no {alg} signing key of the current rotation slot has reached this Region yet")
        return found

    def create_ahead(self, now: int) -> None:
        """Create the current and next slots' keys of every algorithm (a writable node)."""
        for alg in _GENERATE:
            self.signing(alg, now)

    def published(self, now: int) -> list[dict[str, Any]]:
        """Public JWKs still needed by relying parties: keys whose tokens may not have expired."""
        if self.writable:
            self.create_ahead(now)
        min_slot = (now - MAX_TOKEN_LIFETIME - SKEW) // self.rotation
        out = []
        for record in self._repo.signing_keys_since(min_slot):
            if record.slot > self._slot(now) + 1:
                continue
            key = _IMPORT[record.alg](record.private_pem)
            out.append({**key.as_dict(private=False), "kid": record.kid, "alg": record.alg, "use": "sig"})
        return out


class OutboundTokens:
    def __init__(self, cache: Any, authorizer: Any, settings: Any, keys: SigningKeys) -> None:
        self._cache = cache
        self._authz = authorizer
        self._settings = settings
        self.keys = keys

    def __call__(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = info.caller
        if caller is None:  # pragma: no cover - the edge refuses unsigned calls
            raise AccessDenied("Request is missing Authentication Token")
        state = self._cache.repo.outbound_issuer(caller.account_id)
        if state is None or not state.enabled:
            raise OutboundWebIdentityFederationDisabled(
                "Outbound web identity federation is disabled for this account. Enable it with the IAM "
                "EnableOutboundWebIdentityFederation API.")
        audience: list[str] = params["Audience"]
        alg = params["SigningAlgorithm"]
        duration = params.get("DurationSeconds") or 300
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or ()}
        keys: dict[str, Any] = {"sts:IdentityTokenAudience": list(audience), "sts:DurationSeconds": duration,
                                "sts:SigningAlgorithm": alg}
        if tags:
            keys.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
            keys["aws:TagKeys"] = list(tags)
        self._authz.authorize(info, "sts:GetWebIdentityToken", "*", keys)
        now = int(info.epoch)
        session = caller.session
        if session is not None and now + duration > session.expires_at:
            raise SessionDurationEscalation(
                "The requested DurationSeconds would make the token outlive the calling session's credentials.")
        claims: dict[str, Any] = {
            "iss": issuer_url(self._settings, state.issuer_id),
            "aud": audience[0] if len(audience) == 1 else list(audience),
            "sub": self._subject(caller),
            "iat": now, "nbf": now, "exp": now + duration,
            "jti": str(uuid.uuid4()),
        }
        aws: dict[str, Any] = {"aws_account": caller.account_id, "source_region": info.serving_region}
        principal_tags = self._authz.principal_tags(caller)
        if principal_tags:
            aws["principal_tags"] = dict(principal_tags)
        if tags:
            aws["request_tags"] = tags
        claims[NAMESPACE] = aws
        kid, key = self.keys.signing(alg, now)
        token = jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, algorithms=[alg])
        if len(token.split(".")[1]) * 3 // 4 > MAX_PAYLOAD_BYTES:
            raise JWTPayloadSizeExceeded("The JWT payload exceeds the maximum allowed size.")
        from datetime import datetime, timezone

        return {"WebIdentityToken": token, "Expiration": datetime.fromtimestamp(now + duration, tz=timezone.utc)}

    @staticmethod
    def _subject(caller: Any) -> str:
        """The principal's ARN; a role session is named by its role (AWS's sample: role ARN)."""
        session = caller.session
        if caller.type == "AssumedRole" and session is not None and session.extra.get("role_arn"):
            return str(session.extra["role_arn"])
        return str(caller.arn)


