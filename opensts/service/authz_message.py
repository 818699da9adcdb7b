"""Encoded authorization messages: what a denied request carries, what
DecodeAuthorizationMessage reveals to a principal allowed ``sts:DecodeAuthorizationMessage``.

The message is AWS's decoded JSON shape (``allowed``, ``explicitDeny``, ``matchedStatements``,
``failures``, ``context{principal, action, resource, conditions}``) plus the policy engine's
trace under ``trace``, sealed with AES-GCM under the key ring, so only this deployment can read
it and nobody can forge one. It is returned in the response header
``x-amz-encoded-authorization-message`` of denials, leaving AWS's error text unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opensts.auth.keyring import KeyRing
from opensts.protocol.errors import ServiceError

__all__ = ["AuthorizationMessages", "InvalidAuthorizationMessage", "HEADER"]

HEADER = "x-amz-encoded-authorization-message"
_REGION = "authz-messages"
_TTL = 24 * 3600
_FORMAT = 2


class InvalidAuthorizationMessage(ServiceError):
    code = "InvalidAuthorizationMessageException"
    status = 400


class AuthorizationMessages:
    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    def encode(self, ctx: Any, decision: Any) -> str:
        principal = ctx.principal
        conditions = [
            {"key": key, "values": {"items": [{"value": str(v)} for v in (value if isinstance(value, (list, tuple)) else [value])]}}
            for key, value in sorted(ctx.keys.items())
        ]
        trace = decision.trace.to_dict() if decision.trace is not None else None
        matched = [s for p in (trace or {}).get("policies", []) for s in p.get("statements", []) if s.get("matched")]
        body = {
            "allowed": decision.allowed,
            "explicitDeny": decision.explicit,
            "matchedStatements": {"items": matched},
            "failures": {"items": []},
            "context": {
                "principal": {"id": principal.id, "name": (principal.arn or "").rsplit("/", 1)[-1], "arn": principal.arn},
                "action": ctx.action,
                "resource": ctx.resource,
                "conditions": {"items": conditions},
            },
            "trace": trace,
            "account": principal.account,
            "iat": int(time.time()),
        }
        kid = self._keyring.current_kid(_REGION)
        header = bytes([_FORMAT, len(kid)]) + kid.encode()
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keyring.key(kid)).encrypt(nonce, json.dumps(body, separators=(",", ":")).encode(), header)
        return base64.urlsafe_b64encode(header + nonce + sealed).decode().rstrip("=")

    def decode(self, message: str, account_id: str) -> str:
        invalid = InvalidAuthorizationMessage("The encoded authorization message is invalid or has expired.")
        try:
            raw = base64.urlsafe_b64decode(message + "=" * (-len(message) % 4))
            if raw[0] != _FORMAT:
                raise invalid
            kid_len = raw[1]
            header, rest = raw[: 2 + kid_len], raw[2 + kid_len :]
            key = self._keyring.key(header[2:].decode())
            body = json.loads(AESGCM(key).decrypt(rest[:12], rest[12:], header))
        except (binascii.Error, ValueError, IndexError, KeyError, InvalidTag, UnicodeDecodeError) as exc:
            raise invalid from exc
        if body.pop("account", None) != account_id or time.time() - body.pop("iat", 0) > _TTL:
            raise invalid
        return json.dumps(body, separators=(",", ":"))
