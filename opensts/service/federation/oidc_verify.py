"""Verify, then validate, an OIDC ID token (anchors.md §5), with the clock passed in.

1. ``peek``: split the compact JWS, read header (``alg``, ``kid``) and the unverified ``iss``
   only to find the provider and its keys.
2. ``verify``: check the signature with joserfc against the provider's JWKS and an explicit
   algorithm allow-list (RS256/384/512, ES256/384/512, as AWS documents).
3. ``validate``: ``iss`` equals the provider URL, ``aud`` (or ``azp``) is one of the provider's
   client ids, ``exp``/``nbf``/``iat`` are integers and hold at ``now`` with AWS's skew, ``sub`` is
   present (6–255 characters in AWS's response shape… shorter ones are accepted).
Each step raises its own STS error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opensts.frozen import frozen
from opensts.protocol.json_input import decode_json
from opensts.service.federation.errors import ExpiredTokenException, InvalidIdentityToken

__all__ = ["ALGORITHMS", "Peeked", "VerifiedToken", "peek", "verify", "validate"]

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
CLOCK_SKEW = 300  # seconds of leeway on exp/nbf/iat (AWS allows ~5 minutes)
MAX_TOKEN_CHARS = 20000


@frozen
class Peeked:
    alg: str
    kid: str | None
    issuer: str


@frozen
class VerifiedToken:
    claims: dict[str, Any]
    audience: str  # the matched client id (azp when present, else the matching aud)
    other_audiences: tuple[str, ...]  # oaud: the token's aud when azp is present


def _b64json(segment: str) -> Any:
    """One base64url JSON segment, strictly decoded (``decode_json``): ValueError for anything
    malformed — invalid base64 or UTF-8, lone surrogates, ``NaN``, a header of 5000 ``[`` —
    so every malformed token is an InvalidIdentityToken, never a RecursionError."""
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return decode_json(base64.urlsafe_b64decode(padded.encode("ascii")))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def peek(token: str) -> Peeked:
    """Header and issuer of an unverified token; InvalidIdentityToken if it is not a JWS."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 3:
        raise InvalidIdentityToken("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    try:
        header, claims = _b64json(parts[0]), _b64json(parts[1])
    except (ValueError, UnicodeError) as exc:
        raise InvalidIdentityToken("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidIdentityToken("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    alg, kid, iss = header.get("alg"), header.get("kid"), claims.get("iss")
    if alg not in ALGORITHMS:
        raise InvalidIdentityToken(f"Unsupported signing algorithm: {alg}" if isinstance(alg, str) else "Missing signing algorithm")
    if not isinstance(iss, str) or not iss:
        raise InvalidIdentityToken("Missing a required claim: iss")
    return Peeked(alg, kid if isinstance(kid, str) else None, iss)


def verify(token: str, keys: KeySet) -> dict[str, Any]:
    """The token's claims once its signature holds under one of ``keys``."""
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise InvalidIdentityToken("Couldn't retrieve verification key from your identity provider,  please "
                                   "reference AssumeRoleWithWebIdentity documentation for requirements") from exc
    return dict(decoded.claims)


def validate(claims: dict[str, Any], *, issuer_url: str, client_ids: Sequence[str], now: int) -> VerifiedToken:
    """Check the registered claims against the provider and the clock."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or _norm_issuer(iss) != _norm_issuer(issuer_url):
        raise InvalidIdentityToken("Issuer does not match the identity provider.")
    for name in ("exp", "iat"):
        if name not in claims:
            raise InvalidIdentityToken(f"Missing a required claim: {name}")
    for name in ("exp", "iat", "nbf", "auth_time"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidIdentityToken(f"Invalid claim value: {name} must be an integer")
    exp = claims["exp"]
    if now >= exp + CLOCK_SKEW:
        raise ExpiredTokenException(f"Token expired: current date/time {now} must be before the expiration date/time{exp}")
    nbf = claims.get("nbf")
    if nbf is not None and now + CLOCK_SKEW < nbf:
        raise InvalidIdentityToken("Token used before issued or before its not-before time")
    if now + CLOCK_SKEW < claims["iat"]:
        raise InvalidIdentityToken("Token used before issued or before its not-before time")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidIdentityToken("Missing a required claim: sub")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []
    azp = claims.get("azp")
    allowed = set(client_ids)
    if isinstance(azp, str) and azp:
        if azp not in allowed and not any(a in allowed for a in auds):
            raise InvalidIdentityToken("Incorrect token audience")
        return VerifiedToken(claims, azp, tuple(auds))
    matched = next((a for a in auds if a in allowed), None)
    if matched is None:
        raise InvalidIdentityToken("Incorrect token audience")
    return VerifiedToken(claims, matched, ())


def _norm_issuer(url: str) -> str:
    url = url.strip()
    if url.lower().startswith("https://"):
        url = url[8:]
    return url.rstrip("/")
