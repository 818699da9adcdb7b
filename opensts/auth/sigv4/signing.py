"""Tasks 2 and 3 of the spec: the string to sign, the derived signing key (cached per scope day)
and the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

from opensts.auth._canonical import wire_bytes
from opensts.auth.sigv4.request import ALGORITHM, TERMINATOR, SigV4Auth, _amz_date

def string_to_sign(auth: SigV4Auth, canonical_request: str) -> str:
    """Step 7: algorithm, request date, credential scope, hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(wire_bytes(canonical_request)).hexdigest()
    return (
        f"{ALGORITHM}\n{_amz_date(auth.request_time)}\n"
        f"{auth.scope_date}/{auth.region}/{auth.service}/{TERMINATOR}\n{digest}"
    )


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Step 8a: HMAC chain ``AWS4<secret>`` -> date -> region -> service -> ``aws4_request``."""
    key = hmac.digest(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def signature(key: bytes, sts: str) -> str:
    """Step 8b: lower-case hex HMAC-SHA256 of the string to sign."""
    return hmac.digest(key, sts.encode("utf-8"), "sha256").hex()


class SigningKeyCache:
    """Bounded LRU of derived signing keys per (secret, date, region, service).

    A key is valid for one scope day, so a hit saves four HMACs on every request of the day.  Next
    to the key it keeps an HMAC object already keyed with it: copying that is cheaper than keying a
    fresh HMAC for the final signature.  A lock guards the dict so worker threads may share one
    instance; under asyncio it is uncontended.
    """

    __slots__ = ("_maxsize", "_entries", "_lock")

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, str, str], tuple[bytes, hmac.HMAC]] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, secret: str, date: str, region: str, service: str) -> tuple[bytes, hmac.HMAC]:
        ident = (secret, date, region, service)
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None:
                self._entries.move_to_end(ident)
                return entry
        key = signing_key(secret, date, region, service)
        entry = (key, hmac.new(key, digestmod=hashlib.sha256))
        with self._lock:
            self._entries[ident] = entry
            if len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return entry

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        return self._entry(secret, date, region, service)[0]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:  # never show the secrets held as keys
        return f"SigningKeyCache(size={len(self._entries)}, maxsize={self._maxsize})"
