"""Instance profiles, service-linked roles, login profiles and the account password policy, SSH
public keys, signing and server certificates and service-specific credentials, in the store.

Mixed into ``SqlRepository``. Count limits (one role per instance profile, 5 SSH keys and 2
signing certificates per user, 20 server certificates per account, 2 service credentials per user
and service) are checked under the parent row's lock (``_write_limited``, store/locking.py), so
they hold across workers and servers. Passwords arrive here already hashed; server certificates'
private keys are sealed under the master key, bound to the certificate's id.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Select, Table, and_, delete, insert, select, update

from opensts.frozen import frozen
from opensts.store import tables as t
from opensts.store.locking import LimitReached, StaleState

__all__ = ["CredentialRepositoryMixin", "InstanceProfileRecord", "LoginProfileRecord", "PasswordPolicyRecord",
           "ServerCertificateRecord"]


@frozen
class InstanceProfileRecord:
    id: str
    account_id: str
    name: str
    path: str
    created_at: int


@frozen
class LoginProfileRecord:
    user_id: str
    password_hash: str
    password_reset_required: bool
    previous_hashes: list[str]
    created_at: int
    password_changed_at: int


@frozen
class PasswordPolicyRecord:
    minimum_length: int
    require_symbols: bool
    require_numbers: bool
    require_uppercase: bool
    require_lowercase: bool
    allow_users_to_change: bool
    max_password_age: int | None
    reuse_prevention: int | None
    hard_expiry: bool | None


@frozen
class ServerCertificateRecord:
    id: str
    account_id: str
    name: str
    path: str
    body: str
    chain: str | None
    expiration: int
    uploaded_at: int


def _profile(row: Any) -> InstanceProfileRecord | None:
    return InstanceProfileRecord(row.id, row.account_id, row.name, row.path, row.created_at) if row else None


def _server_cert(row: Any) -> ServerCertificateRecord | None:
    if row is None:
        return None
    return ServerCertificateRecord(row.id, row.account_id, row.name, row.path, row.body, row.chain, row.expiration,
                                   row.uploaded_at)


class CredentialRepositoryMixin:
    """Relies on ``engine``, ``_write``, ``locked``, ``_write_limited``, ``_count``, ``_cipher``,
    ``_rows``, ``_first``, ``_tag_statements``, ``_clear_tags`` of SqlRepository and its IAM mixin."""

    engine: Any
    _cipher: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def locked(self, parent: Table, key: Any) -> Any:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def _write_limited(self, parent: Table, key: Any, count: Select[Any], limit: int,
                       *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    @staticmethod
    def _count(table: Table, *conds: Any) -> Select[Any]:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def _rows(self, query: Any) -> list[Any]:  # pragma: no cover - provided by IamRepositoryMixin
        raise NotImplementedError

    def _first(self, query: Any) -> Any:  # pragma: no cover - provided by IamRepositoryMixin
        raise NotImplementedError

    def _tag_statements(self, entity_type: str, entity_id: str, tags: dict[str, str]) -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    def _clear_tags(self, entity_type: str, entity_id: str) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _scalar(self, query: Any) -> int:
        return int(self._first(query)[0])

    # -- instance profiles ------------------------------------------------------------------
    def create_instance_profile(self, profile_id: str, account_id: str, name: str, path: str,
                                tags: dict[str, str]) -> InstanceProfileRecord:
        now = int(time.time())
        self._write(
            insert(t.instance_profiles).values(id=profile_id, account_id=account_id, name=name,
                                               name_lower=name.lower(), path=path, created_at=now),
            *self._tag_statements("instprof", profile_id, tags),
        )
        return InstanceProfileRecord(profile_id, account_id, name, path, now)

    def get_instance_profile(self, account_id: str, name: str) -> InstanceProfileRecord | None:
        c = t.instance_profiles.c
        return _profile(self._first(select(t.instance_profiles).where(c.account_id == account_id,
                                                                      c.name_lower == name.lower())))

    def list_instance_profiles(self, account_id: str, path_prefix: str = "/") -> list[InstanceProfileRecord]:
        c = t.instance_profiles.c
        query = select(t.instance_profiles).where(c.account_id == account_id,
                                                  c.path.startswith(path_prefix, autoescape=True))
        return [p for p in (_profile(r) for r in self._rows(query.order_by(c.name_lower))) if p]

    def instance_profile_role_ids(self, profile_id: str) -> list[str]:
        c = t.instance_profile_roles.c
        return [r.role_id for r in self._rows(select(c.role_id).where(c.profile_id == profile_id))]

    def instance_profiles_for_role(self, role_id: str) -> list[InstanceProfileRecord]:
        """The instance profiles holding ``role_id`` (RoleDetail.InstanceProfileList, DeleteRole)."""
        ip, c = t.instance_profiles, t.instance_profile_roles.c
        query = (select(ip).join(t.instance_profile_roles, ip.c.id == c.profile_id)
                 .where(c.role_id == role_id).order_by(ip.c.name_lower))
        return [p for p in (_profile(r) for r in self._rows(query)) if p]

    def add_role_to_instance_profile(self, profile_id: str, role_id: str, limit: int) -> None:
        """LimitReached when the profile would then hold more than ``limit`` roles; a duplicate
        (the role is in it already) is EntityAlreadyExists."""
        c = t.instance_profile_roles.c
        self._write_limited(t.instance_profiles, profile_id, self._count(t.instance_profile_roles, c.profile_id == profile_id),
                            limit, insert(t.instance_profile_roles).values(
                                profile_id=profile_id, role_id=role_id,  # the profile's name: the role's listing order
                                profile_name_lower=select(t.instance_profiles.c.name_lower)
                                .where(t.instance_profiles.c.id == profile_id).scalar_subquery()))

    def remove_role_from_instance_profile(self, profile_id: str, role_id: str) -> bool:
        c = t.instance_profile_roles.c
        with self.locked(t.instance_profiles, profile_id) as conn:
            return bool(conn.execute(delete(t.instance_profile_roles)
                                     .where(c.profile_id == profile_id, c.role_id == role_id)).rowcount)

    def delete_instance_profile(self, profile_id: str) -> None:
        """StaleState when a role was added meanwhile (DeleteInstanceProfile checked before)."""
        c = t.instance_profile_roles.c
        with self.locked(t.instance_profiles, profile_id) as conn:
            if conn.execute(self._count(t.instance_profile_roles, c.profile_id == profile_id)).scalar_one():
                raise StaleState(profile_id)
            conn.execute(self._clear_tags("instprof", profile_id))
            conn.execute(delete(t.instance_profiles).where(t.instance_profiles.c.id == profile_id))

    # -- service-linked roles ---------------------------------------------------------------
    def create_service_linked_role(self, role_id: str, account_id: str, name: str, path: str, trust_policy: str,
                                   description: str | None, service_name: str) -> None:
        now = int(time.time())
        self._write(
            insert(t.roles).values(
                id=role_id, account_id=account_id, name=name, name_lower=name.lower(), path=path,
                trust_policy=trust_policy, description=description, max_session_duration=3600,
                created_at=now, trust_principal_ids="{}",
            ),
            insert(t.service_linked_roles).values(role_id=role_id, service_name=service_name),
        )

    def service_linked_service(self, role_id: str) -> str | None:
        """The AWS service a service-linked role belongs to; None for an ordinary role."""
        row = self._first(select(t.service_linked_roles.c.service_name)
                          .where(t.service_linked_roles.c.role_id == role_id))
        return row[0] if row else None

    def delete_service_linked_role(self, role_id: str, account_id: str, task_id: str) -> None:
        """Delete the role with its policies and tags, and record the finished deletion task.
        StaleState when the role was put into an instance profile meanwhile."""
        ipr = t.instance_profile_roles.c
        with self.locked(t.roles, role_id) as conn:
            if conn.execute(self._count(t.instance_profile_roles, ipr.role_id == role_id)).scalar_one():
                raise StaleState(role_id)
            a = t.policy_attachments.c
            conn.execute(delete(t.policy_attachments).where(a.entity_type == "role", a.entity_id == role_id))
            conn.execute(delete(t.role_policies).where(t.role_policies.c.role_id == role_id))
            conn.execute(self._clear_tags("role", role_id))
            conn.execute(delete(t.service_linked_roles).where(t.service_linked_roles.c.role_id == role_id))
            conn.execute(delete(t.roles).where(t.roles.c.id == role_id))
            conn.execute(insert(t.service_linked_role_deletions).values(
                task_id=task_id, account_id=account_id, status="SUCCEEDED", created_at=int(time.time())))

    def service_linked_role_deletion(self, task_id: str) -> tuple[str, str] | None:
        """(account id, status) of a deletion task, or None."""
        c = t.service_linked_role_deletions.c
        row = self._first(select(c.account_id, c.status).where(c.task_id == task_id))
        return (row.account_id, row.status) if row else None

    # -- login profiles -------------------------------------------------------------------
    def get_login_profile(self, user_id: str) -> LoginProfileRecord | None:
        row = self._first(select(t.login_profiles).where(t.login_profiles.c.user_id == user_id))
        if row is None:
            return None
        return LoginProfileRecord(row.user_id, row.password_hash, bool(row.password_reset_required),
                                  json.loads(row.previous_hashes or "[]"), row.created_at, row.password_changed_at)

    def create_login_profile(self, user_id: str, password_hash: str, reset_required: bool) -> int:
        """EntityAlreadyExists when the user has one. Returns the creation time."""
        now = int(time.time())
        self._write(insert(t.login_profiles).values(
            user_id=user_id, password_hash=password_hash, password_reset_required=int(reset_required),
            previous_hashes="[]", created_at=now, password_changed_at=now))
        return now

    def update_login_profile(self, user_id: str, *, password_hash: str | None = None,
                             expected_hash: str | None = None, reset_required: bool | None = None,
                             keep_previous: int = 0) -> bool:
        """Set a new password hash (remembering up to ``keep_previous`` old ones) and/or the reset
        flag. With ``expected_hash``, only if the stored hash is still that one (ChangePassword's
        compare-and-set); False when the profile is gone or changed meanwhile."""
        c = t.login_profiles.c
        with self.locked(t.users, user_id) as conn:
            row = conn.execute(select(t.login_profiles).where(c.user_id == user_id)).first()
            if row is None or (expected_hash is not None and row.password_hash != expected_hash):
                return False
            values: dict[str, Any] = {}
            if password_hash is not None:
                previous = [row.password_hash, *json.loads(row.previous_hashes or "[]")][:keep_previous]
                values.update(password_hash=password_hash, previous_hashes=json.dumps(previous),
                              password_changed_at=int(time.time()))
            if reset_required is not None:
                values["password_reset_required"] = int(reset_required)
            if values:
                conn.execute(update(t.login_profiles).where(c.user_id == user_id).values(**values))
        return True

    def delete_login_profile(self, user_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.login_profiles).where(t.login_profiles.c.user_id == user_id)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    # -- account password policy ----------------------------------------------------------
    def get_password_policy(self, account_id: str) -> PasswordPolicyRecord | None:
        row = self._first(select(t.password_policies).where(t.password_policies.c.account_id == account_id))
        if row is None:
            return None
        return PasswordPolicyRecord(
            row.minimum_length, bool(row.require_symbols), bool(row.require_numbers), bool(row.require_uppercase),
            bool(row.require_lowercase), bool(row.allow_users_to_change), row.max_password_age,
            row.reuse_prevention, None if row.hard_expiry is None else bool(row.hard_expiry),
        )

    def set_password_policy(self, account_id: str, policy: PasswordPolicyRecord) -> None:
        values = dict(
            minimum_length=policy.minimum_length, require_symbols=int(policy.require_symbols),
            require_numbers=int(policy.require_numbers), require_uppercase=int(policy.require_uppercase),
            require_lowercase=int(policy.require_lowercase), allow_users_to_change=int(policy.allow_users_to_change),
            max_password_age=policy.max_password_age, reuse_prevention=policy.reuse_prevention,
            hard_expiry=None if policy.hard_expiry is None else int(policy.hard_expiry),
        )
        with self.locked(t.accounts, account_id) as conn:
            conn.execute(delete(t.password_policies).where(t.password_policies.c.account_id == account_id))
            conn.execute(insert(t.password_policies).values(account_id=account_id, **values))

    def delete_password_policy(self, account_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.password_policies)
                                .where(t.password_policies.c.account_id == account_id)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    # -- SSH public keys ------------------------------------------------------------------
    def add_ssh_public_key(self, key_id: str, user_id: str, body: str, fingerprint: str, limit: int) -> int:
        """LimitReached past ``limit`` keys; StaleState when the user already has this key
        (same fingerprint), both checked under the user's row lock. Returns the upload time."""
        c = t.ssh_public_keys.c
        now = int(time.time())
        with self.locked(t.users, user_id) as conn:
            if conn.execute(self._count(t.ssh_public_keys, c.user_id == user_id, c.fingerprint == fingerprint)).scalar_one():
                raise StaleState(fingerprint)
            if conn.execute(self._count(t.ssh_public_keys, c.user_id == user_id)).scalar_one() >= limit:
                raise LimitReached(limit)
            conn.execute(insert(t.ssh_public_keys).values(id=key_id, user_id=user_id, body=body,
                                                          fingerprint=fingerprint, status="Active", uploaded_at=now))
        return now

    def list_ssh_public_keys(self, user_id: str) -> list[Any]:
        c = t.ssh_public_keys.c
        return self._rows(select(t.ssh_public_keys).where(c.user_id == user_id).order_by(c.uploaded_at, c.id))

    def get_ssh_public_key(self, user_id: str, key_id: str) -> Any:
        c = t.ssh_public_keys.c
        return self._first(select(t.ssh_public_keys).where(c.user_id == user_id, c.id == key_id))

    def set_ssh_public_key_status(self, user_id: str, key_id: str, status: str) -> bool:
        return self._update_one(t.ssh_public_keys, user_id, key_id, status=status)

    def delete_ssh_public_key(self, user_id: str, key_id: str) -> bool:
        return self._delete_one(t.ssh_public_keys, user_id, key_id)

    def _update_one(self, table: Table, user_id: str | None, row_id: str, **values: Any) -> bool:
        owner = table.c.user_id.is_(None) if user_id is None else table.c.user_id == user_id
        with self.engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == row_id, owner).values(**values)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    def _delete_one(self, table: Table, user_id: str | None, row_id: str) -> bool:
        owner = table.c.user_id.is_(None) if user_id is None else table.c.user_id == user_id
        with self.engine.begin() as conn:
            done = conn.execute(delete(table).where(table.c.id == row_id, owner)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    # -- signing certificates ---------------------------------------------------------------
    def add_signing_certificate(self, cert_id: str, account_id: str, user_id: str | None, body: str,
                                fingerprint: str, limit: int) -> int:
        """LimitReached past ``limit`` certificates of the owner (a user, or the account's root
        user); StaleState when the owner has this certificate already. Under the owner's lock."""
        c = t.signing_certificates.c
        if user_id is None:
            parent, key, owned = t.accounts, account_id, (c.account_id == account_id, c.user_id.is_(None))
        else:
            parent, key, owned = t.users, user_id, (c.user_id == user_id,)
        now = int(time.time())
        with self.locked(parent, key) as conn:
            if conn.execute(self._count(t.signing_certificates, *owned, c.fingerprint == fingerprint)).scalar_one():
                raise StaleState(fingerprint)
            if conn.execute(self._count(t.signing_certificates, *owned)).scalar_one() >= limit:
                raise LimitReached(limit)
            conn.execute(insert(t.signing_certificates).values(
                id=cert_id, account_id=account_id, user_id=user_id, body=body, fingerprint=fingerprint,
                status="Active", uploaded_at=now))
        return now

    def list_signing_certificates(self, account_id: str, user_id: str | None) -> list[Any]:
        c = t.signing_certificates.c
        owner = and_(c.account_id == account_id, c.user_id.is_(None)) if user_id is None else c.user_id == user_id
        return self._rows(select(t.signing_certificates).where(owner).order_by(c.uploaded_at, c.id))

    def set_signing_certificate_status(self, account_id: str, user_id: str | None, cert_id: str, status: str) -> bool:
        if user_id is None and not self._root_owned(t.signing_certificates, account_id, cert_id):
            return False
        return self._update_one(t.signing_certificates, user_id, cert_id, status=status)

    def delete_signing_certificate(self, account_id: str, user_id: str | None, cert_id: str) -> bool:
        if user_id is None and not self._root_owned(t.signing_certificates, account_id, cert_id):
            return False
        return self._delete_one(t.signing_certificates, user_id, cert_id)

    def _root_owned(self, table: Table, account_id: str, row_id: str) -> bool:
        return self._first(select(table.c.id).where(table.c.id == row_id, table.c.account_id == account_id)) is not None

    # -- server certificates ----------------------------------------------------------------
    def add_server_certificate(self, cert_id: str, account_id: str, name: str, path: str, body: str,
                               chain: str | None, private_key: str, expiration: int, tags: dict[str, str],
                               limit: int) -> ServerCertificateRecord:
        """LimitReached past ``limit`` certificates in the account (under the account's lock);
        EntityAlreadyExists for a name taken (in any case)."""
        now = int(time.time())
        sealed = self._cipher.seal(private_key.encode(), context=f"server-certificate:{cert_id}")
        c = t.server_certificates.c
        self._write_limited(
            t.accounts, account_id, self._count(t.server_certificates, c.account_id == account_id), limit,
            insert(t.server_certificates).values(
                id=cert_id, account_id=account_id, name=name, name_lower=name.lower(), path=path, body=body,
                chain=chain, key_sealed=sealed, expiration=expiration, uploaded_at=now),
            *self._tag_statements("servcert", cert_id, tags),
        )
        return ServerCertificateRecord(cert_id, account_id, name, path, body, chain, expiration, now)

    def get_server_certificate(self, account_id: str, name: str) -> ServerCertificateRecord | None:
        c = t.server_certificates.c
        return _server_cert(self._first(select(t.server_certificates)
                                        .where(c.account_id == account_id, c.name_lower == name.lower())))

    def list_server_certificates(self, account_id: str, path_prefix: str = "/") -> list[ServerCertificateRecord]:
        c = t.server_certificates.c
        query = select(t.server_certificates).where(c.account_id == account_id,
                                                    c.path.startswith(path_prefix, autoescape=True))
        return [s for s in (_server_cert(r) for r in self._rows(query.order_by(c.name_lower))) if s]

    def update_server_certificate(self, cert_id: str, name: str, path: str) -> None:
        """EntityAlreadyExists when the new name is taken."""
        self._write(update(t.server_certificates).where(t.server_certificates.c.id == cert_id)
                    .values(name=name, name_lower=name.lower(), path=path))

    def delete_server_certificate(self, cert_id: str) -> None:
        self._write(self._clear_tags("servcert", cert_id),
                    delete(t.server_certificates).where(t.server_certificates.c.id == cert_id))

    # -- service-specific credentials -------------------------------------------------------
    def add_service_credential(self, cred_id: str, user_id: str, service_name: str, service_user_name: str,
                               password_hash: str, expires_at: int | None, limit: int) -> int:
        """LimitReached past ``limit`` credentials of the user for that service (user's lock)."""
        c = t.service_specific_credentials.c
        now = int(time.time())
        self._write_limited(
            t.users, user_id,
            self._count(t.service_specific_credentials, c.user_id == user_id, c.service_name == service_name), limit,
            insert(t.service_specific_credentials).values(
                id=cred_id, user_id=user_id, service_name=service_name, service_user_name=service_user_name,
                password_hash=password_hash, status="Active", created_at=now, expires_at=expires_at),
        )
        return now

    def list_service_credentials(self, user_ids: list[str], service_name: str | None = None) -> list[Any]:
        c = t.service_specific_credentials.c
        conds = [c.user_id.in_(user_ids)]
        if service_name is not None:
            conds.append(c.service_name == service_name)
        return self._rows(select(t.service_specific_credentials).where(*conds).order_by(c.created_at, c.id))

    def get_service_credential(self, user_id: str, cred_id: str) -> Any:
        c = t.service_specific_credentials.c
        return self._first(select(t.service_specific_credentials).where(c.user_id == user_id, c.id == cred_id))

    def update_service_credential(self, user_id: str, cred_id: str, **values: Any) -> bool:
        """Set ``status`` and/or ``password_hash``; False when the credential is gone."""
        return self._update_one(t.service_specific_credentials, user_id, cred_id, **values)

    def delete_service_credential(self, user_id: str, cred_id: str) -> bool:
        return self._delete_one(t.service_specific_credentials, user_id, cred_id)

    # -- what other parts read --------------------------------------------------------------
    def user_credential_counts(self, user_id: str) -> dict[str, int]:
        """What DeleteUser must find gone first (AWS refuses with DeleteConflict)."""
        return {
            "login_profile": self._scalar(self._count(t.login_profiles, t.login_profiles.c.user_id == user_id)),
            "signing_certificates": self._scalar(self._count(t.signing_certificates,
                                                             t.signing_certificates.c.user_id == user_id)),
            "ssh_public_keys": self._scalar(self._count(t.ssh_public_keys, t.ssh_public_keys.c.user_id == user_id)),
            "service_specific_credentials": self._scalar(self._count(
                t.service_specific_credentials, t.service_specific_credentials.c.user_id == user_id)),
        }

    def credential_account_counts(self, account_id: str) -> dict[str, int]:
        """GetAccountSummary counters of this module's entities."""
        sc = t.signing_certificates.c
        return {
            "InstanceProfiles": self._scalar(self._count(t.instance_profiles,
                                                         t.instance_profiles.c.account_id == account_id)),
            "ServerCertificates": self._scalar(self._count(t.server_certificates,
                                                           t.server_certificates.c.account_id == account_id)),
            "AccountSigningCertificatesPresent": min(1, self._scalar(self._count(
                t.signing_certificates, sc.account_id == account_id, sc.user_id.is_(None)))),
        }

    def user_has_login_profile(self, user_ids: list[str]) -> set[str]:
        """The users among ``user_ids`` with a console password (credential report, details)."""
        c = t.login_profiles.c
        return {r.user_id for r in self._rows(select(c.user_id).where(c.user_id.in_(user_ids)))} if user_ids else set()
