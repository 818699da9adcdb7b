"""Minting temporary credentials: ASIA key id, secret, sealed session token, expiration.

The token must stay within AWS's 4,096-byte session-token limit (sts-api.md §4.11); the
packed size AWS reports (``PackedPolicySize``) is, since Sept 2026, the token's utilisation of
that limit in percent, and going over it is ``PackedPolicyTooLarge``.
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from opensts.auth.keyring import KeyRing
from opensts.auth.session_token import MAX_TOKEN_BYTES, SessionClaims
from opensts.frozen import frozen
from opensts.protocol.errors import ServiceError
from opensts.regions.resolve import Placement
from opensts.regions.rules import RegionRules
from opensts.service.context import RequestInfo
from opensts.service.identifiers import new_access_key_id, new_secret_access_key

__all__ = ["Minted", "Minter", "PackedPolicyTooLarge"]


class PackedPolicyTooLarge(ServiceError):
    code = "PackedPolicyTooLarge"
    status = 400


@frozen
class Minted:
    credentials: dict[str, Any]
    claims: SessionClaims
    token_size: int

    @property
    def utilization(self) -> int:
        """Percent of the maximum token size used (AWS's PackedPolicySize since Sept 2026)."""
        return max(1, math.ceil(100 * self.token_size / MAX_TOKEN_BYTES))


class Minter:
    def __init__(self, keyring: KeyRing, regions: RegionRules | None = None) -> None:
        self._keyring = keyring
        self._regions = regions

    def mint(self, info: RequestInfo, duration: int, *, account_id: str, fallback_extra: dict[str, Any] | None = None,
             minimum_size: int | None = None, **fields: Any) -> Minted:
        """Seal claims for a new session of ``duration`` seconds owned by ``account_id``.

        When the token would exceed the limit and ``fallback_extra`` is given, the claims'
        ``extra`` is replaced by it (e.g. a role reference instead of the role's sealed policies)
        and sealing is tried once more.
        """
        placement = info.extra.get("placement")
        version = 1 if info.endpoint_type == "global" else 2
        if self._regions is not None and isinstance(placement, Placement):
            self._regions.check_issue(account_id, placement)
            version = self._regions.token_version(account_id, placement)
        issued = int(info.epoch)
        fields.setdefault("issued_at", issued)
        claims = SessionClaims(
            access_key_id=new_access_key_id("ASIA", account_id),
            secret_access_key=new_secret_access_key(),
            account_id=account_id,
            expires_at=issued + duration,
            issuer_action=info.action,
            endpoint_type=info.endpoint_type,
            serving_region=info.serving_region,
            token_version=version,
            **fields,
        )
        return self._seal(info, claims, fallback_extra, minimum_size)

    def remint(self, info: RequestInfo, template: SessionClaims, expires_at: int, *,
               minimum_size: int | None = None, **changes: Any) -> Minted:
        """New credentials for the same session (GetScopedCredentials): same identity and
        context, new key and secret, the given expiry and changes."""
        claims = replace(template, access_key_id=new_access_key_id("ASIA", template.account_id),
                         secret_access_key=new_secret_access_key(), expires_at=expires_at,
                         **changes)
        return self._seal(info, claims, None, minimum_size)

    def _seal(self, info: RequestInfo, claims: SessionClaims, fallback_extra: dict[str, Any] | None,
              minimum_size: int | None) -> Minted:
        token = self._keyring.seal(claims, info.serving_region)
        if len(token) > MAX_TOKEN_BYTES and fallback_extra is not None:
            claims = replace(claims, extra=fallback_extra)
            token = self._keyring.seal(claims, info.serving_region)
        if minimum_size and len(token) < minimum_size:
            token = self._pad(info, claims, token, minimum_size)
        if len(token) > MAX_TOKEN_BYTES:
            raise PackedPolicyTooLarge(
                f"Session token size {len(token)} bytes exceeds the maximum allowed size of {MAX_TOKEN_BYTES} bytes."
            )
        credentials = {
            "AccessKeyId": claims.access_key_id,
            "SecretAccessKey": claims.secret_access_key,
            "SessionToken": token,
            "Expiration": datetime.fromtimestamp(claims.expires_at, tz=timezone.utc),
        }
        return Minted(credentials, claims, len(token))

    def _pad(self, info: RequestInfo, claims: SessionClaims, token: str, minimum: int) -> str:
        """MinimumSessionTokenSize: grow the token with incompressible padding (for testing
        how downstream systems handle large tokens, as AWS offers since Sept 2026)."""
        length = 0
        while len(token) < minimum:
            length += max(1, (minimum - len(token)) * 3 // 4)
            pad = base64.b64encode(os.urandom(length)).decode()[:length]
            token = self._keyring.seal(replace(claims, extra={**claims.extra, "pad": pad}), info.serving_region)
        return token

    def result_sizes(self, minted: Minted) -> dict[str, int]:
        return {"SessionTokenSize": minted.token_size, "SessionTokenUtilization": minted.utilization}
