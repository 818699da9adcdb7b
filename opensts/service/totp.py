"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s), as AWS virtual MFA uses.

``matching_step`` returns the time step a code belongs to (within ±1 step of now), so callers
can refuse a step already used (replay protection lives in the store, atomically).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

__all__ = ["code_at", "matching_step", "STEP"]

STEP = 30
DIGITS = 6


def _key(seed_base32: str) -> bytes:
    padded = seed_base32.strip().upper() + "=" * (-len(seed_base32.strip()) % 8)
    return base64.b32decode(padded)


def code_at(seed_base32: str, step: int) -> str:
    digest = hmac.new(_key(seed_base32), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**DIGITS:0{DIGITS}d}"


def matching_step(seed_base32: str, code: str, now: float, window: int = 1) -> int | None:
    """The step (now ±window) whose code equals ``code``, compared in constant time."""
    current = int(now) // STEP
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(code_at(seed_base32, step), code):
            found = step
    return found
