"""IAM groups in the store: groups, their members and inline policies (managed attachments are
rows of ``policy_attachments`` with entity_type "group"), users' renames, the account alias and
account properties.

Mixed into ``SqlRepository`` (after ``IamRepositoryMixin``, whose ``_delete_if_bare`` and
``attached_documents`` it uses). Limits (groups per account, groups per user) are checked under the
parent row's lock (store/locking.py), so they hold across workers and servers.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, Table, bindparam, delete, insert, select, update

from opensts.frozen import frozen
from opensts.store import tables as t
from opensts.store.locking import EntityAlreadyExists, LimitReached, StaleState, lock_row

__all__ = ["GroupRecord", "GroupRepositoryMixin"]


@frozen
class GroupRecord:
    id: str
    account_id: str
    name: str
    path: str
    created_at: int


# Built once (store/prepared.py: why)
_GROUP_BY_NAME = select(t.iam_groups).where(t.iam_groups.c.account_id == bindparam("account_id"),
                                            t.iam_groups.c.name_lower == bindparam("name_lower"))
_GROUP_BY_ID = select(t.iam_groups).where(t.iam_groups.c.id == bindparam("group_id"))
_DELETE_GROUP_POLICY = delete(t.group_policies).where(t.group_policies.c.group_id == bindparam("group_id"),
                                                      t.group_policies.c.name == bindparam("name"))
_INSERT_GROUP_POLICY = insert(t.group_policies)


def _group(row: Any) -> GroupRecord | None:
    return GroupRecord(row.id, row.account_id, row.name, row.path, row.created_at) if row is not None else None


class GroupRepositoryMixin:
    """Group, membership, alias and account-property methods of ``SqlRepository``."""

    engine: Any

    def _rows(self, query: Any) -> list[Any]:  # pragma: no cover - provided by IamRepositoryMixin
        raise NotImplementedError

    def _first(self, query: Any, params: dict[str, Any] | None = None) -> Any:  # pragma: no cover - IamRepositoryMixin's
        raise NotImplementedError

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def locked(self, parent: Table, key: Any) -> Any:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    @staticmethod
    def _count(table: Table, *conds: Any) -> Select[Any]:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    # -- groups ---------------------------------------------------------------------------
    def create_group(self, group_id: str, account_id: str, name: str, path: str, limit: int) -> GroupRecord:
        """EntityAlreadyExists when the account has a group of that name (any case); LimitReached
        when it would then have more than ``limit`` groups (both under the account's row lock)."""
        c = t.iam_groups.c
        now = int(time.time())
        with self.locked(t.accounts, account_id) as conn:
            if conn.execute(select(c.id).where(c.account_id == account_id, c.name_lower == name.lower())).first():
                raise EntityAlreadyExists(t.iam_groups.name)
            if conn.execute(self._count(t.iam_groups, c.account_id == account_id)).scalar_one() >= limit:
                raise LimitReached(limit)
            conn.execute(insert(t.iam_groups).values(id=group_id, account_id=account_id, name=name,
                                                     name_lower=name.lower(), path=path, created_at=now))
        return GroupRecord(group_id, account_id, name, path, now)

    def get_group(self, account_id: str, name: str) -> GroupRecord | None:
        return _group(self._first(_GROUP_BY_NAME, {"account_id": account_id, "name_lower": name.lower()}))

    def get_group_by_id(self, group_id: str) -> GroupRecord | None:
        return _group(self._first(_GROUP_BY_ID, {"group_id": group_id}))

    def list_groups(self, account_id: str, path_prefix: str = "/") -> list[GroupRecord]:
        c = t.iam_groups.c
        query = select(t.iam_groups).where(c.account_id == account_id, c.path.startswith(path_prefix, autoescape=True))
        return [g for g in (_group(r) for r in self._rows(query.order_by(c.name_lower))) if g]

    def update_group(self, group_id: str, name: str, path: str) -> None:
        """Rename and/or move; EntityAlreadyExists when another group has the new name. Members,
        policies and attachments refer to the id, so they follow."""
        c = t.iam_groups.c
        with self.locked(t.iam_groups, group_id) as conn:
            account = conn.execute(select(c.account_id).where(c.id == group_id)).scalar_one()
            clash = conn.execute(select(c.id).where(c.account_id == account, c.name_lower == name.lower(),
                                                    c.id != group_id)).first()
            if clash:
                raise EntityAlreadyExists(t.iam_groups.name)
            conn.execute(update(t.iam_groups).where(c.id == group_id)
                         .values(name=name, name_lower=name.lower(), path=path))

    def delete_group(self, group_id: str) -> None:
        """StaleState when, under the group's lock, it has members, inline or attached policies."""
        a = t.policy_attachments.c
        self._delete_if_bare(  # type: ignore[attr-defined]
            t.iam_groups, group_id,
            (self._count(t.group_members, t.group_members.c.group_id == group_id),
             self._count(t.group_policies, t.group_policies.c.group_id == group_id),
             self._count(t.policy_attachments, a.entity_type == "group", a.entity_id == group_id)),
            delete(t.iam_groups).where(t.iam_groups.c.id == group_id),
        )

    # -- members --------------------------------------------------------------------------
    def add_user_to_group(self, group_id: str, user_id: str, limit: int) -> None:
        """Idempotent; LimitReached when the user would then be in more than ``limit`` groups.
        Locks the user (ParentGone when gone), then the group (StaleState when deleted meanwhile:
        DeleteGroup takes the group's lock)."""
        m = t.group_members.c
        with self.locked(t.users, user_id) as conn:
            if not lock_row(conn, t.iam_groups, group_id):
                raise StaleState(group_id)
            if conn.execute(select(m.user_id).where(m.group_id == group_id, m.user_id == user_id)).first():
                return
            name = select(t.users.c.name_lower).where(t.users.c.id == user_id).scalar_subquery()
            conn.execute(insert(t.group_members).values(group_id=group_id, user_id=user_id, added_at=int(time.time()),
                                                        user_name_lower=name))  # GetGroup's order
            if conn.execute(self._count(t.group_members, m.user_id == user_id)).scalar_one() > limit:
                raise LimitReached(limit)

    def remove_user_from_group(self, group_id: str, user_id: str) -> bool:
        """False when the user was not a member."""
        m = t.group_members.c
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.group_members).where(m.group_id == group_id, m.user_id == user_id)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    def group_members(self, group_id: str) -> list[Any]:
        """The member users' rows, by name."""
        u, m = t.users.c, t.group_members.c
        query = select(t.users).join(t.group_members, m.user_id == u.id).where(m.group_id == group_id)
        return self._rows(query.order_by(u.name_lower))

    def groups_for_user(self, user_id: str) -> list[GroupRecord]:
        g, m = t.iam_groups.c, t.group_members.c
        query = select(t.iam_groups).join(t.group_members, m.group_id == g.id).where(m.user_id == user_id)
        return [x for x in (_group(r) for r in self._rows(query.order_by(g.name_lower))) if x]

    def group_member_count(self, group_id: str) -> int:
        return int(self._first(self._count(t.group_members, t.group_members.c.group_id == group_id))[0])

    # -- inline policies ------------------------------------------------------------------
    def put_group_policy(self, group_id: str, name: str, document: str) -> None:
        key = {"group_id": group_id, "name": name}
        self._write_under(  # type: ignore[attr-defined]
            t.iam_groups, group_id, (_DELETE_GROUP_POLICY, key), (_INSERT_GROUP_POLICY, {**key, "document": document}))

    def list_group_policies(self, group_id: str) -> dict[str, str]:
        rows = self._rows(select(t.group_policies).where(t.group_policies.c.group_id == group_id))
        return {r.name: r.document for r in sorted(rows, key=lambda r: r.name)}

    def delete_group_policy(self, group_id: str, name: str) -> bool:
        c = t.group_policies.c
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.group_policies).where(c.group_id == group_id, c.name == name)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    def user_group_documents(self, user_id: str) -> list[tuple[str, str, str, str]]:
        """(group name, "inline" | "managed", policy name or ARN, document) of every policy of every
        group the user is in: a user's identity policies include its groups' (as on AWS)."""
        out: list[tuple[str, str, str, str]] = []
        for group in self.groups_for_user(user_id):
            out += [(group.name, "inline", n, d) for n, d in self.list_group_policies(group.id).items()]
            out += [(group.name, "managed", arn, d)
                    for arn, d in self.attached_documents("group", group.id)]  # type: ignore[attr-defined]
        return out

    # -- users ----------------------------------------------------------------------------
    def update_user(self, user_id: str, name: str, path: str) -> None:
        """Rename and/or move a user; EntityAlreadyExists when the account has another user of
        that name. Keys, memberships and policies refer to the id, so they follow."""
        c = t.users.c
        with self.locked(t.users, user_id) as conn:
            account = conn.execute(select(c.account_id).where(c.id == user_id)).scalar_one()
            if conn.execute(select(c.id).where(c.account_id == account, c.name_lower == name.lower(),
                                               c.id != user_id)).first():
                raise EntityAlreadyExists(t.users.name)
            conn.execute(update(t.users).where(c.id == user_id).values(name=name, name_lower=name.lower(), path=path))
            conn.execute(update(t.group_members).where(t.group_members.c.user_id == user_id)
                         .values(user_name_lower=name.lower()))  # GetGroup's order follows the rename

    # -- policy usage ---------------------------------------------------------------------
    def policy_entities(self, arn: str, account_id: str) -> dict[str, list[Any]]:
        """The account's users, groups and roles a managed policy is attached to (rows with id,
        name, path): an AWS managed policy is attached in many accounts, each sees its own."""
        a = t.policy_attachments.c
        out: dict[str, list[Any]] = {}
        for kind, table in (("user", t.users), ("group", t.iam_groups), ("role", t.roles)):
            query = (select(table.c.id, table.c.name, table.c.path)
                     .join(t.policy_attachments, (a.entity_id == table.c.id) & (a.entity_type == kind))
                     .where(a.policy_arn == arn, table.c.account_id == account_id).order_by(table.c.name_lower))
            out[kind] = self._rows(query)
        return out

    def boundary_entities(self, arn: str, account_id: str) -> dict[str, list[Any]]:
        """The account's users and roles whose permissions boundary is the policy."""
        return {
            kind: self._rows(select(table.c.id, table.c.name, table.c.path)
                             .where(table.c.permissions_boundary_arn == arn, table.c.account_id == account_id)
                             .order_by(table.c.name_lower))
            for kind, table in (("user", t.users), ("role", t.roles))
        }

    def group_count(self, account_id: str) -> int:
        return int(self._first(self._count(t.iam_groups, t.iam_groups.c.account_id == account_id))[0])

    # -- account alias --------------------------------------------------------------------
    def set_account_alias(self, account_id: str, alias: str) -> None:
        """The account's one alias (a new one replaces it); EntityAlreadyExists when another
        account has it (the alias is the primary key: unique across all accounts)."""
        self._write_under(  # type: ignore[attr-defined]
            t.accounts, account_id,
            delete(t.account_aliases).where(t.account_aliases.c.account_id == account_id),
            insert(t.account_aliases).values(alias=alias, account_id=account_id),
        )

    def account_aliases(self, account_id: str) -> list[str]:
        c = t.account_aliases.c
        return [r.alias for r in self._rows(select(c.alias).where(c.account_id == account_id))]

    def alias_owner(self, alias: str) -> str | None:
        row = self._first(select(t.account_aliases.c.account_id).where(t.account_aliases.c.alias == alias))
        return row[0] if row else None

    def delete_account_alias(self, account_id: str, alias: str) -> bool:
        c = t.account_aliases.c
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.account_aliases).where(c.account_id == account_id, c.alias == alias)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)

    # -- account properties ---------------------------------------------------------------
    def account_properties(self, account_id: str) -> dict[str, str]:
        c = t.account_properties.c
        return {r.key: r.value for r in self._rows(select(t.account_properties).where(c.account_id == account_id))}

    def put_account_properties(self, account_id: str, values: dict[str, str]) -> None:
        c = t.account_properties.c
        statements: list[Any] = []
        for key, value in values.items():
            statements.append(delete(t.account_properties).where(c.account_id == account_id, c.key == key))
            statements.append(insert(t.account_properties).values(account_id=account_id, key=key, value=value))
        self._write_under(t.accounts, account_id, *statements)  # type: ignore[attr-defined]

