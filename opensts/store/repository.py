"""The identity store behind a small repository interface.

The STS/IAM logic talks to ``Repository`` (a Protocol) and never to SQL, so PostgreSQL can be
added as another engine URL without touching it. ``SqlRepository`` implements it with
SQLAlchemy Core on any SQLAlchemy engine; SQLite (WAL) is the embedded default.

Every write bumps ``meta.generation`` in the same transaction; readers in other processes
(server workers, the ``opensts account create`` command) compare it to know when their
caches are stale (see ``store/cache.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from opensts.frozen import frozen
from opensts.store import tables as t
from opensts.store.changes import bump, changes_between, take_committed, track
from opensts.store.cipher import SecretCipher
from opensts.store.credentials_repository import CredentialRepositoryMixin
from opensts.store.federation_repository import FederationRepositoryMixin
from opensts.store.group_repository import GroupRepositoryMixin
from opensts.store.iam_repository import IamRepositoryMixin
from opensts.store.key_repository import KeyStateRepositoryMixin
from opensts.store.list_repository import ListingRepositoryMixin
from opensts.store.locking import EntityAlreadyExists, LimitReached, ParentGone, StaleState, lock_row
from opensts.store.prepared import Bound, run
from opensts.store.organization_repository import OrganizationRepositoryMixin, OrganizationTreeRepositoryMixin
from opensts.store.reads_repository import ReadsRepositoryMixin
from opensts.store.region_repository import RegionRepositoryMixin

__all__ = [
    "AccountRecord",
    "UserRecord",
    "AccessKeyRecord",
    "SealingKeyRecord",
    "Repository",
    "SqlRepository",
    "EntityAlreadyExists",
    "LimitReached",
    "ParentGone",
    "StaleState",
]


@frozen
class AccountRecord:
    id: str
    name: str
    partition: str


@frozen
class UserRecord:
    id: str
    account_id: str
    name: str
    path: str


@frozen
class AccessKeyRecord:
    """A long-term key with its secret in plaintext (only ever held in memory)."""

    id: str
    account_id: str
    user_id: str | None  # None: the account's root user
    secret: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "Active"


@frozen
class SealingKeyRecord:
    kid: str
    region: str
    key: bytes
    created_at: int
    retired_at: int | None


class Repository(Protocol):
    """What the service layer needs from storage."""

    def generation(self) -> int: ...
    def changes_between(self, after: int, upto: int) -> set[tuple[str, str]] | None: ...
    def written_here(self) -> set[tuple[str, str]]: ...
    def create_account(self, account_id: str, name: str) -> AccountRecord: ...
    def get_account(self, account_id: str) -> AccountRecord | None: ...
    def list_accounts(self) -> list[AccountRecord]: ...
    def create_user(self, user_id: str, account_id: str, name: str, path: str = "/") -> UserRecord: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def get_user_by_name(self, account_id: str, name: str) -> UserRecord | None: ...
    def put_user_policy(self, user_id: str, name: str, document: str) -> None: ...
    def list_user_policies(self, user_id: str) -> dict[str, str]: ...
    def create_access_key(self, key_id: str, account_id: str, user_id: str | None, secret: str) -> None: ...
    def get_access_key(self, key_id: str) -> AccessKeyRecord | None: ...
    def set_access_key_status(self, key_id: str, status: str) -> None: ...
    def add_sealing_key(self, kid: str, region: str, key: bytes) -> None: ...
    def list_sealing_keys(self) -> list[SealingKeyRecord]: ...
    def get_sealing_key(self, kid: str) -> SealingKeyRecord | None: ...


class SqlRepository(IamRepositoryMixin, RegionRepositoryMixin, FederationRepositoryMixin, OrganizationRepositoryMixin,
                    OrganizationTreeRepositoryMixin, GroupRepositoryMixin, CredentialRepositoryMixin, ReadsRepositoryMixin,
                    ListingRepositoryMixin, KeyStateRepositoryMixin):
    """``Repository`` on SQLAlchemy Core (IAM entities: ``IamRepositoryMixin``)."""

    def __init__(self, engine: Engine, cipher: SecretCipher) -> None:
        self.engine = engine
        # Single-statement reads on PostgreSQL run without a transaction of their own: a pooled
        # connection otherwise costs two more round trips per read (BEGIN before it, the pool's
        # ROLLBACK after it) — most of an IAM write's reads (bench/iam_write_cost.py). Each such read
        # sees the same as before (READ COMMITTED: every statement its own snapshot). SQLite's
        # transactions are local calls: unchanged there.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT") \
            if engine.dialect.name == "postgresql" else engine
        self._cipher = cipher
        cipher.follow(self._master_key_check)  # seal with the key the database uses now (store/master_key.py)
        track(engine)  # every write records what it touched (store/changes.py)

    # -- generation -----------------------------------------------------------------------
    def generation(self) -> int:
        with self._reader.connect() as conn:
            value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "generation")).scalar()
        return int(value or 0)

    @staticmethod
    def _bump(conn: object) -> None:
        """The end of every write: the next generation, with what this transaction touched."""
        bump(conn)  # type: ignore[arg-type]

    def written_here(self) -> set[tuple[str, str]]:
        """What this thread's write transactions touched since the last call (store/changes.py)."""
        return take_committed(self.engine)

    def changes_between(self, after: int, upto: int) -> set[tuple[str, str]] | None:
        """The entities written in generations ``after``+1..``upto`` (None: assume everything)."""
        with self._reader.connect() as conn:
            return changes_between(conn, after, upto)

    def _write(self, *statements: object) -> None:
        try:
            with self.engine.begin() as conn:
                for stmt in statements:
                    run(conn, stmt)  # type: ignore[arg-type]
                self._bump(conn)
        except IntegrityError as exc:
            raise _already_exists(exc) from None

    @contextmanager
    def locked(self, parent: Table, key: Any) -> Iterator[Connection]:
        """A write transaction holding ``parent``'s row lock (see store/locking.py): the writers of
        one parent's children run one at a time in every process and on every server sharing the
        database. ParentGone when the row does not exist; a duplicate key is EntityAlreadyExists."""
        try:
            with self.engine.begin() as conn:
                if not lock_row(conn, parent, key):
                    raise ParentGone(parent.name)
                yield conn
                self._bump(conn)
        except IntegrityError as exc:
            raise _already_exists(exc) from None

    def _write_under(self, parent: Table, key: Any, *statements: object) -> None:
        """Run ``statements`` (a delete + insert replacing a row, say) under ``parent``'s lock, so
        two concurrent replacements of one row run one after the other instead of colliding."""
        with self.locked(parent, key) as conn:
            for stmt in statements:
                run(conn, stmt)  # type: ignore[arg-type]

    def _write_limited(self, parent: Table, key: Any, count: Select[Any] | Bound, limit: int,
                       *statements: object) -> None:
        """Run ``statements`` under ``parent``'s lock; LimitReached (and nothing written) when
        ``count`` is then over ``limit``. Counting after writing covers every shape of write (an
        idempotent re-attach, tags that overwrite keys) with one rule."""
        with self.locked(parent, key) as conn:
            for stmt in statements:
                run(conn, stmt)  # type: ignore[arg-type]
            if run(conn, count).scalar_one() > limit:
                raise LimitReached(limit)

    @staticmethod
    def _count(table: Table, *conds: Any) -> Select[Any]:
        return select(func.count()).select_from(table).where(*conds)

    def _master_key_check(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == "master_key_check")).scalar()

    # -- accounts -------------------------------------------------------------------------
    def create_account(self, account_id: str, name: str) -> AccountRecord:
        self._write(t.accounts.insert().values(id=account_id, name=name, created_at=int(time.time())))
        return AccountRecord(account_id, name, "aws")

    def get_account(self, account_id: str) -> AccountRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).first()
        return AccountRecord(row.id, row.name, row.partition) if row else None

    def list_accounts(self) -> list[AccountRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.accounts).order_by(t.accounts.c.id)).all()
        return [AccountRecord(r.id, r.name, r.partition) for r in rows]

    # -- users ----------------------------------------------------------------------------
    def create_user(self, user_id: str, account_id: str, name: str, path: str = "/") -> UserRecord:
        self._write(
            t.users.insert().values(
                id=user_id,
                account_id=account_id,
                name=name,
                name_lower=name.lower(),
                path=path,
                created_at=int(time.time()),
            )
        )
        return UserRecord(user_id, account_id, name, path)

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(_USER_BY_ID, {"user_id": user_id}).first()
        return UserRecord(row.id, row.account_id, row.name, row.path) if row else None

    def get_user_by_name(self, account_id: str, name: str) -> UserRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(_USER_BY_NAME, {"account_id": account_id, "name_lower": name.lower()}).first()
        return UserRecord(row.id, row.account_id, row.name, row.path) if row else None

    def put_user_policy(self, user_id: str, name: str, document: str) -> None:
        key = {"user_id": user_id, "name": name}
        self._write_under(t.users, user_id, (_DELETE_USER_POLICY, key), (_INSERT_USER_POLICY, {**key, "document": document}))

    def list_user_policies(self, user_id: str) -> dict[str, str]:
        with self._reader.connect() as conn:
            return {r.name: r.document for r in conn.execute(_USER_POLICIES, {"user_id": user_id})}

    # -- access keys ----------------------------------------------------------------------
    def create_access_key(self, key_id: str, account_id: str, user_id: str | None, secret: str,
                          limit: int | None = None) -> None:
        """Store a key; with ``limit``, LimitReached when its owner (the user, or the account's
        root user) would then have more keys, checked under the owner's row lock."""
        sealed = self._cipher.seal(secret.encode(), context=key_id)
        insert_key = t.access_keys.insert().values(
            id=key_id,
            account_id=account_id,
            user_id=user_id,
            secret_sealed=sealed,
            status="Active",
            created_at=int(time.time()),
        )
        if limit is None:
            self._write(insert_key)
            return
        c = t.access_keys.c
        if user_id is None:
            parent, key, owned = t.accounts, account_id, (c.account_id == account_id, c.user_id.is_(None))
        else:
            parent, key, owned = t.users, user_id, (c.user_id == user_id,)
        self._write_limited(parent, key, self._count(t.access_keys, *owned), limit, insert_key)

    def get_access_key(self, key_id: str) -> AccessKeyRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(t.access_keys).where(t.access_keys.c.id == key_id)).first()
        if row is None:
            return None
        secret = self._cipher.open(row.secret_sealed, context=key_id).decode()
        return AccessKeyRecord(row.id, row.account_id, row.user_id, secret, row.status)

    def set_access_key_status(self, key_id: str, status: str) -> None:
        self._write(update(t.access_keys).where(t.access_keys.c.id == key_id).values(status=status))

    # -- sealing keys ---------------------------------------------------------------------
    def add_sealing_key(self, kid: str, region: str, key: bytes) -> None:
        sealed = self._cipher.seal(key, context=f"sealing:{kid}")
        self._write(
            t.sealing_keys.insert().values(kid=kid, region=region, key_sealed=sealed, created_at=int(time.time()))
        )

    def list_sealing_keys(self) -> list[SealingKeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.sealing_keys).order_by(t.sealing_keys.c.created_at)).all()
        return [self._sealing_key(r) for r in rows]

    def get_sealing_key(self, kid: str) -> SealingKeyRecord | None:
        """One key by id (a token naming a key made a moment ago by another process)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.sealing_keys).where(t.sealing_keys.c.kid == kid)).first()
        return self._sealing_key(row) if row else None

    def _sealing_key(self, r: Any) -> SealingKeyRecord:
        key = self._cipher.open(r.key_sealed, context=f"sealing:{r.kid}")
        return SealingKeyRecord(r.kid, r.region, key, r.created_at, r.retired_at)


# Reads of every user write (and of authentication's cache loads), built once: see
# iam_repository's _ROLE_BY_NAME for why.
_USER_BY_ID = select(t.users).where(t.users.c.id == bindparam("user_id"))
_USER_BY_NAME = select(t.users).where(t.users.c.account_id == bindparam("account_id"),
                                      t.users.c.name_lower == bindparam("name_lower"))
_USER_POLICIES = select(t.user_policies).where(t.user_policies.c.user_id == bindparam("user_id"))
_DELETE_USER_POLICY = t.user_policies.delete().where(t.user_policies.c.user_id == bindparam("user_id"),
                                                     t.user_policies.c.name == bindparam("name"))
_INSERT_USER_POLICY = t.user_policies.insert()


def _already_exists(exc: IntegrityError) -> EntityAlreadyExists:
    """EntityAlreadyExists naming the table, not quoting the database's message (key values)."""
    statement = getattr(exc, "statement", "") or ""
    words = statement.split()
    table = next((words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in ("INTO", "UPDATE", "FROM")), "?")
    return EntityAlreadyExists(table.strip('"'))
