"""Password hashing and the account password policy's rules (pure: no I/O).

Passwords (console passwords, service-specific credentials) are stored only as salted scrypt
hashes: a stolen database gives no password, and each guess costs ~16 MiB and tens of
milliseconds. Verification compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from opensts.store.credentials_repository import PasswordPolicyRecord

__all__ = ["hash_password", "verify_password", "violation", "SYMBOLS", "DEFAULT_MINIMUM_LENGTH"]

_N, _R, _P, _LEN = 2**14, 8, 1, 32
#: The symbols AWS's password policy counts (IAM User Guide, "Setting an account password policy").
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
#: UpdateAccountPasswordPolicy's default MinimumPasswordLength (API reference).
DEFAULT_MINIMUM_LENGTH = 6
#: Without a custom policy AWS applies its default: 8 characters, 3 of the 4 character types.
_AWS_DEFAULT_LENGTH = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return "scrypt${}${}${}${}${}".format(_N, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _kinds(password: str) -> dict[str, bool]:
    return {
        "upper": any("A" <= ch <= "Z" for ch in password),
        "lower": any("a" <= ch <= "z" for ch in password),
        "number": any("0" <= ch <= "9" for ch in password),
        "symbol": any(ch in SYMBOLS for ch in password),
    }


def violation(password: str, policy: PasswordPolicyRecord | None) -> str | None:
    """AWS's PasswordPolicyViolation message for the first rule ``password`` breaks, or None.
    Never quotes the password."""
    kinds = _kinds(password)
    if policy is None:
        if len(password) < _AWS_DEFAULT_LENGTH:
            return f"Password should have a minimum length of {_AWS_DEFAULT_LENGTH}"
        if sum(kinds.values()) < 3:
            return ("Password should have at least three of the following character types: uppercase letters, "
                    "lowercase letters, numbers and symbols")
        return None
    if len(password) < policy.minimum_length:
        return f"Password should have a minimum length of {policy.minimum_length}"
    rules = (
        (policy.require_uppercase, "upper", "Password should have at least one uppercase letter"),
        (policy.require_lowercase, "lower", "Password should have at least one lowercase letter"),
        (policy.require_numbers, "number", "Password should have at least one number"),
        (policy.require_symbols, "symbol", "Password should have at least one symbol"),
    )
    for required, kind, message in rules:
        if required and not kinds[kind]:
            return message
    return None
