"""Serializing the writers of one parent row: how count limits and generated ids hold under
concurrency, across worker processes and across servers sharing one PostgreSQL database.

A limit ("2 access keys per user", "5 versions per policy") is a property of a parent row and
its children. Checking it in Python before the write races: two requests both count 1 and both
insert. So every limited write runs in one transaction that first takes the parent's lock, then
writes, then counts, and rolls back when the count went over: the check is against everything
committed, because no other writer of that parent can be in between.

* PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` on the parent row (blocks the other writers of that
  parent only; foreign-key checks of other tables, which take KEY SHARE, do not wait for it).
* SQLite: one writer at a time for the whole database; the transaction's first statement is a
  write (a no-op UPDATE of the generation row, matching only if the parent row exists), which
  takes the write lock (waiting up to ``busy_timeout``), so the reads after it see everything
  committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table, Update, bindparam, select, update

from opensts.store import tables as t

__all__ = ["lock_row", "EntityAlreadyExists", "LimitReached", "ParentGone", "StaleState"]


class EntityAlreadyExists(Exception):
    """A create collided with an existing entity (IAM answers EntityAlreadyExists).

    It names the table only: the database's message may quote key values, and the exception
    may reach the server log."""


class LimitReached(Exception):
    """A limited write would leave more (or fewer) children than allowed; nothing was written."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"limit {limit}")
        self.limit = limit


class ParentGone(LookupError):
    """The parent row of a limited write does not exist (deleted meanwhile); nothing was written."""


class StaleState(Exception):
    """What the write depended on changed before its lock was taken (e.g. the version to delete
    became the default); nothing was written. The service re-reads and answers AWS's error."""


def lock_row(conn: Connection, table: Table, key: Any) -> bool:
    """Lock ``table``'s row with primary key ``key`` until the transaction ends; False when absent.

    On SQLite the transaction's first lock takes the database's write lock and checks the row in
    one statement (the no-op write of the generation row matches only when the row exists); once
    the transaction holds the write lock, a further lock (the policy of an attachment, the group
    of a membership) is a plain look-up."""
    plain, for_update, first_sqlite = _lookups(table)
    if conn.dialect.name != "sqlite":
        return conn.execute(for_update, {"lock_key": key}).first() is not None
    transaction = conn.get_transaction()
    if conn.info.get(_HOLDS_WRITE_LOCK) is transaction:
        return conn.execute(plain, {"lock_key": key}).first() is not None
    if conn.execute(first_sqlite, {"lock_key": key}).rowcount != 1:
        return False
    conn.info[_HOLDS_WRITE_LOCK] = transaction  # (a new transaction is another object: not held)
    return True


_HOLDS_WRITE_LOCK = "opensts.sqlite_write_lock"
_LOOKUPS: dict[str, tuple[Select[Any], Select[Any], Update]] = {}


def _lookups(table: Table) -> tuple[Select[Any], Select[Any], Update]:
    """(plain, FOR NO KEY UPDATE, SQLite's write lock + existence) look-ups of one row of ``table``
    by primary key, built once per table (a statement built per call costs SQLAlchemy its cache
    key every time: store/prepared.py)."""
    found = _LOOKUPS.get(table.name)
    if found is None:
        (pk,) = table.primary_key.columns
        query = select(pk).where(pk == bindparam("lock_key"))
        take = (update(t.meta).where(t.meta.c.key == "generation", query.exists())
                .values(value=t.meta.c.value))
        found = _LOOKUPS[table.name] = (query, query.with_for_update(key_share=True), take)
    return found
