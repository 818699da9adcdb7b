"""Identifiers in AWS's formats: access key ids, unique ids, secrets, ARNs.

Access key ids follow AWS's own layout, in which the owning account is encoded in the
id itself: ``PREFIX`` + 16 base32 characters (10 bytes). Bits 7..46 of the first six bytes
carry the 12-digit account id; the rest is random. That is why ``GetAccessKeyInfo`` can
answer for any key, issued here or not, without a database read: the account is a pure
function of the id, exactly as on AWS.
"""

from __future__ import annotations

import base64
import binascii
import re
import os
import secrets

from opensts.fastrand import base32_upper

__all__ = [
    "ACCOUNT_ID_RE",
    "new_access_key_id",
    "account_of_access_key",
    "new_secret_access_key",
    "new_unique_id",
    "new_account_id",
    "root_arn",
    "user_arn",
    "role_arn",
    "assumed_role_arn",
    "federated_user_arn",
    "parse_arn",
]

ACCOUNT_ID_RE = re.compile(r"^\d{12}\Z", re.ASCII)
_ACCOUNT_MASK = 0x7FFFFFFFFF80
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)  # 10 bits -> two base32 characters


def new_access_key_id(prefix: str, account_id: str) -> str:
    """A 20-character key id (``AKIA…`` or ``ASIA…``) that encodes ``account_id``."""
    account = int(account_id)
    rnd = os.urandom(5)
    head = ((rnd[0] & 1) << 47) | (account << 7) | (rnd[0] >> 1)
    n = (head << 32) | int.from_bytes(rnd[1:], "big")  # the 80 bits, base32-encoded below
    p = _B32_PAIRS
    return (prefix + p[n >> 70] + p[(n >> 60) & 1023] + p[(n >> 50) & 1023] + p[(n >> 40) & 1023]
            + p[(n >> 30) & 1023] + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023])


def account_of_access_key(access_key_id: str) -> str | None:
    """The 12-digit account encoded in an access key id, or None if the id is not decodable."""
    body = access_key_id[4:]
    if len(body) != 16 or any(c not in _B32 for c in body):
        return None
    try:
        raw = base64.b32decode(body)
    except (binascii.Error, ValueError):
        return None
    account = (int.from_bytes(raw[:6], "big") & _ACCOUNT_MASK) >> 7
    return f"{account:012d}"


def new_secret_access_key() -> str:
    """40 characters from the base64 alphabet (240 random bits), like AWS's secrets."""
    return base64.b64encode(os.urandom(30)).decode("ascii")


def new_unique_id(prefix: str) -> str:
    """A 21-character unique id such as ``AIDA…`` (users) or ``AROA…`` (roles)."""
    return prefix + base32_upper(17)


def new_account_id() -> str:
    """A random 12-digit account id that does not start with 0."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def root_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def user_arn(partition: str, account_id: str, path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:user{path}{name}"


def role_arn(partition: str, account_id: str, path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role{path}{name}"


def assumed_role_arn(partition: str, account_id: str, role_name: str, session: str) -> str:
    """Session ARNs omit the role's path, as AWS's do."""
    return f"arn:{partition}:sts::{account_id}:assumed-role/{role_name}/{session}"


def federated_user_arn(partition: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:sts::{account_id}:federated-user/{name}"


def parse_arn(arn: str) -> tuple[str, str, str, str, str] | None:
    """(partition, service, region, account, resource), or None if ``arn`` is not an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[1], parts[2], parts[3], parts[4], parts[5]
