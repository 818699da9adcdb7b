"""Many IAM entities at once, written straight into a store (one multi-row INSERT per table):
the listing tests and bench/scale_lists.py need thousands of roles or policies, and thousands
of API calls would take minutes. Rows are what the repository itself writes."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from sqlalchemy import Engine, insert, text

from opensts.store import tables as t

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*",
                                                                "Resource": "*"}]})
_BATCH = 5000


def _ident(prefix: str) -> str:
    return prefix + secrets.token_hex(8).upper()


def _insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    """On PostgreSQL, then ANALYZE the table: what autovacuum does within a minute of a bulk load
    (autovacuum_naptime) — measured before it, the planner still believes the table holds the
    few rows it last counted and sorts the account's whole range instead of reading the index in
    order (a first page of 50,000 roles: 17-21 ms, then 3-4 ms)."""
    with engine.begin() as conn:
        for start in range(0, len(rows), _BATCH):
            conn.execute(insert(table), rows[start:start + _BATCH])
        if engine.dialect.name == "postgresql":
            conn.execute(text(f'ANALYZE "{table.name}"'))


def name(prefix: str, i: int) -> str:
    """Names whose case alternates, so the listing's order (by lower-cased name) is tested."""
    return f"{prefix.upper() if i % 2 else prefix}-{i:06d}"


def roles(engine: Engine, account: str, count: int, prefix: str = "role", path: str = "/") -> list[dict[str, Any]]:
    now = int(time.time())
    rows = [dict(id=_ident("AROA"), account_id=account, name=name(prefix, i), name_lower=name(prefix, i).lower(),
                 path=path, trust_policy=TRUST, description=None, max_session_duration=3600,
                 permissions_boundary_arn=None, created_at=now, trust_principal_ids="{}") for i in range(count)]
    _insert(engine, t.roles, rows)
    return rows


def users(engine: Engine, account: str, count: int, prefix: str = "user", path: str = "/") -> list[dict[str, Any]]:
    now = int(time.time())
    rows = [dict(id=_ident("AIDA"), account_id=account, name=name(prefix, i), name_lower=name(prefix, i).lower(),
                 path=path, created_at=now) for i in range(count)]
    _insert(engine, t.users, rows)
    return rows


def groups(engine: Engine, account: str, count: int, prefix: str = "group", path: str = "/") -> list[dict[str, Any]]:
    now = int(time.time())
    rows = [dict(id=_ident("AGPA"), account_id=account, name=name(prefix, i), name_lower=name(prefix, i).lower(),
                 path=path, created_at=now) for i in range(count)]
    _insert(engine, t.iam_groups, rows)
    return rows


def instance_profiles(engine: Engine, account: str, count: int, prefix: str = "profile", path: str = "/") -> list[dict[str, Any]]:
    now = int(time.time())
    rows = [dict(id=_ident("AIPA"), account_id=account, name=name(prefix, i), name_lower=name(prefix, i).lower(),
                 path=path, created_at=now) for i in range(count)]
    _insert(engine, t.instance_profiles, rows)
    return rows


def policies(engine: Engine, account: str, count: int, prefix: str = "policy", path: str = "/") -> list[dict[str, Any]]:
    """Customer managed policies with their one version (names lower case: the order of names
    by the database's collation is then the same on SQLite and PostgreSQL)."""
    now = int(time.time())
    rows, versions = [], []
    for i in range(count):
        policy_name = f"{prefix}{i:06d}"
        arn = f"arn:aws:iam::{account}:policy{path}{policy_name}"
        rows.append(dict(arn=arn, id=_ident("ANPA"), account_id=account, name=policy_name, path=path,
                         description=None, default_version="v1", next_version=2, created_at=now, updated_at=now))
        versions.append(dict(policy_arn=arn, version_id="v1", document=DOCUMENT, created_at=now))
    _insert(engine, t.managed_policies, rows)
    _insert(engine, t.policy_versions, versions)
    return rows


def mfa_devices(engine: Engine, account: str, count: int, prefix: str = "mfa",
                user_id: str | None = None) -> list[dict[str, Any]]:
    """Virtual MFA devices, unassigned or ``user_id``'s (their sealed seed is never opened by a
    listing)."""
    now = int(time.time())
    rows = [dict(serial=f"arn:aws:iam::{account}:mfa/{name(prefix, i)}", account_id=account, name=name(prefix, i),
                 path="/", seed_sealed=b"unused", user_id=user_id, enabled_at=None if user_id is None else now,
                 last_step=0, created_at=now)
            for i in range(count)]
    _insert(engine, t.mfa_devices, rows)
    return rows


def members(engine: Engine, group_id: str, user_ids: list[str]) -> None:
    """As AddUserToGroup writes them: with the user's name_lower (GetGroup's order)."""
    _insert(engine, t.group_members, [dict(group_id=group_id, user_id=u, added_at=int(time.time())) for u in user_ids])
    with engine.begin() as conn:
        conn.execute(text("UPDATE group_members SET user_name_lower = (SELECT name_lower FROM users "
                          "WHERE users.id = group_members.user_id) WHERE group_id = :g"), {"g": group_id})


def attach(engine: Engine, kind: str, entity_ids: list[str], arn: str) -> None:
    _insert(engine, t.policy_attachments, [dict(entity_type=kind, entity_id=e, policy_arn=arn) for e in entity_ids])


def profile_roles(engine: Engine, role_id: str, profile_ids: list[str]) -> None:
    """As AddRoleToInstanceProfile writes them: with the profile's name_lower (the role's order)."""
    _insert(engine, t.instance_profile_roles, [dict(profile_id=p, role_id=role_id) for p in profile_ids])
    with engine.begin() as conn:
        conn.execute(text("UPDATE instance_profile_roles SET profile_name_lower = (SELECT name_lower FROM "
                          "instance_profiles WHERE instance_profiles.id = instance_profile_roles.profile_id) "
                          "WHERE role_id = :r"), {"r": role_id})


def delegation_requests(engine: Engine, owner_account: str, count: int) -> list[dict[str, Any]]:
    """Delegation requests sent to ``owner_account``'s root (state PENDING)."""
    now = int(time.time())
    document = json.dumps({"Description": "d", "Permissions": {}, "PermissionPolicy": "{}", "SessionDuration": 3600})
    rows = [dict(id=f"dr-{i:012d}", requestor_account_id="210987654321", requestor_workflow_id=f"wf-{i}",
                 owner_account_id=owner_account, owner_id=f"arn:aws:iam::{owner_account}:root", approver_id=None,
                 state="PENDING", document=document, notes=None, rejection_reason=None, token_hash=None,
                 created_at=now + i % 5, updated_at=now, expires_at=now + 86400) for i in range(count)]
    _insert(engine, t.delegation_requests, rows)
    return rows
