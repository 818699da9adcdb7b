"""Accounts and their first principals: the bootstrap account, `opensts account create`.

An account is born with an IAM user ``admin`` holding full administrator rights (an inline
policy allowing ``*`` on ``*``) and one access key; its root user gets a key only on request.
"""

from __future__ import annotations

import json

from opensts.frozen import frozen
from opensts.service.identifiers import (
    ACCOUNT_ID_RE,
    new_access_key_id,
    new_secret_access_key,
    new_unique_id,
)
from opensts.store.repository import Repository

__all__ = ["AccountKey", "create_account", "create_root_key", "ADMIN_POLICY", "InvalidAccountId"]

ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    separators=(",", ":"),
)


class InvalidAccountId(ValueError):
    """Account ids are exactly 12 digits."""


@frozen
class AccountKey:
    account_id: str
    user_name: str | None  # None for the root user
    access_key_id: str
    secret_access_key: str

    def as_json(self) -> dict[str, str]:
        out = {"AccountId": self.account_id, "AccessKeyId": self.access_key_id}
        out["SecretAccessKey"] = self.secret_access_key
        if self.user_name:
            out["UserName"] = self.user_name
        return out


def create_account(
    repo: Repository,
    account_id: str,
    name: str | None = None,
    *,
    admin_key_id: str | None = None,
    admin_secret: str | None = None,
) -> AccountKey:
    """Create ``account_id`` with its ``admin`` user and that user's access key."""
    if not ACCOUNT_ID_RE.match(account_id):
        raise InvalidAccountId(f"account id must be 12 digits, got {account_id!r}")
    repo.create_account(account_id, name or f"account-{account_id}")
    user = repo.create_user(new_unique_id("AIDA"), account_id, "admin")
    repo.put_user_policy(user.id, "AdministratorAccess", ADMIN_POLICY)
    key_id = admin_key_id or new_access_key_id("AKIA", account_id)
    secret = admin_secret or new_secret_access_key()
    repo.create_access_key(key_id, account_id, user.id, secret)
    return AccountKey(account_id, "admin", key_id, secret)


def create_root_key(repo: Repository, account_id: str) -> AccountKey:
    """An access key for the account's root user (AWS discourages them; tests need one)."""
    key_id = new_access_key_id("AKIA", account_id)
    secret = new_secret_access_key()
    repo.create_access_key(key_id, account_id, None, secret)
    return AccountKey(account_id, None, key_id, secret)
