"""Session tokens: self-contained, sealed with AES-256-GCM, naming the key that sealed them.

Any node holding the key ring validates a token without a database read: the token carries
everything a later request needs (who the session is, its secret, its expiry, its session
policies, tags, source identity, issuing endpoint type and Region, token version).

Wire layout (then standard base64, like AWS's tokens)::

    byte 0       format (0x01)
    byte 1       len(kid)
    kid          ASCII key id, e.g. "us-east-1/5f0c…"   -- authenticated, not secret
    12 bytes     nonce
    rest         AESGCM(key[kid]).encrypt(nonce, body, aad = bytes 0..kid)

``body`` is one flag byte (0 = plain, 1 = zlib) followed by compact JSON with short keys.
Compression is used for claims over 1 KiB (session policies, many tags), and only when it shrinks
the token: tokens must stay small (an EKS token built from a presigned URL that embeds the session
token must stay under 4096 bytes). Smaller claims are sealed as they are: deflating them cost ~5 %
of an AssumeRole for ~200 bytes, and the token stays well under AWS's own typical size.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
import zlib
from dataclasses import field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opensts.frozen import frozen

__all__ = ["SessionClaims", "TokenError", "seal_token", "open_token", "MAX_TOKEN_BYTES"]

FORMAT = 1
NONCE = 12
MAX_TOKEN_BYTES = 4096
_COMPRESS_OVER = 1024  # typical sessions (~450 bytes of claims) are not worth deflating


class TokenError(Exception):
    """The token is not one of ours, was tampered with, or names an unknown key."""


@frozen
class SessionClaims:
    """What a temporary credential is. Field order/short names define the sealed JSON."""

    access_key_id: str
    secret_access_key: str
    account_id: str
    principal_type: str  # Root | IAMUser | AssumedRole | FederatedUser
    arn: str
    user_id: str  # GetCallerIdentity's UserId
    name: str  # user name, role name or federated user name
    issued_at: int  # epoch seconds
    expires_at: int
    issuer_action: str  # the STS action that issued it
    endpoint_type: str = "regional"  # global | regional
    serving_region: str = "us-east-1"
    token_version: int = 2  # 1: valid only in Regions enabled by default; 2: everywhere
    parent_id: str | None = None  # IAM user id (GetSessionToken/GetFederationToken) or role id
    session_name: str | None = None
    session_policies: tuple[str, ...] = ()
    policy_arns: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated: bool = False
    mfa_auth_time: int | None = None
    chained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # room for later issues without a format bump


_SHORT = {
    "access_key_id": "a",
    "secret_access_key": "s",
    "account_id": "c",
    "principal_type": "t",
    "arn": "r",
    "user_id": "u",
    "name": "n",
    "issued_at": "i",
    "expires_at": "e",
    "issuer_action": "x",
    "endpoint_type": "ep",
    "serving_region": "rg",
    "token_version": "v",
    "parent_id": "p",
    "session_name": "sn",
    "session_policies": "sp",
    "policy_arns": "pa",
    "tags": "tg",
    "transitive_tag_keys": "tt",
    "source_identity": "si",
    "mfa_authenticated": "m",
    "mfa_auth_time": "mt",
    "chained": "ch",
    "extra": "z",
}
_LONG = {v: k for k, v in _SHORT.items()}
_TUPLES = {"session_policies", "policy_arns", "transitive_tag_keys"}
_DEFAULTS: dict[str, Any] = {"endpoint_type": "regional", "serving_region": "us-east-1", "token_version": 2}


_NO_DEFAULT = object()
#: (field, short name, is a tuple, default omitted from the token), in token order.
_FIELDS = tuple((name, short, name in _TUPLES, _DEFAULTS.get(name, _NO_DEFAULT)) for name, short in _SHORT.items())


def _encode_claims(claims: SessionClaims) -> bytes:
    """Compact JSON of the claims, leaving out what is empty or the default."""
    data: dict[str, Any] = {}
    for name, short, is_tuple, default in _FIELDS:
        value = getattr(claims, name)
        if value is None or value is False or value == default:
            continue
        if is_tuple:
            if value:
                data[short] = list(value)
        elif type(value) is not dict or value:
            data[short] = value
    return orjson.dumps(data)


def _decode_claims(raw: bytes) -> SessionClaims:
    data = orjson.loads(raw)
    kwargs = {_LONG[k]: (tuple(v) if _LONG[k] in _TUPLES else v) for k, v in data.items() if k in _LONG}
    return SessionClaims(**kwargs)


def seal_token(claims: SessionClaims, kid: str, key: bytes) -> str:
    """Seal ``claims`` under ``key`` (named ``kid``) into a base64 session token."""
    kid_bytes = kid.encode("ascii")
    header = bytes([FORMAT, len(kid_bytes)]) + kid_bytes
    body = _encode_claims(claims)
    packed = _deflate(body) if len(body) > _COMPRESS_OVER else b""
    plaintext = b"\x01" + packed if packed and len(packed) < len(body) else b"\x00" + body
    nonce = secrets.token_bytes(NONCE)
    sealed = _aead(key).encrypt(nonce, plaintext, header)
    return base64.b64encode(header + nonce + sealed).decode("ascii")


@functools.lru_cache(maxsize=64)
def _aead(key: bytes) -> AESGCM:
    """One AESGCM object per key: building one runs the AES key schedule (a key ring holds a
    handful of keys)."""
    return AESGCM(key)


def _deflate(body: bytes) -> bytes:
    """Raw deflate with a 4 KiB window and small hash tables: tokens are under 4 KiB, and
    zlib's defaults (32 KiB window, 256 KiB of state) cost ~8x more per call in allocation
    than the compression itself, for the same output size. Decoded by ``zlib.decompress(…, -15)``."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -12, 5)
    return packer.compress(body) + packer.flush()


def token_kid(token: str) -> str:
    """The key id a token names (authenticated later by ``open_token``)."""
    raw = _b64(token)
    if len(raw) < 2 or raw[0] != FORMAT or len(raw) < 2 + raw[1] + NONCE + 16:
        raise TokenError("not an OpenSTS session token")
    try:
        return raw[2 : 2 + raw[1]].decode("ascii")
    except UnicodeDecodeError as exc:
        raise TokenError("bad key id") from exc


def open_token(token: str, key: bytes) -> SessionClaims:
    """Authenticate and decrypt ``token`` with ``key``; TokenError if anything is off."""
    raw = _b64(token)
    header_len = 2 + raw[1]
    header, nonce, sealed = raw[:header_len], raw[header_len : header_len + NONCE], raw[header_len + NONCE :]
    try:
        plaintext = _aead(key).decrypt(nonce, sealed, header)
    except InvalidTag as exc:
        raise TokenError("token authentication failed") from exc
    body = zlib.decompress(plaintext[1:], -15) if plaintext[:1] == b"\x01" else plaintext[1:]
    try:
        return _decode_claims(body)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise TokenError("token payload unreadable") from exc


def _b64(token: str) -> bytes:
    if len(token) > 2 * MAX_TOKEN_BYTES:
        raise TokenError("token too long")
    try:
        return base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenError("token is not base64") from exc
