"""First start: the default account, its administrator key, and the credentials file.

Deterministic when ``OPENSTS_ACCOUNT_ID`` / ``OPENSTS_ADMIN_ACCESS_KEY_ID`` /
``OPENSTS_ADMIN_SECRET_ACCESS_KEY`` are set (CI, tests, docker-compose files); otherwise the
values are generated, printed once, and kept in ``DATA_DIR/credentials`` (mode 0600, AWS
shared-credentials format, profile ``opensts``) so that later starts can point at it.
"""

from __future__ import annotations

import os
from pathlib import Path

from opensts.frozen import frozen
from opensts.private_files import FILE_MODE, narrow, write_private_file
from opensts.service.accounts import ADMIN_POLICY, AccountKey, create_account
from opensts.service.identifiers import new_account_id, new_unique_id
from opensts.store.repository import Repository

__all__ = ["BootstrapResult", "bootstrap", "describe", "CREDENTIALS_FILE", "PROFILE"]

CREDENTIALS_FILE = "credentials"
PROFILE = "opensts"


@frozen
class BootstrapResult:
    account_id: str
    access_key_id: str
    created: AccountKey | None  # set when this start created the key (its secret is shown once)
    credentials_file: Path


def bootstrap(repo: Repository, data_dir: Path) -> BootstrapResult:
    """Ensure the default account and its admin key exist; return how to use them."""
    env_account = os.environ.get("OPENSTS_ACCOUNT_ID")
    env_key = os.environ.get("OPENSTS_ADMIN_ACCESS_KEY_ID")
    env_secret = os.environ.get("OPENSTS_ADMIN_SECRET_ACCESS_KEY")
    if bool(env_key) != bool(env_secret):
        raise SystemExit("OPENSTS_ADMIN_ACCESS_KEY_ID and OPENSTS_ADMIN_SECRET_ACCESS_KEY go together")
    cred_file = data_dir / CREDENTIALS_FILE
    accounts = repo.list_accounts()
    account_id = env_account or (accounts[0].id if accounts else new_account_id())
    created: AccountKey | None = None
    if repo.get_account(account_id) is None:
        created = create_account(repo, account_id, "default", admin_key_id=env_key, admin_secret=env_secret)
    elif env_key and repo.get_access_key(env_key) is None:
        created = _add_admin_key(repo, account_id, env_key, env_secret or "")
    if created is not None:
        _write_credentials(cred_file, created)
        return BootstrapResult(account_id, created.access_key_id, created, cred_file)
    narrow(cred_file, FILE_MODE)  # one written wider by an older version
    return BootstrapResult(account_id, env_key or _key_in_file(cred_file), None, cred_file)


def describe(repo: Repository, data_dir: Path) -> BootstrapResult:
    """What ``bootstrap`` would report, without writing (a fleet node on a read-only replica:
    the first node on the primary bootstrapped the account, ``OPENSTS_ADMIN_*`` included)."""
    accounts = repo.list_accounts()
    account_id = os.environ.get("OPENSTS_ACCOUNT_ID") or (accounts[0].id if accounts else "(none yet)")
    cred_file = data_dir / CREDENTIALS_FILE
    return BootstrapResult(account_id, os.environ.get("OPENSTS_ADMIN_ACCESS_KEY_ID") or _key_in_file(cred_file),
                           None, cred_file)


def _add_admin_key(repo: Repository, account_id: str, key_id: str, secret: str) -> AccountKey:
    user = repo.get_user_by_name(account_id, "admin")
    if user is None:
        user = repo.create_user(new_unique_id("AIDA"), account_id, "admin")
        repo.put_user_policy(user.id, "AdministratorAccess", ADMIN_POLICY)
    repo.create_access_key(key_id, account_id, user.id, secret)
    return AccountKey(account_id, "admin", key_id, secret)


def _write_credentials(path: Path, key: AccountKey) -> None:
    text = (
        f"# OpenSTS administrator of account {key.account_id} (IAM user {key.user_name})\n"
        f"[{PROFILE}]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
    )
    write_private_file(path, text.encode())


def _key_in_file(path: Path) -> str:
    if not path.exists():
        return "(see your own records)"
    for line in path.read_text().splitlines():
        if line.startswith("aws_access_key_id"):
            return line.split("=", 1)[1].strip()
    return "(unknown)"
