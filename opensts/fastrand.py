"""Fast random identifiers from one ``os.urandom`` call each (the CSPRNG, no per-character
Python loop): the request path mints several per request, and ``secrets.choice`` per character
was measured at ~18% of a worker's time under load."""

from __future__ import annotations

import base64
import os
import random

__all__ = ["request_id", "alnum", "base32_upper"]

_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_BITS = (0x4 << 76) | (0x2 << 62)
_random = random.Random()  # reseeded from os.urandom at start and after fork (see below)
os.register_at_fork(after_in_child=_random.seed)


def request_id() -> str:
    """A random (version 4) UUID string, lower case, like AWS's request ids.

    Ids need uniqueness, not secrecy: they come from ``random`` (seeded from the OS, reseeded in
    every forked worker by the standard library), which is ~10x cheaper than a syscall."""
    h = ((_random.getrandbits(128) & _UUID_MASK) | _UUID_BITS).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: byte → one of the 62 characters: ``translate`` maps random bytes in one C call (the slight
#: bias, 5 of 256 vs 4 of 256, is no matter for an identifier that is not a secret)
_ALNUM_TABLE = bytes(_ALNUM[b % 62] for b in range(256))


def alnum(n: int) -> str:
    """``n`` characters from [A-Za-z0-9] (an id, not a secret: from ``random``)."""
    return _random.randbytes(n).translate(_ALNUM_TABLE).decode()


def base32_upper(n: int) -> str:
    """``n`` characters from the base32 alphabet [A-Z2-7]."""
    return base64.b32encode(os.urandom((n * 5 + 7) // 8 + 1)).decode()[:n]
