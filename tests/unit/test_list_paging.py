"""Keyset paging of IAM's listings, in process: every page costs the same number of SQL
statements whatever the size of the store and of the page (no per-row query), and walking the
Marker yields every entity once, in IAM's order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from opensts.auth.principals import Caller
from opensts.protocol.errors import ServiceError
from opensts.protocol.model import load_service
from opensts.service.accounts import create_account
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.iam import IamService
from opensts.store.cache import StoreCache
from opensts.store.database import open_store
from opensts.store.repository import SqlRepository
from tests import listing_data as data

ACCOUNT = "123456789012"
ROOT = Caller("Root", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "root", "AKIAROOTROOTROOTROOT")
POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


class Store:
    """An in-process IAM service on its own store, with ``size`` entities of each listed kind."""

    def __init__(self, folder: Path, size: int) -> None:
        self.repo: SqlRepository = open_store(folder)
        create_account(self.repo, ACCOUNT)
        cache = StoreCache(self.repo, check_interval=3600)  # no generation check amid a count
        self.service = IamService(self.repo, cache, Authorizer(cache), load_service("iam"))
        engine = self.repo.engine
        users = data.users(engine, ACCOUNT, size, path="/bulk/")
        roles = data.roles(engine, ACCOUNT, size, path="/bulk/")
        groups = data.groups(engine, ACCOUNT, size, path="/bulk/")
        profiles = data.instance_profiles(engine, ACCOUNT, size)
        data.profile_roles(engine, roles[0]["id"], [p["id"] for p in profiles])
        self.role = roles[0]["name"]
        policies = data.policies(engine, ACCOUNT, size)
        data.mfa_devices(engine, ACCOUNT, size)
        data.mfa_devices(engine, ACCOUNT, size, prefix="usermfa", user_id=users[0]["id"])
        self.user = users[0]["name"]
        data.delegation_requests(engine, ACCOUNT, size)
        data.members(engine, groups[0]["id"], [u["id"] for u in users])
        for kind, rows in (("user", users), ("role", roles), ("group", groups)):
            data.attach(engine, kind, [r["id"] for r in rows], POLICY)
        for user, policy in zip(users, policies):
            data.attach(engine, "user", [user["id"]], policy["arn"])
        self.group = groups[0]["name"]
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        info = RequestInfo("req", action, datetime.now(timezone.utc), ROOT)
        return self.service.handle(info, params)

    def counted(self, action: str, **params: Any) -> tuple[int, dict[str, Any]]:
        before = self.statements
        out = self.call(action, **params)
        return self.statements - before, out


#: (operation, its parameters, the list in its answer) — every listing that grows with the store
LISTINGS: list[tuple[str, dict[str, Any], Callable[[Store], dict[str, Any]], str]] = [
    ("ListRoles", {"PathPrefix": "/bulk/"}, lambda s: {}, "Roles"),
    ("ListRoles", {}, lambda s: {}, "Roles"),
    ("ListUsers", {"PathPrefix": "/bulk/"}, lambda s: {}, "Users"),
    ("ListGroups", {}, lambda s: {}, "Groups"),
    ("ListPolicies", {"Scope": "Local"}, lambda s: {}, "Policies"),
    ("ListPolicies", {}, lambda s: {}, "Policies"),
    ("ListPolicies", {"OnlyAttached": True}, lambda s: {}, "Policies"),
    ("ListInstanceProfiles", {}, lambda s: {}, "InstanceProfiles"),
    ("ListVirtualMFADevices", {}, lambda s: {}, "VirtualMFADevices"),
    ("ListInstanceProfilesForRole", {}, lambda s: {"RoleName": s.role}, "InstanceProfiles"),
    ("GetGroup", {}, lambda s: {"GroupName": s.group}, "Users"),
    ("ListEntitiesForPolicy", {"PolicyArn": POLICY}, lambda s: {}, "PolicyUsers"),
    ("GetAccountAuthorizationDetails", {"Filter": ["Role"]}, lambda s: {}, "RoleDetailList"),
    ("GetAccountAuthorizationDetails", {"Filter": ["User"]}, lambda s: {}, "UserDetailList"),
    ("GetAccountAuthorizationDetails", {"Filter": ["Group"]}, lambda s: {}, "GroupDetailList"),
    ("GetAccountAuthorizationDetails", {"Filter": ["LocalManagedPolicy", "AWSManagedPolicy"]}, lambda s: {},
     "Policies"),
    ("GetAccountAuthorizationDetails", {}, lambda s: {}, "UserDetailList"),
    ("ListMFADevices", {}, lambda s: {"UserName": s.user}, "MFADevices"),
    ("ListDelegationRequests", {}, lambda s: {}, "DelegationRequests"),
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Store]]:
    made = {size: Store(tmp_path_factory.mktemp(f"store{size}"), size) for size in (12, 3000)}
    yield made
    for store in made.values():
        store.repo.engine.dispose()


@pytest.mark.parametrize(("action", "params", "named", "items"), LISTINGS,
                         ids=[f"{a}-{'-'.join(f'{k}={v}' for k, v in p.items() if k != 'PolicyArn') or 'all'}"
                              for a, p, _, _ in LISTINGS])
def test_a_page_costs_the_same_statements_whatever_the_store_and_page_size(
        stores: dict[int, Store], action: str, params: dict[str, Any], named: Any, items: str) -> None:
    costs = {}
    for size, store in stores.items():
        args = {**params, **named(store)}
        store.call(action, MaxItems=5, **args)  # warm: the cache's first look-ups are not the page's
        first_cost, first = store.counted(action, MaxItems=5, **args)
        assert first.get("IsTruncated", first.get("isTruncated")) and first["Marker"]
        next_cost, _ = store.counted(action, MaxItems=5, Marker=first["Marker"], **args)
        costs[size] = (first_cost, next_cost)
    big = stores[3000]
    wide_cost, wide = big.counted(action, MaxItems=500, **{**params, **named(big)})
    assert wide.get("IsTruncated", wide.get("isTruncated"))
    every = [*costs[12], *costs[3000], wide_cost]
    if action != "GetAccountAuthorizationDetails":
        assert costs[12] == costs[3000], costs  # the store's size does not matter
        assert wide_cost == costs[3000][0], (wide_cost, costs)  # nor the page's: no query per item
        assert max(every) <= 6, costs  # the named entity, the page (each source), a batch look-up or two
    else:  # a relation is read for the page only when the page has entities of its kind
        assert max(every) <= 12, (wide_cost, costs)  # 500 items: no query per item


def test_paging_through_3000_roles_yields_each_once_in_order(stores: dict[int, Store]) -> None:
    store = stores[3000]
    seen, marker, pages = [], None, 0
    while True:
        out = store.call("ListRoles", PathPrefix="/bulk/", MaxItems=700, **({"Marker": marker} if marker else {}))
        seen += [r["RoleName"] for r in out["Roles"]]
        pages += 1
        if not out["IsTruncated"]:
            assert "Marker" not in out
            break
        marker = out["Marker"]
    assert pages == 5
    assert seen == sorted(seen, key=str.lower) and len(set(seen)) == len(seen) == 3000


@pytest.mark.parametrize("marker", ["x", "0", "9" * 18, "AAAA", "not a marker at all", "=" * 8, "é"])
def test_a_marker_that_is_not_ours_is_invalid(stores: dict[int, Store], marker: str) -> None:
    with pytest.raises(ServiceError) as caught:
        stores[12].call("ListRoles", MaxItems=5, Marker=marker)
    assert (caught.value.code, caught.value.status, str(caught.value)) == ("InvalidInput", 400, "Invalid Marker.")


def test_a_marker_of_another_listing_or_edited_is_invalid(stores: dict[int, Store]) -> None:
    store = stores[12]
    users = store.call("ListUsers", MaxItems=2)["Marker"]
    roles = store.call("ListRoles", MaxItems=2)["Marker"]
    edited = [roles[:i] + ("A" if roles[i] != "A" else "B") + roles[i + 1:] for i in range(len(roles))]
    for marker in [users, roles[:-2], roles + "A", *edited]:
        with pytest.raises(ServiceError, match="Invalid Marker"):
            store.call("ListRoles", MaxItems=2, Marker=marker)


@pytest.mark.parametrize(("action", "params", "named", "items"), LISTINGS,
                         ids=[f"{a}-{'-'.join(f'{k}={v}' for k, v in p.items() if k != 'PolicyArn') or 'all'}"
                              for a, p, _, _ in LISTINGS])
def test_every_listing_refuses_a_marker_not_its_own(stores: dict[int, Store], action: str, params: dict[str, Any],
                                                    named: Any, items: str) -> None:
    store = stores[12]
    args = {**params, **named(store)}
    own = store.call(action, MaxItems=2, **args)["Marker"]
    foreign = store.call("ListUsers" if action == "ListRoles" else "ListRoles", MaxItems=2)["Marker"]
    for marker in ["garbage", "2", foreign, own[:-2], own + "AAAA", own[:6] + ("A" if own[6] != "A" else "B") + own[7:]]:
        with pytest.raises(ServiceError) as caught:
            store.call(action, MaxItems=2, Marker=marker, **args)
        assert (caught.value.code, caught.value.status, str(caught.value)) == ("InvalidInput", 400, "Invalid Marker.")


def test_a_groups_members_follow_a_users_rename(stores: dict[int, Store]) -> None:
    """GetGroup pages by the member's name copied into the membership: UpdateUser moves it."""
    store = stores[12]

    def walk() -> list[str]:
        seen, marker = [], None
        while True:
            out = store.call("GetGroup", GroupName=store.group, MaxItems=5, **({"Marker": marker} if marker else {}))
            seen += [u["UserName"] for u in out["Users"]]
            if not out["IsTruncated"]:
                return seen
            marker = out["Marker"]

    before = walk()
    assert before == sorted(before, key=str.lower) and len(before) == 12
    store.call("UpdateUser", UserName=before[0], NewUserName="zz-renamed")
    try:
        after = walk()
        assert after == [*before[1:], "zz-renamed"]
    finally:
        store.call("UpdateUser", UserName="zz-renamed", NewUserName=before[0])
    assert walk() == before
