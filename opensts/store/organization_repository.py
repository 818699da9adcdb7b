"""Organizations in the store (mixed into SqlRepository): an organization, its member accounts
and delegated administrators. Writes bump the store generation: the organization an account
belongs to is cached (``aws:PrincipalOrgID`` is read on every policy evaluation)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opensts.frozen import frozen
from opensts.store import tables as t
from opensts.store.locking import LimitReached, ParentGone, StaleState

__all__ = ["OrganizationRepositoryMixin", "OrganizationTreeRepositoryMixin", "OrganizationRecord", "MemberRecord",
           "DelegatedAdminRecord", "HandshakeRecord", "OrganizationalUnitRecord", "OrgPolicyRecord"]


@frozen
class OrganizationRecord:
    id: str
    management_account_id: str
    root_id: str
    feature_set: str
    iam_features: frozenset[str]
    service_access: frozenset[str]
    created_at: int
    policy_types: frozenset[str] = frozenset()


@frozen
class MemberRecord:
    account_id: str
    organization_id: str
    email: str
    joined_method: str
    joined_at: int
    create_request_id: str | None
    parent_id: str | None = None  # an OU id; None: directly under the root


@frozen
class DelegatedAdminRecord:
    account_id: str
    service_principal: str
    organization_id: str
    registered_at: int


@frozen
class OrganizationalUnitRecord:
    id: str
    organization_id: str
    parent_id: str
    name: str


@frozen
class OrgPolicyRecord:
    id: str
    organization_id: str | None  # None: AWS managed (FullAWSAccess)
    name: str
    description: str
    type: str
    content: str


@frozen
class HandshakeRecord:
    id: str
    organization_id: str
    target_account_id: str
    state: str
    notes: str | None
    requested_at: int
    expires_at: int


def _set(text: str) -> frozenset[str]:
    return frozenset(item for item in text.split(",") if item)


def _org(row: Any) -> OrganizationRecord:
    return OrganizationRecord(row.id, row.management_account_id, row.root_id, row.feature_set,
                              _set(row.iam_features), _set(row.service_access), row.created_at,
                              _set(row.policy_types))


def _member(row: Any) -> MemberRecord:
    return MemberRecord(row.account_id, row.organization_id, row.email, row.joined_method, row.joined_at,
                        row.create_request_id, row.parent_id)


class _Locking:
    """The SqlRepository methods both mixins use (the organization's row is the lock of every
    write a limit or a uniqueness rule of Organizations depends on, store/locking.py)."""

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


class OrganizationRepositoryMixin(_Locking):
    engine: Any

    def _rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    # -- organizations ----------------------------------------------------------------------
    def create_organization(self, org_id: str, root_id: str, management_account_id: str, feature_set: str) -> None:
        self._write(insert(t.organizations).values(
            id=org_id, management_account_id=management_account_id, root_id=root_id, feature_set=feature_set,
            iam_features="", service_access="", created_at=int(time.time()),
        ))

    def get_organization(self, org_id: str) -> OrganizationRecord | None:
        rows = self._rows(select(t.organizations).where(t.organizations.c.id == org_id))
        return _org(rows[0]) if rows else None

    def organization_of(self, account_id: str) -> OrganizationRecord | None:
        """The organization ``account_id`` manages or is a member of, or None."""
        o, m = t.organizations.c, t.organization_accounts.c
        rows = self._rows(select(t.organizations).where(o.management_account_id == account_id))
        if not rows:
            member = select(m.organization_id).where(m.account_id == account_id).scalar_subquery()
            rows = self._rows(select(t.organizations).where(o.id == member))
        return _org(rows[0]) if rows else None

    def delete_organization(self, org_id: str) -> None:
        self._write(delete(t.handshakes).where(t.handshakes.c.organization_id == org_id),
                    delete(t.organization_policy_targets).where(t.organization_policy_targets.c.organization_id == org_id),
                    delete(t.organization_policies).where(t.organization_policies.c.organization_id == org_id),
                    delete(t.organizational_units).where(t.organizational_units.c.organization_id == org_id),
                    delete(t.delegated_administrators).where(t.delegated_administrators.c.organization_id == org_id),
                    delete(t.organizations).where(t.organizations.c.id == org_id))

    def edit_organization_set(self, org_id: str, name: str, *, add: frozenset[str] = frozenset(),
                              remove: frozenset[str] = frozenset()) -> frozenset[str]:
        """Add/remove members of one of the organization's sets (``iam_features``,
        ``service_access``, ``policy_types``), read and written under its row lock so concurrent
        edits are all kept; the new set."""
        column = t.organizations.c[name]
        with self.locked(t.organizations, org_id) as conn:
            current = _set(conn.execute(select(column).where(t.organizations.c.id == org_id)).scalar_one())
            changed = (current | add) - remove
            conn.execute(update(t.organizations).where(t.organizations.c.id == org_id)
                         .values({name: ",".join(sorted(changed))}))
        return changed

    # -- member accounts --------------------------------------------------------------------
    def add_member_account(self, org_id: str, account_id: str, email: str, method: str,
                           request_id: str | None = None, policies: tuple[str, ...] = ()) -> MemberRecord:
        """``policies``: attached to the account in the same transaction, so no request ever sees a
        member of an organization with SCPs enabled and none attached (an implicit deny of all)."""
        now = int(time.time())
        with self.engine.begin() as conn:
            conn.execute(insert(t.organization_accounts).values(
                account_id=account_id, organization_id=org_id, email=email, joined_method=method, joined_at=now,
                create_request_id=request_id,
            ))
            _attach_all(conn, org_id, account_id, policies)
            self._bump(conn)  # type: ignore[attr-defined]
        return MemberRecord(account_id, org_id, email, method, now, request_id)

    def member_accounts(self, org_id: str) -> list[MemberRecord]:
        m = t.organization_accounts.c
        return [_member(r) for r in self._rows(select(t.organization_accounts).where(m.organization_id == org_id)
                                                .order_by(m.joined_at, m.account_id))]

    def member_account(self, account_id: str) -> MemberRecord | None:
        rows = self._rows(select(t.organization_accounts).where(t.organization_accounts.c.account_id == account_id))
        return _member(rows[0]) if rows else None

    def remove_member_account(self, account_id: str) -> None:
        """Out of its organization, with its delegated-administrator registrations and the policies
        attached to it."""
        d, m, p = t.delegated_administrators.c, t.organization_accounts.c, t.organization_policy_targets.c
        self._write(delete(t.delegated_administrators).where(d.account_id == account_id),
                    delete(t.organization_policy_targets).where(p.target_id == account_id),
                    delete(t.organization_accounts).where(m.account_id == account_id))

    def move_member_account(self, org_id: str, account_id: str, parent_id: str | None) -> None:
        """Under the organization's row lock: ParentGone when the destination OU was deleted meanwhile."""
        m, u = t.organization_accounts.c, t.organizational_units.c
        with self.locked(t.organizations, org_id) as conn:
            if parent_id is not None and not conn.execute(select(u.id).where(u.id == parent_id)).first():
                raise ParentGone(parent_id)
            conn.execute(update(t.organization_accounts).where(m.account_id == account_id).values(parent_id=parent_id))

    def member_by_create_request(self, request_id: str) -> MemberRecord | None:
        m = t.organization_accounts.c
        rows = self._rows(select(t.organization_accounts).where(m.create_request_id == request_id))
        return _member(rows[0]) if rows else None

    # -- delegated administrators -------------------------------------------------------------
    def register_delegated_admin(self, org_id: str, account_id: str, service_principal: str) -> None:
        self._write(insert(t.delegated_administrators).values(
            account_id=account_id, service_principal=service_principal, organization_id=org_id,
            registered_at=int(time.time()),
        ))

    def deregister_delegated_admin(self, account_id: str, service_principal: str) -> None:
        d = t.delegated_administrators.c
        self._write(delete(t.delegated_administrators).where(d.account_id == account_id,
                                                             d.service_principal == service_principal))

    def delegated_admins(self, org_id: str) -> list[DelegatedAdminRecord]:
        d = t.delegated_administrators.c
        rows = self._rows(select(t.delegated_administrators).where(d.organization_id == org_id)
                          .order_by(d.registered_at, d.account_id))
        return [DelegatedAdminRecord(r.account_id, r.service_principal, r.organization_id, r.registered_at)
                for r in rows]

    # -- invitations ----------------------------------------------------------------------------
    def add_handshake(self, handshake: HandshakeRecord) -> None:
        """Store an invitation; StaleState when, under the organization's lock, the target already
        has an open one from it (one open invitation per target)."""
        h = t.handshakes.c
        with self.locked(t.organizations, handshake.organization_id) as conn:
            if conn.execute(select(h.id).where(h.organization_id == handshake.organization_id,
                                               h.target_account_id == handshake.target_account_id,
                                               h.state == "OPEN", h.expires_at > handshake.requested_at)).first():
                raise StaleState(handshake.target_account_id)
            conn.execute(insert(t.handshakes).values(
                id=handshake.id, organization_id=handshake.organization_id,
                target_account_id=handshake.target_account_id, state=handshake.state, notes=handshake.notes,
                requested_at=handshake.requested_at, expires_at=handshake.expires_at,
            ))

    def get_handshake(self, handshake_id: str) -> HandshakeRecord | None:
        rows = self._rows(select(t.handshakes).where(t.handshakes.c.id == handshake_id))
        return _handshake(rows[0]) if rows else None

    def handshakes(self, *, organization_id: str | None = None, target_account_id: str | None = None) -> list[HandshakeRecord]:
        h = t.handshakes.c
        query = select(t.handshakes).order_by(h.requested_at, h.id)
        if organization_id is not None:
            query = query.where(h.organization_id == organization_id)
        if target_account_id is not None:
            query = query.where(h.target_account_id == target_account_id)
        return [_handshake(r) for r in self._rows(query)]

    def set_handshake_state(self, handshake_id: str, state: str, *, member: MemberRecord | None = None,
                            policies: tuple[str, ...] = ()) -> None:
        """Move an OPEN handshake to ``state`` — a compare-and-set, so of two concurrent
        Accept/Decline/Cancel calls one wins; StaleState for the other. ``member``: the account
        that joins by accepting, added in the same transaction with ``policies`` attached to it."""
        h = t.handshakes.c
        try:
            with self.engine.begin() as conn:
                if not conn.execute(update(t.handshakes).where(h.id == handshake_id, h.state == "OPEN")
                                    .values(state=state)).rowcount:
                    raise StaleState(handshake_id)
                if member is not None:
                    conn.execute(insert(t.organization_accounts).values(
                        account_id=member.account_id, organization_id=member.organization_id, email=member.email,
                        joined_method=member.joined_method, joined_at=member.joined_at,
                        create_request_id=member.create_request_id))
                    _attach_all(conn, member.organization_id, member.account_id, policies)
                self._bump(conn)  # type: ignore[attr-defined]
        except IntegrityError:  # the account joined an organization meanwhile
            raise StaleState(handshake_id) from None


def _attach_all(conn: Any, org_id: str, target_id: str, policy_ids: tuple[str, ...]) -> None:
    for policy_id in policy_ids:
        conn.execute(insert(t.organization_policy_targets).values(policy_id=policy_id, target_id=target_id,
                                                                  organization_id=org_id))


def _handshake(row: Any) -> HandshakeRecord:
    return HandshakeRecord(row.id, row.organization_id, row.target_account_id, row.state, row.notes,
                           row.requested_at, row.expires_at)


# -- organizational units and policies (a second mixin: the same store, other tables) --------------
class OrganizationTreeRepositoryMixin(_Locking):
    engine: Any

    def _rows(self, query: Any) -> list[Any]:  # pragma: no cover - provided by OrganizationRepositoryMixin
        raise NotImplementedError

    def create_ou(self, ou: OrganizationalUnitRecord) -> None:
        """Under the organization's lock: ParentGone when the parent OU was deleted meanwhile,
        StaleState when the parent has an OU of that name."""
        c = t.organizational_units.c
        with self.locked(t.organizations, ou.organization_id) as conn:
            root = conn.execute(select(t.organizations.c.root_id)
                                .where(t.organizations.c.id == ou.organization_id)).scalar_one()
            if ou.parent_id != root and not conn.execute(select(c.id).where(c.id == ou.parent_id)).first():
                raise ParentGone(ou.parent_id)
            if conn.execute(select(c.id).where(c.parent_id == ou.parent_id, c.name == ou.name)).first():
                raise StaleState(ou.name)
            conn.execute(insert(t.organizational_units).values(id=ou.id, organization_id=ou.organization_id,
                                                               parent_id=ou.parent_id, name=ou.name))

    def get_ou(self, ou_id: str) -> OrganizationalUnitRecord | None:
        rows = self._rows(select(t.organizational_units).where(t.organizational_units.c.id == ou_id))
        return _ou(rows[0]) if rows else None

    def ous(self, org_id: str) -> list[OrganizationalUnitRecord]:
        c = t.organizational_units.c
        return [_ou(r) for r in self._rows(select(t.organizational_units).where(c.organization_id == org_id)
                                            .order_by(c.name, c.id))]

    def rename_ou(self, ou_id: str, name: str) -> None:
        self._write(update(t.organizational_units).where(t.organizational_units.c.id == ou_id).values(name=name))

    def delete_ou(self, org_id: str, ou_id: str) -> None:
        """Under the organization's lock: ParentGone when the OU was deleted meanwhile, StaleState
        when it has child OUs or accounts (moved or created in it meanwhile)."""
        c, m = t.organizational_units.c, t.organization_accounts.c
        with self.locked(t.organizations, org_id) as conn:
            if not conn.execute(select(c.id).where(c.id == ou_id)).first():
                raise ParentGone(ou_id)
            if (conn.execute(select(c.id).where(c.parent_id == ou_id)).first()
                    or conn.execute(select(m.account_id).where(m.parent_id == ou_id)).first()):
                raise StaleState(ou_id)
            conn.execute(delete(t.organization_policy_targets).where(t.organization_policy_targets.c.target_id == ou_id))
            conn.execute(delete(t.organizational_units).where(c.id == ou_id))

    def create_org_policy(self, policy: OrgPolicyRecord) -> None:
        self._write(insert(t.organization_policies).values(
            id=policy.id, organization_id=policy.organization_id, name=policy.name, description=policy.description,
            type=policy.type, content=policy.content))

    def get_org_policy(self, policy_id: str) -> OrgPolicyRecord | None:
        rows = self._rows(select(t.organization_policies).where(t.organization_policies.c.id == policy_id))
        return _policy(rows[0]) if rows else None

    def org_policies(self, org_id: str) -> list[OrgPolicyRecord]:
        c = t.organization_policies.c
        return [_policy(r) for r in self._rows(select(t.organization_policies).where(c.organization_id == org_id)
                                                .order_by(c.name, c.id))]

    def update_org_policy(self, policy_id: str, **values: str) -> None:
        self._write(update(t.organization_policies).where(t.organization_policies.c.id == policy_id).values(**values))

    def delete_org_policy(self, policy_id: str) -> None:
        self._write(delete(t.organization_policies).where(t.organization_policies.c.id == policy_id))

    def attach_org_policy(self, org_id: str, policy_id: str, target_id: str, limit: int | None = None) -> None:
        """EntityAlreadyExists when attached already; with ``limit``, LimitReached when the target
        would then have more policies (counted under the organization's row lock)."""
        c = t.organization_policy_targets.c
        attach = insert(t.organization_policy_targets).values(policy_id=policy_id, target_id=target_id,
                                                               organization_id=org_id)
        if limit is None:
            self._write(attach)
            return
        count = self._count(t.organization_policy_targets, c.target_id == target_id)
        self._write_limited(t.organizations, org_id, count, limit, attach)

    def detach_org_policy(self, org_id: str, policy_id: str, target_id: str, minimum: int = 0) -> None:
        """Under the organization's row lock: StaleState when it was not attached (any more),
        LimitReached when the target would be left with fewer than ``minimum`` policies."""
        c = t.organization_policy_targets.c
        with self.locked(t.organizations, org_id) as conn:
            if not conn.execute(delete(t.organization_policy_targets)
                                .where(c.policy_id == policy_id, c.target_id == target_id)).rowcount:
                raise StaleState(policy_id)
            left = conn.execute(self._count(t.organization_policy_targets, c.target_id == target_id)).scalar_one()
            if left < minimum:
                raise LimitReached(minimum)

    def detach_org_policies(self, org_id: str, policy_ids: set[str]) -> None:
        """Every attachment of these policies in the organization (a policy type disabled)."""
        c = t.organization_policy_targets.c
        self._write(delete(t.organization_policy_targets).where(c.organization_id == org_id,
                                                                c.policy_id.in_(sorted(policy_ids))))

    def org_policy_targets(self, org_id: str) -> list[tuple[str, str]]:
        """(policy id, target id) of every attachment in the organization."""
        c = t.organization_policy_targets.c
        return [(r.policy_id, r.target_id) for r in self._rows(
            select(t.organization_policy_targets).where(c.organization_id == org_id).order_by(c.target_id, c.policy_id))]


def _ou(row: Any) -> OrganizationalUnitRecord:
    return OrganizationalUnitRecord(row.id, row.organization_id, row.parent_id, row.name)


def _policy(row: Any) -> OrgPolicyRecord:
    return OrgPolicyRecord(row.id, row.organization_id, row.name, row.description, row.type, row.content)
