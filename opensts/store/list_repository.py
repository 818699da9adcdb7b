"""Pages of every IAM listing that grows with an account, read in the database (keyset).

WHY (issue 19): the listings used to read the whole account (and one tag query per role) for
every page. Each method here reads one page — at most ``limit`` rows after the position ``after``
(store/keyset.py), in the order IAM lists them, from an index on that order — plus, where a page
needs more than its rows (attachment counts, tags, a device's user), one query for the whole
page. So a page costs a constant number of queries and time proportional to its size.

Keys (unique within each listing): users, roles, groups, instance profiles, server certificates
by ``name_lower`` (unique per account); managed policies by ``(name, id)``; MFA devices by
``serial``.
"""

from __future__ import annotations

import json
import keyword
from collections import namedtuple
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, exists, func, or_, select, union, union_all

from opensts.store import tables as t
from opensts.store.credentials_repository import InstanceProfileRecord, ServerCertificateRecord, _profile, _server_cert
from opensts.store.group_repository import GroupRecord, _group
from opensts.store.iam_repository import PolicyRecord, PolicyVersionRecord, RoleRecord
from opensts.store.keyset import Key, after
from opensts.store.reads_repository import DelegationRecord, _delegation

__all__ = ["ListingRepositoryMixin"]

_ENTITY_TABLES: dict[str, Table] = {"user": t.users, "group": t.iam_groups, "role": t.roles}
_INLINE: dict[str, tuple[Table, str]] = {"user": (t.user_policies, "user_id"), "group": (t.group_policies, "group_id"),
                                         "role": (t.role_policies, "role_id")}


def _under(table: Table, account_id: str, path_prefix: str) -> Any:
    c = table.c
    cond = c.account_id == account_id
    return cond if path_prefix == "/" else and_(cond, c.path.startswith(path_prefix, autoescape=True))


@lru_cache(maxsize=256)
def _row_type(keys: tuple[str, ...]) -> Callable[[Any], Any] | None:
    """A named tuple type's constructor for rows with these column names (None: names a named
    tuple cannot carry — duplicates, keywords, leading underscores; the rows stay as they are).

    WHY: reading a column of a SQLAlchemy ``Row`` by name costs ~0.35 µs (a Python-level key
    look-up per access); a page of 1000 roles read 11 columns by name per row, more than the
    query itself. A named tuple's fields are C-level item getters: converting the page once
    (0.3 µs a row) makes every later access ~10x cheaper, for every listing that reads rows by
    name."""
    ok = len(set(keys)) == len(keys) and all(
        k.isidentifier() and not k.startswith("_") and not keyword.iskeyword(k) for k in keys)
    return namedtuple("PageRow", keys)._make if ok else None  # type: ignore[misc]


def _role_record(r: Any, tags: dict[str, str]) -> RoleRecord:
    ids = r.trust_principal_ids
    return RoleRecord(r.id, r.account_id, r.name, r.path, r.trust_policy, r.description, r.max_session_duration,
                      r.permissions_boundary_arn, r.created_at, tags, json.loads(ids) if ids and ids != "{}" else {})


class ListingRepositoryMixin:
    """Keyset page queries of ``SqlRepository`` (relies on its ``engine``)."""

    engine: Any

    def _page_rows(self, query: Any) -> list[Any]:
        """All the rows at once (``fetchall``: a page of 1000 rows fetched one by one cost more
        than the query), as named tuples (``_row_type``: cheap access by column name)."""
        with self.engine.connect() as conn:
            result = conn.execute(query)
            make = _row_type(tuple(result.keys()))
            rows = result.all()
        return rows if make is None else list(map(make, rows))

    # -- batch look-ups for a page ------------------------------------------------------------
    def tags_of(self, entity_type: str, entity_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Every listed entity's tags, in one query (entities without tags are absent)."""
        ids = list(dict.fromkeys(entity_ids))
        out: dict[str, dict[str, str]] = {}
        if not ids:
            return out
        c = t.tags.c
        for row in self._page_rows(select(c.entity_id, c.key, c.value).where(c.entity_type == entity_type,
                                                                         c.entity_id.in_(ids))):
            out.setdefault(row.entity_id, {})[row.key] = row.value
        return out

    def profile_roles_of(self, profile_ids: Iterable[str]) -> dict[str, list[RoleRecord]]:
        """Each instance profile's roles (without tags), in one query."""
        ids = list(dict.fromkeys(profile_ids))
        out: dict[str, list[RoleRecord]] = {}
        if not ids:
            return out
        c = t.instance_profile_roles.c
        query = (select(c.profile_id, t.roles).join(t.roles, t.roles.c.id == c.role_id)
                 .where(c.profile_id.in_(ids)).order_by(c.profile_id, t.roles.c.name_lower))
        for r in self._page_rows(query):
            out.setdefault(r.profile_id, []).append(_role_record(r, {}))
        return out

    # -- what GetAccountAuthorizationDetails shows of a page's entities (one query each) -------
    def inline_policies_of(self, kind: str, ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each user's, group's or role's inline policies {name: document}, by name."""
        table, column = _INLINE[kind]
        ids = list(dict.fromkeys(ids))
        out: dict[str, dict[str, str]] = {}
        if ids:
            c = table.c
            for r in self._page_rows(select(c[column], c.name, c.document).where(c[column].in_(ids)).order_by(c.name)):
                out.setdefault(r[0], {})[r.name] = r.document
        return out

    def attached_of(self, kind: str, ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """Each entity's attached managed policies (name, ARN), by name."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, list[tuple[str, str]]] = {}
        if ids:
            a, p = t.policy_attachments.c, t.managed_policies.c
            query = (select(a.entity_id, p.name, p.arn).join(t.managed_policies, p.arn == a.policy_arn)
                     .where(a.entity_type == kind, a.entity_id.in_(ids)).order_by(p.name))
            for r in self._page_rows(query):
                out.setdefault(r.entity_id, []).append((r.name, r.arn))
        return out

    def group_names_of(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """Each user's groups' names, by name."""
        ids = list(dict.fromkeys(user_ids))
        out: dict[str, list[str]] = {}
        if ids:
            g, m = t.iam_groups.c, t.group_members.c
            query = (select(m.user_id, g.name).join(t.iam_groups, g.id == m.group_id)
                     .where(m.user_id.in_(ids)).order_by(g.name_lower))
            for r in self._page_rows(query):
                out.setdefault(r.user_id, []).append(r.name)
        return out

    def instance_profiles_of(self, role_ids: Iterable[str]) -> dict[str, list[InstanceProfileRecord]]:
        """Each role's instance profiles, by name."""
        ids = list(dict.fromkeys(role_ids))
        out: dict[str, list[InstanceProfileRecord]] = {}
        if ids:
            ip, c = t.instance_profiles, t.instance_profile_roles.c
            query = (select(c.role_id, ip).join(t.instance_profile_roles, ip.c.id == c.profile_id)
                     .where(c.role_id.in_(ids)).order_by(ip.c.name_lower))
            for r in self._page_rows(query):
                profile = _profile(r)
                if profile is not None:
                    out.setdefault(r.role_id, []).append(profile)
        return out

    def versions_of(self, policies: Iterable[PolicyRecord]) -> dict[str, list[PolicyVersionRecord]]:
        """Each policy's versions, newest first."""
        defaults = {p.arn: p.default_version for p in policies}
        out: dict[str, list[PolicyVersionRecord]] = {}
        if defaults:
            v = t.policy_versions.c
            for r in self._page_rows(select(t.policy_versions).where(v.policy_arn.in_(list(defaults)))):
                out.setdefault(r.policy_arn, []).append(PolicyVersionRecord(
                    r.policy_arn, r.version_id, r.document, r.created_at, r.version_id == defaults[r.policy_arn]))
        for versions in out.values():
            versions.sort(key=lambda x: int(x.version_id[1:]), reverse=True)
        return out

    def account_uses_of(self, account_id: str, arns: Iterable[str]) -> tuple[dict[str, int], dict[str, int]]:
        """Per policy: how many of the account's users, groups and roles have it attached, and how
        many of its users and roles have it as permissions boundary (two queries)."""
        arns = list(dict.fromkeys(arns))
        if not arns:
            return {}, {}
        a = t.policy_attachments.c
        attached = union_all(*(
            select(a.policy_arn.label("arn")).join(table, and_(a.entity_type == kind, a.entity_id == table.c.id))
            .where(table.c.account_id == account_id, a.policy_arn.in_(arns)) for kind, table in _ENTITY_TABLES.items()
        )).subquery()
        bounded = union_all(*(
            select(table.c.permissions_boundary_arn.label("arn"))
            .where(table.c.account_id == account_id, table.c.permissions_boundary_arn.in_(arns))
            for table in (t.users, t.roles)
        )).subquery()
        return tuple(  # type: ignore[return-value]
            {r[0]: int(r[1]) for r in self._page_rows(select(q.c.arn, func.count()).group_by(q.c.arn))}
            for q in (attached, bounded)
        )

    # -- one-table listings by name ----------------------------------------------------------
    def users_page(self, account_id: str, path_prefix: str = "/", key: Key | None = None,
                   limit: int | None = None) -> list[Any]:
        query = select(t.users).where(_under(t.users, account_id, path_prefix))
        return self._page_rows(after(query, [t.users.c.name_lower], key, limit))

    def roles_page(self, account_id: str, path_prefix: str = "/", key: Key | None = None,
                   limit: int | None = None, *, tags: bool = False) -> list[RoleRecord]:
        query = select(t.roles).where(_under(t.roles, account_id, path_prefix))
        rows = self._page_rows(after(query, [t.roles.c.name_lower], key, limit))
        tag_maps = self.tags_of("role", (r.id for r in rows)) if tags else {}
        return [_role_record(r, tag_maps.get(r.id, {})) for r in rows]

    def groups_page(self, account_id: str, path_prefix: str = "/", key: Key | None = None,
                    limit: int | None = None) -> list[GroupRecord]:
        query = select(t.iam_groups).where(_under(t.iam_groups, account_id, path_prefix))
        return [g for g in map(_group, self._page_rows(after(query, [t.iam_groups.c.name_lower], key, limit))) if g]

    def instance_profiles_page(self, account_id: str, path_prefix: str = "/", key: Key | None = None,
                               limit: int | None = None) -> list[InstanceProfileRecord]:
        ip = t.instance_profiles
        query = select(ip).where(_under(ip, account_id, path_prefix))
        return [p for p in map(_profile, self._page_rows(after(query, [ip.c.name_lower], key, limit))) if p]

    def server_certificates_page(self, account_id: str, path_prefix: str = "/", key: Key | None = None,
                                 limit: int | None = None) -> list[ServerCertificateRecord]:
        sc = t.server_certificates
        query = select(sc).where(_under(sc, account_id, path_prefix))
        return [s for s in map(_server_cert, self._page_rows(after(query, [sc.c.name_lower], key, limit))) if s]

    # -- relations -------------------------------------------------------------------------
    def group_members_page(self, group_id: str, key: Key | None = None, limit: int | None = None) -> list[Any]:
        """GetGroup's members (user rows), by name: a seek on (group_id, user_name_lower), the
        member's name copied into its membership row (migration 0013)."""
        u, m = t.users.c, t.group_members.c
        query = select(t.users).join(t.group_members, m.user_id == u.id).where(m.group_id == group_id)
        return self._page_rows(after(query, [m.user_name_lower], key, limit))

    def role_instance_profiles_page(self, role_id: str, key: Key | None = None,
                                    limit: int | None = None) -> list[InstanceProfileRecord]:
        """A role's instance profiles by name: a seek on (role_id, profile_name_lower) (0013)."""
        ip, c = t.instance_profiles, t.instance_profile_roles.c
        query = select(ip).join(t.instance_profile_roles, ip.c.id == c.profile_id).where(c.role_id == role_id)
        return [p for p in map(_profile, self._page_rows(after(query, [c.profile_name_lower], key, limit))) if p]

    def policy_entities_page(self, kind: str, arn: str, account_id: str, *, attached: bool, boundary: bool,
                             path_prefix: str = "/", key: Key | None = None, limit: int | None = None) -> list[Any]:
        """ListEntitiesForPolicy's ``kind`` ("user", "group", "role") rows (id, name, path) that
        have the policy attached and/or (users, roles) as their permissions boundary, by name."""
        table = _ENTITY_TABLES[kind]
        a = t.policy_attachments.c
        uses = []
        if attached:  # a probe of the attachments' primary key per entity read in name order
            uses.append(exists().where(a.entity_type == kind, a.entity_id == table.c.id, a.policy_arn == arn))
        if boundary and kind != "group":
            uses.append(table.c.permissions_boundary_arn == arn)
        if not uses:
            return []
        columns = [table.c.id, table.c.name, table.c.path, table.c.name_lower]
        # Each use its own index-ordered seek, the two merged by the database: under one OR,
        # PostgreSQL hashed every attachment of the policy for each page (O(its entities)).
        streams = [after(select(*columns).where(_under(table, account_id, path_prefix), use), [table.c.name_lower],
                         key, limit).subquery() for use in uses]
        merged = streams[0] if len(streams) == 1 else union(*(select(s) for s in streams)).subquery()
        return self._page_rows(after(select(merged.c.id, merged.c.name, merged.c.path, merged.c.name_lower),
                                     [merged.c.name_lower], None, limit))

    def service_credentials_page(self, account_id: str, service_name: str | None = None, key: Key | None = None,
                                 limit: int | None = None) -> list[Any]:
        """ListServiceSpecificCredentials(AllUsers): the account's users' credentials (rows plus
        the user's name, ``user_name``) by (created_at, id)."""
        c, u = t.service_specific_credentials.c, t.users.c
        query = (select(t.service_specific_credentials, u.name.label("user_name"))
                 .join(t.users, u.id == c.user_id).where(u.account_id == account_id))
        if service_name is not None:
            query = query.where(c.service_name == service_name)
        return self._page_rows(after(query, [c.created_at, c.id], key, limit))

    # -- Organizations ----------------------------------------------------------------------
    def members_page(self, org_id: str, parent_id: str | None = None, root_id: str | None = None,
                     key: Key | None = None, limit: int | None = None) -> list[Any]:
        """An organization's member accounts (organization_accounts rows plus the account's
        ``name``), in the order they joined; ``parent_id``: only those directly under it (the
        root ``root_id`` holds the accounts without an OU)."""
        m = t.organization_accounts.c
        query = (select(t.organization_accounts, t.accounts.c.name)
                 .select_from(t.organization_accounts.outerjoin(t.accounts, t.accounts.c.id == m.account_id))
                 .where(m.organization_id == org_id))
        if parent_id is not None:
            query = query.where(or_(m.parent_id == parent_id, m.parent_id.is_(None)) if parent_id == root_id
                                else m.parent_id == parent_id)
        return self._page_rows(after(query, [m.joined_at, m.account_id], key, limit))

    def ous_page(self, parent_id: str, key: Key | None = None, limit: int | None = None) -> list[Any]:
        """ListOrganizationalUnitsForParent's / ListChildren(ORGANIZATIONAL_UNIT)'s OU rows
        directly under ``parent_id`` (OU ids are unique across organizations), by (name, id)."""
        c = t.organizational_units.c
        query = select(t.organizational_units).where(c.parent_id == parent_id)
        return self._page_rows(after(query, [c.name, c.id], key, limit))

    def org_policies_page(self, org_id: str, key: Key | None = None, limit: int | None = None) -> list[Any]:
        """The organization's own policies by (name, id)."""
        c = t.organization_policies.c
        query = select(t.organization_policies).where(c.organization_id == org_id)
        return self._page_rows(after(query, [c.name, c.id], key, limit))

    def policy_targets_page(self, org_id: str, policy_id: str, key: Key | None = None,
                            limit: int | None = None) -> list[Any]:
        """ListTargetsForPolicy: the policy's targets by id, each with its OU's name
        (``ou_name``) or its account's name (``account_name``) — one query for the page."""
        c, ou, a = t.organization_policy_targets.c, t.organizational_units.c, t.accounts.c
        query = (select(c.target_id, ou.name.label("ou_name"), a.name.label("account_name"))
                 .select_from(t.organization_policy_targets
                              .outerjoin(t.organizational_units, ou.id == c.target_id)
                              .outerjoin(t.accounts, a.id == c.target_id))
                 .where(c.policy_id == policy_id, c.organization_id == org_id))
        return self._page_rows(after(query, [c.target_id], key, limit))

    def target_policies(self, org_id: str, target_id: str) -> list[Any]:
        """ListPoliciesForTarget: the policies attached to one target (at most five SCPs), by
        id, each with its row's columns (``p_*``; None for FullAWSAccess, which is not stored)
        — one query on the target's index, not every attachment of the organization."""
        c, p = t.organization_policy_targets.c, t.organization_policies.c
        query = (select(c.policy_id, p.organization_id.label("p_organization_id"), p.name.label("p_name"),
                        p.description.label("p_description"), p.type.label("p_type"), p.content.label("p_content"))
                 .select_from(t.organization_policy_targets.outerjoin(t.organization_policies, p.id == c.policy_id))
                 .where(c.target_id == target_id, c.organization_id == org_id).order_by(c.policy_id))
        return self._page_rows(query)

    def handshakes_page(self, *, organization_id: str | None = None, target_account_id: str | None = None,
                        key: Key | None = None, limit: int | None = None) -> list[Any]:
        """Invitations of an organization or to an account, as they were sent: (requested_at, id),
        each with what its answer shows of the inviting organization (``mgmt``, ``feature_set``,
        ``mgmt_name``: its management account and that account's name) — one query a page."""
        h, o, a = t.handshakes.c, t.organizations.c, t.accounts.c
        query = (select(t.handshakes, o.management_account_id.label("mgmt"), o.feature_set,
                        a.name.label("mgmt_name"))
                 .select_from(t.handshakes.join(t.organizations, o.id == h.organization_id)
                              .outerjoin(t.accounts, a.id == o.management_account_id)))
        if organization_id is not None:
            query = query.where(h.organization_id == organization_id)
        if target_account_id is not None:
            query = query.where(h.target_account_id == target_account_id)
        return self._page_rows(after(query, [h.requested_at, h.id], key, limit))

    def delegated_admins_page(self, org_id: str, service_principal: str | None = None, key: Key | None = None,
                              limit: int | None = None) -> list[Any]:
        """ListDelegatedAdministrators: each delegated account once, by (when it was first
        registered, ``enabled_at``; account id), with its member row's columns and its name —
        one query for the page (the grouping reads the organization's delegations, an index
        range: an account is listed once however many services it administers)."""
        d, m, a = t.delegated_administrators.c, t.organization_accounts.c, t.accounts.c
        grouped = select(d.account_id, func.min(d.registered_at).label("enabled_at")).where(d.organization_id == org_id)
        if service_principal is not None:
            grouped = grouped.where(d.service_principal == service_principal)
        first = grouped.group_by(d.account_id).subquery()
        query = (select(first.c.account_id, first.c.enabled_at, m.email, m.joined_method, m.joined_at, a.name)
                 .select_from(first.outerjoin(t.organization_accounts, m.account_id == first.c.account_id)
                              .outerjoin(t.accounts, a.id == first.c.account_id)))
        return self._page_rows(after(query, [first.c.enabled_at, first.c.account_id], key, limit))

    def account_names_of(self, account_ids: Iterable[str]) -> dict[str, str | None]:
        """Each listed account's name (None: unnamed), in one query."""
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return {}
        a = t.accounts.c
        return {r.id: r.name for r in self._page_rows(select(a.id, a.name).where(a.id.in_(ids)))}

    # -- MFA devices -------------------------------------------------------------------------
    def virtual_mfa_devices_page(self, account_id: str, assigned: bool | None = None, key: Key | None = None,
                                 limit: int | None = None, *, user_id: str | None = None) -> list[Any]:
        """Device rows (serial, user_id, enabled_at) with the assigned user's columns (``u_*``,
        outer join: one query for the page), by serial; ``user_id``: that user's devices only."""
        d, u = t.mfa_devices.c, t.users.c
        query = (select(d.serial, d.user_id, d.enabled_at, u.name.label("u_name"), u.path.label("u_path"),
                        u.created_at.label("u_created_at"), u.permissions_boundary_arn.label("u_boundary"))
                 .select_from(t.mfa_devices.outerjoin(t.users, u.id == d.user_id)))
        query = query.where(d.account_id == account_id if user_id is None else d.user_id == user_id)
        if assigned is not None:
            query = query.where(d.user_id.is_not(None) if assigned else d.user_id.is_(None))
        return self._page_rows(after(query, [d.serial], key, limit))

    # -- delegation requests ----------------------------------------------------------------
    def delegation_requests_page(self, owner_account_id: str, owner_id: str | None = None, key: Key | None = None,
                                 limit: int | None = None) -> list[DelegationRecord]:
        """ListDelegationRequests: the requests sent to the account (``owner_id``: to that
        principal only), as they were created: (created_at, id)."""
        c = t.delegation_requests.c
        query = select(t.delegation_requests).where(c.owner_account_id == owner_account_id, c.owner_id.is_not(None))
        if owner_id is not None:
            query = query.where(c.owner_id == owner_id)
        return [_delegation(r) for r in self._page_rows(after(query, [c.created_at, c.id], key, limit))]

    # -- managed policies -------------------------------------------------------------------
    def policies_page(self, account_id: str, *, local: bool = True, aws: bool = True, path_prefix: str = "/",
                      only_attached: bool = False, aws_used_only: bool = False, key: Key | None = None,
                      limit: int | None = None) -> list[PolicyRecord]:
        """ListPolicies' page by (name, id): the account's own (``local``) and/or the AWS managed
        ones (``aws``; ``aws_used_only``: only those attached to one of this account's entities).
        Each scope is one index seek on (account_id, name, id); the database merges the two, and
        counts each policy's attachments and boundary uses in the same statement."""
        c = t.managed_policies.c
        a = t.policy_attachments.c
        streams = []
        for is_aws, wanted in ((False, local), (True, aws)):
            if not wanted:
                continue
            query = select(t.managed_policies).where(c.account_id.is_(None) if is_aws else c.account_id == account_id)
            if path_prefix != "/":
                query = query.where(c.path.startswith(path_prefix, autoescape=True))
            if only_attached:
                query = query.where(exists().where(a.policy_arn == c.arn))
            if is_aws and aws_used_only:
                query = query.where(c.arn.in_(self._account_attached_arns(account_id)))
            streams.append(after(query, [c.name, c.id], key, limit).subquery())
        if not streams:
            return []
        if len(streams) == 1:
            merged = streams[0]
        else:  # the database merges the two seeks in its own collation (the order keys compare in)
            merged = union_all(*(select(s) for s in streams)).subquery()
        arn = merged.c.arn
        attached = select(func.count()).where(a.policy_arn == arn).scalar_subquery()
        boundary = (select(func.count()).where(t.users.c.permissions_boundary_arn == arn).scalar_subquery()
                    + select(func.count()).where(t.roles.c.permissions_boundary_arn == arn).scalar_subquery())
        query = select(merged, attached.label("attached"), boundary.label("boundary"))
        rows = self._page_rows(after(query, [merged.c.name, merged.c.id], None, limit))
        return [PolicyRecord(r.arn, r.id, r.account_id, r.name, r.path, r.description, r.default_version,
                             r.created_at, r.updated_at, int(r.attached), int(r.boundary)) for r in rows]

    @staticmethod
    def _account_attached_arns(account_id: str) -> Any:
        """The ARNs attached to any of the account's users, groups or roles (a subquery)."""
        a = t.policy_attachments.c
        parts = [select(a.policy_arn).join(table, and_(a.entity_type == kind, a.entity_id == table.c.id))
                 .where(table.c.account_id == account_id) for kind, table in _ENTITY_TABLES.items()]
        return union(*parts).subquery().select()
