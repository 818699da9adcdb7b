"""Verification: the 15-minute window, then the canonical request rebuilt and signed with the
caller's key and compared in constant time (every accepted payload variant tried).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from opensts.auth.sigv4.canonical import canonical_request, payload_hash
from opensts.auth.sigv4.request import (
    AMZ_DATE_FORMAT,
    EMPTY_SHA256,
    MAX_SKEW,
    MSG_MISMATCH,
    UNSIGNED_PAYLOAD,
    HttpRequest,
    SigV4Auth,
    _UTC,
)
from opensts.auth.sigv4.signing import SigningKeyCache, signing_key, string_to_sign
from opensts.protocol.errors import SignatureDoesNotMatch

def _check_time(request_time: datetime, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)
    earliest = now - MAX_SKEW
    if request_time < earliest:
        raise SignatureDoesNotMatch(
            f"Signature expired: {request_time:{AMZ_DATE_FORMAT}} is now earlier than "
            f"{earliest.astimezone(_UTC):{AMZ_DATE_FORMAT}} ({now.astimezone(_UTC):{AMZ_DATE_FORMAT}} - 15 min.)"
        )
    latest = now + MAX_SKEW
    if request_time > latest:
        raise SignatureDoesNotMatch(
            f"Signature not yet current: {request_time:{AMZ_DATE_FORMAT}} is still later than "
            f"{latest.astimezone(_UTC):{AMZ_DATE_FORMAT}} ({now.astimezone(_UTC):{AMZ_DATE_FORMAT}} + 15 min.)"
        )


def verify(
    req: HttpRequest,
    auth: SigV4Auth,
    secret_access_key: str,
    *,
    now: datetime,
    normalize_path: bool = True,
    key_cache: SigningKeyCache | None = None,
    allow_unsigned_payload: bool = True,
    allow_unsigned_query_token: bool = False,
) -> None:
    """Check ``auth`` against ``req`` with the caller's secret; return ``None`` when valid.

    ``now`` is the server clock (tz-aware; naive means UTC).  Region/service policy is the
    caller's (see :func:`check_scope`).

    :raises SignatureDoesNotMatch: outside the 15-minute window, payload hash lies, a signed
        header is missing, or the signature differs.
    """
    _check_time(auth.request_time, now)
    if key_cache is not None:
        keyed = key_cache._entry(secret_access_key, auth.scope_date, auth.region, auth.service)[1]
    else:
        keyed = hmac.new(
            signing_key(secret_access_key, auth.scope_date, auth.region, auth.service), digestmod=hashlib.sha256
        )
    payload = payload_hash(req, auth, allow_unsigned_payload=allow_unsigned_payload)
    provided = auth.signature.encode("utf-8", "replace")

    attempts = [(payload, False)]
    if auth.presigned:
        if payload == EMPTY_SHA256 and not req.body:
            attempts.append((UNSIGNED_PAYLOAD, False))
        if allow_unsigned_query_token and auth.security_token is not None:
            attempts += [(p, True) for p, _ in list(attempts)]
    for candidate, unsigned_token in attempts:
        creq = canonical_request(req, auth, normalize_path, payload=candidate, unsigned_token=unsigned_token)
        mac = keyed.copy()
        mac.update(string_to_sign(auth, creq).encode("utf-8"))
        if hmac.compare_digest(mac.hexdigest().encode("ascii"), provided):
            return
    raise SignatureDoesNotMatch(MSG_MISMATCH)
