"""IAM entities in the store: roles, managed policies, attachments, tags, identity providers,
virtual MFA devices and per-account STS settings.

Mixed into ``SqlRepository``; like the rest of the store it speaks in records, never in IAM
rules (which live in ``service/iam/``). Every write bumps the generation (cache coherence).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import field
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, bindparam, delete, func, insert, select, update

from opensts.frozen import frozen
from opensts.store import tables as t
from opensts.store.prepared import run
from opensts.store.locking import EntityAlreadyExists, LimitReached, StaleState, lock_row

__all__ = [
    "RoleRecord",
    "PolicyRecord",
    "PolicyVersionRecord",
    "OidcProviderRecord",
    "SamlProviderRecord",
    "MfaDeviceRecord",
    "IamRepositoryMixin",
]


@frozen
class RoleRecord:
    id: str
    account_id: str
    name: str
    path: str
    trust_policy: str
    description: str | None
    max_session_duration: int
    permissions_boundary_arn: str | None
    created_at: int
    tags: dict[str, str] = field(default_factory=dict)
    trust_principal_ids: dict[str, str] = field(default_factory=dict)


@frozen
class PolicyRecord:
    arn: str
    id: str
    account_id: str | None
    name: str
    path: str
    description: str | None
    default_version: str
    created_at: int
    updated_at: int
    attachment_count: int = 0
    boundary_usage_count: int | None = None  # read with the record by a listing page (None: not read)


@frozen
class PolicyVersionRecord:
    policy_arn: str
    version_id: str
    document: str
    created_at: int
    is_default: bool


@frozen
class OidcProviderRecord:
    arn: str
    account_id: str
    url: str
    client_ids: list[str]
    thumbprints: list[str]
    created_at: int


@frozen
class SamlProviderRecord:
    arn: str
    account_id: str
    name: str
    metadata_document: str
    valid_until: int | None
    created_at: int


@frozen
class MfaDeviceRecord:
    serial: str
    account_id: str
    name: str
    path: str
    seed: str  # base32 TOTP seed, decrypted
    user_id: str | None
    enabled_at: int | None
    last_step: int
    created_at: int


#: The row that owns an entity's tags (whose lock serializes TagUser/TagRole …).
_TAGGED: dict[str, Table] = {"user": t.users, "role": t.roles, "policy": t.managed_policies,
                             "oidc": t.oidc_providers, "saml": t.saml_providers, "mfa": t.mfa_devices,
                             "instprof": t.instance_profiles, "servcert": t.server_certificates}
_ATTACHED_TO: dict[str, Table] = {"user": t.users, "role": t.roles, "group": t.iam_groups}

# The reads every IAM write of these entities starts with, built once and executed with their
# parameters: SQLAlchemy computes a statement's cache key once per statement object, and for a
# small statement that is about half of its cost (bench/iam_write_cost.py).
_TAGS_OF = select(t.tags).where(t.tags.c.entity_type == bindparam("entity_type"),
                                t.tags.c.entity_id == bindparam("entity_id"))
_ROLE_ROWS = (select(t.roles, t.tags.c.key.label("tag_key"), t.tags.c.value.label("tag_value"))
              .select_from(t.roles.outerjoin(t.tags, and_(t.tags.c.entity_type == "role",
                                                          t.tags.c.entity_id == t.roles.c.id))))
_ROLE_BY_NAME = _ROLE_ROWS.where(t.roles.c.account_id == bindparam("account_id"),
                                 t.roles.c.name_lower == bindparam("name_lower"))
_ROLE_BY_ID = _ROLE_ROWS.where(t.roles.c.id == bindparam("role_id"))
_ROLE_POLICIES = select(t.role_policies).where(t.role_policies.c.role_id == bindparam("role_id"))
# (the change log pins a write's entity from its top-level ``col = value`` terms: terms, not and_())
_TAG_KEY = (t.tags.c.entity_type == bindparam("entity_type"), t.tags.c.entity_id == bindparam("entity_id"))
_DELETE_TAG_KEYS = delete(t.tags).where(*_TAG_KEY, t.tags.c.key_lower.in_(bindparam("keys", expanding=True)))
_INSERT_TAGS = insert(t.tags)
_TAG_COUNT = select(func.count()).select_from(t.tags).where(*_TAG_KEY)
_DELETE_ROLE_POLICY = delete(t.role_policies).where(t.role_policies.c.role_id == bindparam("role_id"),
                                                    t.role_policies.c.name == bindparam("name"))
_INSERT_ROLE_POLICY = insert(t.role_policies)
_ATTACHMENT = (t.policy_attachments.c.entity_type == bindparam("entity_type"),
               t.policy_attachments.c.entity_id == bindparam("entity_id"))
_DETACH = delete(t.policy_attachments).where(*_ATTACHMENT, t.policy_attachments.c.policy_arn == bindparam("policy_arn"))
_ATTACH = insert(t.policy_attachments)
_ATTACHED_COUNT = select(func.count()).select_from(t.policy_attachments).where(*_ATTACHMENT)
_POLICY = select(t.managed_policies, select(func.count()).select_from(t.policy_attachments)
                 .where(t.policy_attachments.c.policy_arn == t.managed_policies.c.arn)
                 .scalar_subquery().label("attachment_count")).where(t.managed_policies.c.arn == bindparam("arn"))


class IamRepositoryMixin:
    """Methods for IAM entities; relies on ``engine``, ``_write``, ``_cipher`` of SqlRepository.

    Writes that a count limit or a generated id depends on take the parent row's lock first
    (``locked`` / ``_write_limited``, store/locking.py): the ``limit`` arguments are checked there.
    """

    engine: Any
    _reader: Any
    _cipher: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def locked(self, parent: Table, key: Any) -> Any:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def _write_limited(self, parent: Table, key: Any, count: Select[Any], limit: int,
                       *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def _write_under(self, parent: Table, key: Any, *statements: object) -> None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _count(table: Table, *conds: Any) -> Select[Any]:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def _rows(self, query: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """One read statement (SqlRepository's ``_reader``: no transaction of its own on PostgreSQL)."""
        with self._reader.connect() as conn:
            return list(conn.execute(query, params))

    def _first(self, query: Any, params: dict[str, Any] | None = None) -> Any:
        with self._reader.connect() as conn:
            return conn.execute(query, params).first()

    # -- account settings -----------------------------------------------------------------
    def global_endpoint_token_version(self, account_id: str) -> int:
        row = self._first(select(t.account_settings).where(t.account_settings.c.account_id == account_id))
        return int(row.global_endpoint_token_version) if row else 1

    def set_global_endpoint_token_version(self, account_id: str, version: int) -> None:
        self._write_under(
            t.accounts, account_id,
            delete(t.account_settings).where(t.account_settings.c.account_id == account_id),
            insert(t.account_settings).values(account_id=account_id, global_endpoint_token_version=version),
        )

    # -- tags -----------------------------------------------------------------------------
    def get_tags(self, entity_type: str, entity_id: str) -> dict[str, str]:
        rows = self._rows(_TAGS_OF, {"entity_type": entity_type, "entity_id": entity_id})
        return {r.key: r.value for r in rows}

    def _tag_statements(self, entity_type: str, entity_id: str, tags: dict[str, str]) -> list[Any]:
        """Set ``tags`` (keys case-insensitive: the last spelling wins): two statements however many."""
        if not tags:
            return []
        latest = {key.lower(): (key, value) for key, value in tags.items()}
        entity = {"entity_type": entity_type, "entity_id": entity_id}
        return [(_DELETE_TAG_KEYS, {**entity, "keys": list(latest)}),
                (_INSERT_TAGS, [{**entity, "key_lower": low, "key": key, "value": value}
                                for low, (key, value) in latest.items()])]

    def set_tags(self, entity_type: str, entity_id: str, tags: dict[str, str], limit: int | None = None) -> None:
        """Add or overwrite tags (keys case-insensitive, case-preserving); with ``limit``,
        LimitReached when the entity would then carry more tags (under the entity's row lock)."""
        statements = self._tag_statements(entity_type, entity_id, tags)
        if limit is None:
            self._write(*statements)
            return
        count = (_TAG_COUNT, {"entity_type": entity_type, "entity_id": entity_id})
        self._write_limited(_TAGGED[entity_type], entity_id, count, limit, *statements)

    def remove_tags(self, entity_type: str, entity_id: str, keys: Iterable[str]) -> None:
        c = t.tags.c
        lowered = [k.lower() for k in keys]
        self._write(
            delete(t.tags).where(c.entity_type == entity_type, c.entity_id == entity_id, c.key_lower.in_(lowered))
        )

    def _clear_tags(self, entity_type: str, entity_id: str) -> Any:
        return delete(t.tags).where(t.tags.c.entity_type == entity_type, t.tags.c.entity_id == entity_id)

    # -- roles ----------------------------------------------------------------------------
    def create_role(
        self,
        role_id: str,
        account_id: str,
        name: str,
        path: str,
        trust_policy: str,
        *,
        description: str | None = None,
        max_session_duration: int = 3600,
        permissions_boundary_arn: str | None = None,
        tags: dict[str, str] | None = None,
        trust_principal_ids: dict[str, str] | None = None,
    ) -> RoleRecord:
        now = int(time.time())
        self._write(
            insert(t.roles).values(
                trust_principal_ids=json.dumps(trust_principal_ids or {}),
                id=role_id,
                account_id=account_id,
                name=name,
                name_lower=name.lower(),
                path=path,
                trust_policy=trust_policy,
                description=description,
                max_session_duration=max_session_duration,
                permissions_boundary_arn=permissions_boundary_arn,
                created_at=now,
            ),
            *self._tag_statements("role", role_id, tags or {}),
        )
        return RoleRecord(
            role_id, account_id, name, path, trust_policy, description, max_session_duration,
            permissions_boundary_arn, now, dict(tags or {}), dict(trust_principal_ids or {}),
        )

    @staticmethod
    def _role_of(rows: list[Any]) -> RoleRecord | None:
        """The role of ``_ROLE_*``'s rows: one per tag (one with no tag for an untagged role)."""
        if not rows:
            return None
        row = rows[0]
        return RoleRecord(
            row.id, row.account_id, row.name, row.path, row.trust_policy, row.description,
            row.max_session_duration, row.permissions_boundary_arn, row.created_at,
            {r.tag_key: r.tag_value for r in rows if r.tag_key is not None},
            json.loads(row.trust_principal_ids or "{}"),
        )

    def get_role(self, account_id: str, name: str) -> RoleRecord | None:
        """The role with its tags: one query (every role write and AssumeRole load start here)."""
        return self._role_of(self._rows(_ROLE_BY_NAME, {"account_id": account_id, "name_lower": name.lower()}))

    def get_role_by_id(self, role_id: str) -> RoleRecord | None:
        return self._role_of(self._rows(_ROLE_BY_ID, {"role_id": role_id}))

    def list_roles(self, account_id: str, path_prefix: str = "/") -> list[RoleRecord]:
        """Every role of the account with its tags (two queries: store/list_repository.py)."""
        return self.roles_page(account_id, path_prefix, tags=True)  # type: ignore[attr-defined, no-any-return]

    def update_role(self, role_id: str, **values: Any) -> None:
        """Set any of: description, max_session_duration, trust_policy (+ trust_principal_ids),
        permissions_boundary_arn."""
        allowed = {"description", "max_session_duration", "trust_policy", "permissions_boundary_arn",
                   "trust_principal_ids"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"cannot update {bad}")
        if "trust_principal_ids" in values:
            values["trust_principal_ids"] = json.dumps(values["trust_principal_ids"] or {})
        self._write(update(t.roles).where(t.roles.c.id == role_id).values(**values))

    def _delete_if_bare(self, parent: Table, key: str, dependents: tuple[Select[Any], ...], *statements: Any) -> None:
        """Delete an entity under its row lock unless, by then, it has any of ``dependents`` (an
        access key, a policy … added since the caller checked): StaleState, nothing deleted."""
        with self.locked(parent, key) as conn:
            if any(run(conn, count).scalar_one() for count in dependents):
                raise StaleState(key)
            for stmt in statements:
                run(conn, stmt)

    def delete_role(self, role_id: str) -> None:
        """StaleState when the role has inline or attached policies (DeleteRole checked before)."""
        a = t.policy_attachments.c
        self._delete_if_bare(
            t.roles, role_id,
            (self._count(t.role_policies, t.role_policies.c.role_id == role_id),
             self._count(t.policy_attachments, a.entity_type == "role", a.entity_id == role_id)),
            self._clear_tags("role", role_id),
            delete(t.roles).where(t.roles.c.id == role_id),
        )

    # -- inline policies (roles; users' are in SqlRepository) -----------------------------
    def put_role_policy(self, role_id: str, name: str, document: str) -> None:
        key = {"role_id": role_id, "name": name}
        self._write_under(t.roles, role_id, (_DELETE_ROLE_POLICY, key), (_INSERT_ROLE_POLICY, {**key, "document": document}))

    def list_role_policies(self, role_id: str) -> dict[str, str]:
        rows = self._rows(_ROLE_POLICIES, {"role_id": role_id})
        return {r.name: r.document for r in sorted(rows, key=lambda r: r.name)}

    def delete_role_policy(self, role_id: str, name: str) -> None:
        c = t.role_policies.c
        self._write(delete(t.role_policies).where(c.role_id == role_id, c.name == name))

    def delete_user_policy(self, user_id: str, name: str) -> None:
        c = t.user_policies.c
        self._write(delete(t.user_policies).where(c.user_id == user_id, c.name == name))

    # -- users (beyond SqlRepository's) ---------------------------------------------------
    def list_users(self, account_id: str, path_prefix: str = "/") -> list[Any]:
        c = t.users.c
        query = select(t.users).where(c.account_id == account_id, c.path.startswith(path_prefix, autoescape=True))
        return self._rows(query.order_by(c.name_lower))

    def user_permissions_boundary(self, user_id: str) -> str | None:
        row = self._first(select(t.users.c.permissions_boundary_arn).where(t.users.c.id == user_id))
        return row[0] if row else None

    def set_user_permissions_boundary(self, user_id: str, arn: str | None) -> None:
        self._write(update(t.users).where(t.users.c.id == user_id).values(permissions_boundary_arn=arn))

    def delete_user(self, user_id: str) -> None:
        """StaleState when the user has inline or attached policies, access keys, an MFA device or groups
        (DeleteUser checked before; a key issued meanwhile is never deleted with the user)."""
        a = t.policy_attachments.c
        self._delete_if_bare(
            t.users, user_id,
            (self._count(t.user_policies, t.user_policies.c.user_id == user_id),
             self._count(t.access_keys, t.access_keys.c.user_id == user_id),
             self._count(t.policy_attachments, a.entity_type == "user", a.entity_id == user_id),
             self._count(t.mfa_devices, t.mfa_devices.c.user_id == user_id),
             self._count(t.group_members, t.group_members.c.user_id == user_id)),
            self._clear_tags("user", user_id),
            delete(t.users).where(t.users.c.id == user_id),
        )

    def list_access_keys(self, user_id: str | None, account_id: str) -> list[Any]:
        c = t.access_keys.c
        cond = c.user_id == user_id if user_id else and_(c.user_id.is_(None), c.account_id == account_id)
        return self._rows(select(c.id, c.status, c.created_at, c.user_id).where(cond).order_by(c.created_at))

    def delete_access_key(self, key_id: str) -> None:
        self._write(delete(t.access_keys).where(t.access_keys.c.id == key_id))

    # -- managed policies -----------------------------------------------------------------
    def create_policy(
        self, arn: str, policy_id: str, account_id: str | None, name: str, path: str,
        document: str, description: str | None = None, tags: dict[str, str] | None = None,
    ) -> PolicyRecord:
        """EntityAlreadyExists when the account has a policy of that name in any case and path
        (checked under the account's row lock: names are unique per account, not per ARN)."""
        now = int(time.time())
        statements = (
            insert(t.managed_policies).values(
                arn=arn, id=policy_id, account_id=account_id, name=name, path=path, description=description,
                default_version="v1", next_version=2, created_at=now, updated_at=now,
            ),
            insert(t.policy_versions).values(policy_arn=arn, version_id="v1", document=document, created_at=now),
            *self._tag_statements("policy", arn, tags or {}),
        )
        if account_id is None:  # AWS managed: seeded once, the ARN is the key
            self._write(*statements)
        else:
            c = t.managed_policies.c
            with self.locked(t.accounts, account_id) as conn:
                if conn.execute(select(c.arn).where(c.account_id == account_id,
                                                    func.lower(c.name) == name.lower())).first():
                    raise EntityAlreadyExists(t.managed_policies.name)
                for stmt in statements:
                    run(conn, stmt)
        return PolicyRecord(arn, policy_id, account_id, name, path, description, "v1", now, now, 0)

    def get_policy(self, arn: str) -> PolicyRecord | None:
        row = self._first(_POLICY, {"arn": arn})
        if row is None:
            return None
        return PolicyRecord(
            row.arn, row.id, row.account_id, row.name, row.path, row.description, row.default_version,
            row.created_at, row.updated_at, int(row.attachment_count),
        )

    def list_policies(self, account_id: str | None, *, include_aws: bool = True) -> list[PolicyRecord]:
        """The account's (and AWS's) managed policies by name, counts included (two queries)."""
        return self.policies_page(account_id, aws=include_aws)  # type: ignore[attr-defined, no-any-return]

    def delete_policy(self, arn: str) -> None:
        """Delete a policy with its one version; StaleState when, under its lock, it has more
        versions or attachments (created meanwhile: attaching takes the policy's lock too)."""
        with self.locked(t.managed_policies, arn) as conn:
            versions = conn.execute(self._count(t.policy_versions, t.policy_versions.c.policy_arn == arn)).scalar_one()
            attached = conn.execute(self._count(t.policy_attachments, t.policy_attachments.c.policy_arn == arn)).scalar_one()
            if versions > 1 or attached:
                raise StaleState(arn)
            for stmt in (delete(t.policy_versions).where(t.policy_versions.c.policy_arn == arn),
                         self._clear_tags("policy", arn),
                         delete(t.managed_policies).where(t.managed_policies.c.arn == arn)):
                run(conn, stmt)

    def policy_versions(self, arn: str) -> list[PolicyVersionRecord]:
        policy = self.get_policy(arn)
        if policy is None:
            return []
        rows = self._rows(select(t.policy_versions).where(t.policy_versions.c.policy_arn == arn))
        return [
            PolicyVersionRecord(arn, r.version_id, r.document, r.created_at, r.version_id == policy.default_version)
            for r in sorted(rows, key=lambda r: int(r.version_id[1:]), reverse=True)
        ]

    def get_policy_version(self, arn: str, version_id: str) -> PolicyVersionRecord | None:
        return next((v for v in self.policy_versions(arn) if v.version_id == version_id), None)

    def default_policy_document(self, arn: str) -> str | None:
        return next((v.document for v in self.policy_versions(arn) if v.is_default), None)

    def create_policy_version(self, arn: str, document: str, set_default: bool, limit: int) -> str:
        """The next version id (v1…vN, never reused), allocated under the policy's row lock;
        LimitReached when the policy already has ``limit`` versions."""
        with self.locked(t.managed_policies, arn) as conn:
            if conn.execute(self._count(t.policy_versions, t.policy_versions.c.policy_arn == arn)).scalar_one() >= limit:
                raise LimitReached(limit)
            number = conn.execute(select(t.managed_policies.c.next_version)
                                  .where(t.managed_policies.c.arn == arn)).scalar_one()
            version, now = f"v{number}", int(time.time())
            values: dict[str, Any] = {"next_version": number + 1, "updated_at": now}
            if set_default:
                values["default_version"] = version
            conn.execute(insert(t.policy_versions).values(policy_arn=arn, version_id=version, document=document,
                                                          created_at=now))
            conn.execute(update(t.managed_policies).where(t.managed_policies.c.arn == arn).values(**values))
        return version

    @staticmethod
    def _version_state(conn: Connection, arn: str, version_id: str) -> tuple[bool, bool]:
        """(exists, is the default) of one version, read under the policy's lock."""
        c = t.policy_versions.c
        exists = conn.execute(select(c.version_id).where(c.policy_arn == arn, c.version_id == version_id)).first()
        default = conn.execute(select(t.managed_policies.c.default_version)
                               .where(t.managed_policies.c.arn == arn)).scalar_one()
        return exists is not None, default == version_id

    def set_default_policy_version(self, arn: str, version_id: str) -> None:
        """StaleState when the version no longer exists (deleted meanwhile): the default always names one."""
        with self.locked(t.managed_policies, arn) as conn:
            if not self._version_state(conn, arn, version_id)[0]:
                raise StaleState(version_id)
            conn.execute(update(t.managed_policies).where(t.managed_policies.c.arn == arn)
                         .values(default_version=version_id, updated_at=int(time.time())))

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        """StaleState when the version is gone or became the default meanwhile (never deleted)."""
        c = t.policy_versions.c
        with self.locked(t.managed_policies, arn) as conn:
            exists, default = self._version_state(conn, arn, version_id)
            if not exists or default:
                raise StaleState(version_id)
            conn.execute(delete(t.policy_versions).where(c.policy_arn == arn, c.version_id == version_id))

    # -- attachments ----------------------------------------------------------------------
    def attach_policy(self, entity_type: str, entity_id: str, arn: str, limit: int | None = None) -> None:
        """Attach (idempotent); with ``limit``, LimitReached when the user/role would then have more
        managed policies. Locks the entity, then the policy (DeletePolicy takes the policy's lock):
        ParentGone when either was deleted meanwhile."""
        row = {"entity_type": entity_type, "entity_id": entity_id, "policy_arn": arn}
        statements = ((_DETACH, row), (_ATTACH, row))
        if limit is None:
            self._write(*statements)
            return
        count = (_ATTACHED_COUNT, {"entity_type": entity_type, "entity_id": entity_id})
        with self.locked(_ATTACHED_TO[entity_type], entity_id) as conn:
            if not lock_row(conn, t.managed_policies, arn):
                raise StaleState(arn)
            for stmt in statements:
                run(conn, stmt)
            if run(conn, count).scalar_one() > limit:
                raise LimitReached(limit)

    def detach_policy(self, entity_type: str, entity_id: str, arn: str) -> None:
        self._write((_DETACH, {"entity_type": entity_type, "entity_id": entity_id, "policy_arn": arn}))

    def attached_policies(self, entity_type: str, entity_id: str) -> list[PolicyRecord]:
        """The entity's managed policies by name, each with its attachment count (one query)."""
        c, p = t.policy_attachments.c, t.managed_policies.c
        other = t.policy_attachments.alias("other")
        count = select(func.count()).select_from(other).where(other.c.policy_arn == p.arn).scalar_subquery()
        rows = self._rows(select(t.managed_policies, count.label("attached"))
                          .join(t.policy_attachments, c.policy_arn == p.arn)
                          .where(c.entity_type == entity_type, c.entity_id == entity_id))
        return sorted((PolicyRecord(r.arn, r.id, r.account_id, r.name, r.path, r.description, r.default_version,
                                    r.created_at, r.updated_at, int(r.attached)) for r in rows), key=lambda x: x.name)

    def attached_documents(self, entity_type: str, entity_id: str) -> list[tuple[str, str]]:
        """(arn, default-version document) of every managed policy attached to the entity."""
        docs = []
        for policy in self.attached_policies(entity_type, entity_id):
            doc = self.default_policy_document(policy.arn)
            if doc is not None:
                docs.append((policy.arn, doc))
        return docs

    # -- identity providers ---------------------------------------------------------------
    def create_oidc_provider(self, arn: str, account_id: str, url: str, client_ids: list[str],
                             thumbprints: list[str], tags: dict[str, str] | None = None) -> None:
        self._write(
            insert(t.oidc_providers).values(
                arn=arn, account_id=account_id, url=url, client_ids=json.dumps(client_ids),
                thumbprints=json.dumps(thumbprints), created_at=int(time.time()),
            ),
            *self._tag_statements("oidc", arn, tags or {}),
        )

    def get_oidc_provider(self, arn: str) -> OidcProviderRecord | None:
        row = self._first(select(t.oidc_providers).where(t.oidc_providers.c.arn == arn))
        if row is None:
            return None
        return OidcProviderRecord(
            row.arn, row.account_id, row.url, json.loads(row.client_ids), json.loads(row.thumbprints), row.created_at
        )

    def list_oidc_providers(self, account_id: str) -> list[str]:
        c = t.oidc_providers.c
        return [r.arn for r in self._rows(select(c.arn).where(c.account_id == account_id).order_by(c.arn))]

    def add_oidc_client_id(self, arn: str, client_id: str, limit: int) -> None:
        """Add one client id (idempotent) under the provider's row lock, so concurrent adds and
        removes are all kept; LimitReached when the provider would then have more than ``limit``."""
        c = t.oidc_providers.c
        with self.locked(t.oidc_providers, arn) as conn:
            ids = json.loads(conn.execute(select(c.client_ids).where(c.arn == arn)).scalar_one())
            if client_id in ids:
                return
            if len(ids) >= limit:
                raise LimitReached(limit)
            conn.execute(update(t.oidc_providers).where(c.arn == arn).values(client_ids=json.dumps([*ids, client_id])))

    def remove_oidc_client_id(self, arn: str, client_id: str) -> None:
        """Remove one client id (idempotent) under the provider's row lock."""
        c = t.oidc_providers.c
        with self.locked(t.oidc_providers, arn) as conn:
            ids = json.loads(conn.execute(select(c.client_ids).where(c.arn == arn)).scalar_one())
            if client_id in ids:
                ids.remove(client_id)
                conn.execute(update(t.oidc_providers).where(c.arn == arn).values(client_ids=json.dumps(ids)))

    def update_oidc_provider(self, arn: str, *, client_ids: list[str] | None = None,
                             thumbprints: list[str] | None = None) -> None:
        values: dict[str, Any] = {}
        if client_ids is not None:
            values["client_ids"] = json.dumps(client_ids)
        if thumbprints is not None:
            values["thumbprints"] = json.dumps(thumbprints)
        self._write(update(t.oidc_providers).where(t.oidc_providers.c.arn == arn).values(**values))

    def delete_oidc_provider(self, arn: str) -> None:
        self._write(delete(t.oidc_providers).where(t.oidc_providers.c.arn == arn), self._clear_tags("oidc", arn),
                    delete(t.oidc_provider_configs).where(t.oidc_provider_configs.c.arn == arn))

    def create_saml_provider(self, arn: str, account_id: str, name: str, metadata_document: str,
                             valid_until: int | None, tags: dict[str, str] | None = None) -> None:
        self._write(
            insert(t.saml_providers).values(
                arn=arn, account_id=account_id, name=name, metadata_document=metadata_document,
                valid_until=valid_until, created_at=int(time.time()),
            ),
            *self._tag_statements("saml", arn, tags or {}),
        )

    def get_saml_provider(self, arn: str) -> SamlProviderRecord | None:
        row = self._first(select(t.saml_providers).where(t.saml_providers.c.arn == arn))
        if row is None:
            return None
        return SamlProviderRecord(row.arn, row.account_id, row.name, row.metadata_document, row.valid_until, row.created_at)

    def list_saml_providers(self, account_id: str) -> list[SamlProviderRecord]:
        c = t.saml_providers.c
        return [p for p in (self.get_saml_provider(r.arn) for r in self._rows(select(c.arn).where(c.account_id == account_id))) if p]

    def update_saml_provider(self, arn: str, metadata_document: str, valid_until: int | None) -> None:
        self._write(
            update(t.saml_providers).where(t.saml_providers.c.arn == arn)
            .values(metadata_document=metadata_document, valid_until=valid_until)
        )

    def delete_saml_provider(self, arn: str) -> None:
        self._write(delete(t.saml_providers).where(t.saml_providers.c.arn == arn), self._clear_tags("saml", arn))

    # -- virtual MFA devices --------------------------------------------------------------
    def create_mfa_device(self, serial: str, account_id: str, name: str, path: str, seed: str) -> None:
        sealed = self._cipher.seal(seed.encode(), context=f"mfa:{serial}")
        self._write(
            insert(t.mfa_devices).values(
                serial=serial, account_id=account_id, name=name, path=path, seed_sealed=sealed,
                created_at=int(time.time()),
            )
        )

    def get_mfa_device(self, serial: str) -> MfaDeviceRecord | None:
        row = self._first(select(t.mfa_devices).where(t.mfa_devices.c.serial == serial))
        if row is None:
            return None
        seed = self._cipher.open(row.seed_sealed, context=f"mfa:{serial}").decode()
        return MfaDeviceRecord(
            row.serial, row.account_id, row.name, row.path, seed, row.user_id, row.enabled_at, row.last_step,
            row.created_at,
        )

    def list_mfa_devices(self, account_id: str, user_id: str | None = None) -> list[MfaDeviceRecord]:
        c = t.mfa_devices.c
        cond = c.account_id == account_id if user_id is None else c.user_id == user_id
        return [d for d in (self.get_mfa_device(r.serial) for r in self._rows(select(c.serial).where(cond))) if d]

    def enable_mfa_device(self, serial: str, user_id: str | None, last_step: int = 0,
                          *, current_user: str | None = None) -> bool:
        """Assign the device to ``user_id`` (None: deactivate) if it is still assigned to
        ``current_user`` (None: free) — a compare-and-set, so two users cannot both enable one
        device; False when it was not."""
        c = t.mfa_devices.c
        owner = c.user_id.is_(None) if current_user is None else c.user_id == current_user
        with self.engine.begin() as conn:
            done = conn.execute(update(t.mfa_devices).where(c.serial == serial, owner).values(
                user_id=user_id, enabled_at=int(time.time()) if user_id else None, last_step=last_step
            )).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    def delete_mfa_device(self, serial: str) -> None:
        self._write(delete(t.mfa_devices).where(t.mfa_devices.c.serial == serial), self._clear_tags("mfa", serial))

    def use_mfa_step(self, serial: str, step: int) -> bool:
        """Record a TOTP time step as used; False when it (or a later one) was used already.

        One atomic UPDATE … WHERE last_step < step, so two workers cannot both accept a code.
        """
        c = t.mfa_devices.c
        with self.engine.begin() as conn:
            result = conn.execute(update(t.mfa_devices).where(c.serial == serial, c.last_step < step).values(last_step=step))
        return bool(result.rowcount)

    # -- additions for the IAM API (service/iam) ------------------------------------------
    def user_row(self, user_id: str) -> Any:
        """The user's full row (created_at, permissions_boundary_arn …), or None."""
        return self._first(select(t.users).where(t.users.c.id == user_id))

    def boundary_usage_count(self, arn: str) -> int:
        users = self._first(select(func.count()).select_from(t.users).where(t.users.c.permissions_boundary_arn == arn))
        roles = self._first(select(func.count()).select_from(t.roles).where(t.roles.c.permissions_boundary_arn == arn))
        return int(users[0]) + int(roles[0])

    def attachment_count(self, arn: str) -> int:
        c = t.policy_attachments.c
        return int(self._first(select(func.count()).select_from(t.policy_attachments).where(c.policy_arn == arn))[0])

    def account_counts(self, account_id: str) -> dict[str, int]:
        """Entity counts of one account (GetAccountSummary)."""

        def count(table: Any, *conds: Any) -> int:
            return int(self._first(select(func.count()).select_from(table).where(*conds))[0])

        mfa = t.mfa_devices.c
        return {
            "Users": count(t.users, t.users.c.account_id == account_id),
            "Roles": count(t.roles, t.roles.c.account_id == account_id),
            "Policies": count(t.managed_policies, t.managed_policies.c.account_id == account_id),
            "Providers": count(t.oidc_providers, t.oidc_providers.c.account_id == account_id)
            + count(t.saml_providers, t.saml_providers.c.account_id == account_id),
            "MFADevices": count(t.mfa_devices, mfa.account_id == account_id),
            "MFADevicesInUse": count(t.mfa_devices, mfa.account_id == account_id, mfa.user_id.is_not(None)),
            "AccountAccessKeysPresent": count(
                t.access_keys, t.access_keys.c.account_id == account_id, t.access_keys.c.user_id.is_(None)
            ),
        }

    def ensure_aws_managed_policy(self, arn: str, policy_id: str, name: str, path: str, document: str,
                                  description: str | None) -> bool:
        """Create an AWS managed policy (account None) unless it exists; True when created."""
        if self._first(select(t.managed_policies.c.arn).where(t.managed_policies.c.arn == arn)) is not None:
            return False
        try:
            self.create_policy(arn, policy_id, None, name, path, document, description)
        except Exception:  # noqa: BLE001 - another process seeded it concurrently
            return False
        return True
