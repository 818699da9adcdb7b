"""Keyset paging of Organizations' listings, in process: a page costs the same number of SQL
statements whatever the size of the organization and of the page (no per-item query), and
walking NextToken yields every item once, in the listing's order (issue 19)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from opensts.auth.principals import Caller
from opensts.service.accounts import create_account
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.organizations import OrganizationsService
from opensts.store import tables as t
from opensts.store.cache import StoreCache
from opensts.store.database import open_store

MANAGEMENT = "123456789014"
GUEST = "999988887777"


def _root(account: str) -> Caller:
    return Caller("Root", account, f"arn:aws:iam::{account}:root", account, "root", "AKIAROOTROOTROOTROOT")


class Org:
    """An organization with ``size`` member accounts, OUs under the root, policies (one attached
    to every account), delegated administrators and invitations — written straight into the
    store (one multi-row INSERT per table)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.repo = open_store(folder)
        create_account(self.repo, MANAGEMENT)
        create_account(self.repo, GUEST)
        cache = StoreCache(self.repo, check_interval=3600)
        self.service = OrganizationsService(cache, Authorizer(cache))
        org = self.call("CreateOrganization", FeatureSet="ALL")["Organization"]
        self.root = self.call("ListRoots")["Roots"][0]["Id"]
        self.call("EnablePolicyType", RootId=self.root, PolicyType="SERVICE_CONTROL_POLICY")
        now = int(time.time())
        members = [f"7{i:011d}" for i in range(size)]
        rows = {
            t.accounts: [dict(id=a, name=f"member-{a}", partition="aws", created_at=now) for a in members],
            t.organization_accounts: [dict(account_id=a, organization_id=org["Id"], email=f"{a}@example.com",
                                           joined_method="CREATED", joined_at=now + i % 7, parent_id=None)
                                      for i, a in enumerate(members)],
            t.organizational_units: [dict(id=f"ou-{i:04d}-{i:08d}", organization_id=org["Id"], parent_id=self.root,
                                          name=f"{'Unit' if i % 2 else 'unit'}{i % 50:03d}") for i in range(size)],
            t.organization_policies: [dict(id=f"p-{i:08d}", organization_id=org["Id"], name=f"scp{i % 40}",
                                           description="", type="SERVICE_CONTROL_POLICY", content="{}")
                                      for i in range(size)],
            t.organization_policy_targets: [dict(policy_id="p-00000000", target_id=a, organization_id=org["Id"])
                                            for a in members],
            t.delegated_administrators: [dict(account_id=a, service_principal=f"s{j}.amazonaws.com",
                                              organization_id=org["Id"], registered_at=now + i % 5)
                                         for i, a in enumerate(members) for j in range(2)],
            t.handshakes: [dict(id=f"h-{i:032d}", organization_id=org["Id"], target_account_id=GUEST,
                                state="CANCELED", notes=None, requested_at=now + i % 3, expires_at=now + 86400)
                           for i in range(size)],
        }
        with self.repo.engine.begin() as conn:
            for table, values in rows.items():
                conn.execute(insert(table), values)
        self.policy = "p-00000000"
        self.statements = 0
        event.listen(self.repo.engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    def call(self, action: str, caller: str = MANAGEMENT, **params: Any) -> dict[str, Any]:
        return self.service.handle(RequestInfo("req", action, datetime.now(timezone.utc), _root(caller)), params)

    def counted(self, action: str, **params: Any) -> tuple[int, dict[str, Any]]:
        before = self.statements
        out = self.call(action, **params)
        return self.statements - before, out


#: (operation, its parameters, the list in its answer, an item's id, the order of the items)
LISTINGS: list[tuple[str, Callable[[Org], dict[str, Any]], str, str]] = [
    ("ListAccounts", lambda o: {}, "Accounts", "Id"),
    ("ListAccountsForParent", lambda o: {"ParentId": o.root}, "Accounts", "Id"),
    ("ListChildren", lambda o: {"ParentId": o.root, "ChildType": "ACCOUNT"}, "Children", "Id"),
    ("ListChildren", lambda o: {"ParentId": o.root, "ChildType": "ORGANIZATIONAL_UNIT"}, "Children", "Id"),
    ("ListOrganizationalUnitsForParent", lambda o: {"ParentId": o.root}, "OrganizationalUnits", "Id"),
    ("ListPolicies", lambda o: {"Filter": "SERVICE_CONTROL_POLICY"}, "Policies", "Id"),
    ("ListTargetsForPolicy", lambda o: {"PolicyId": o.policy}, "Targets", "TargetId"),
    ("ListDelegatedAdministrators", lambda o: {}, "DelegatedAdministrators", "Id"),
    ("ListHandshakesForOrganization", lambda o: {}, "Handshakes", "Id"),
    ("ListHandshakesForAccount", lambda o: {"caller": GUEST}, "Handshakes", "Id"),
]
IDS = ["accounts", "root-accounts", "children-accounts", "children-ous", "ous", "policies", "targets", "delegated",
       "handshakes-org", "handshakes-account"]


@pytest.fixture(scope="module")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Org]]:
    made = {size: Org(tmp_path_factory.mktemp(f"org{size}"), size) for size in (12, 1500)}
    yield made
    for org in made.values():
        org.repo.engine.dispose()


@pytest.mark.parametrize(("action", "params", "key", "field"), LISTINGS, ids=IDS)
def test_a_page_costs_the_same_statements_whatever_the_organization_and_page_size(
        orgs: dict[int, Org], action: str, params: Any, key: str, field: str) -> None:
    check_page_costs(orgs, action, params, key)


def check_page_costs(orgs: dict[int, Org], action: str, params: Any, key: str) -> None:
    """The statements of a first and a next page of 5 at 12 and 1,500 items, and of a page of
    20 at 1,500: all the same (tests/postgres runs it on PostgreSQL too)."""
    costs = {}
    for size, org in orgs.items():
        args = params(org)
        org.call(action, MaxResults=5, **args)  # warm: the cache's first look-ups are not the page's
        first_cost, first = org.counted(action, MaxResults=5, **args)
        assert first["NextToken"] and len(first[key]) == 5
        next_cost, _ = org.counted(action, MaxResults=5, NextToken=first["NextToken"], **args)
        costs[size] = (first_cost, next_cost)
    big = orgs[1500]
    wide_cost, wide = big.counted(action, MaxResults=20, **params(big))
    assert len(wide[key]) == 20
    assert costs[12] == costs[1500], costs  # the organization's size does not matter
    assert wide_cost == costs[1500][0], (wide_cost, costs)  # nor the page's: no query per item
    assert max(wide_cost, *costs[1500]) <= 8, costs


@pytest.mark.parametrize(("action", "params", "key", "field"), LISTINGS, ids=IDS)
def test_walking_a_large_listing_yields_each_item_once(orgs: dict[int, Org], action: str, params: Any, key: str,
                                                       field: str) -> None:
    org = orgs[1500]
    args = params(org)
    seen: list[str] = []
    token = None
    for _ in range(200):
        page = org.call(action, MaxResults=20, **args, **({"NextToken": token} if token else {}))
        seen += [item[field] for item in page[key]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 1500


def test_a_targets_policies_cost_the_same_statements_whatever_the_organization(orgs: dict[int, Org]) -> None:
    """ListPoliciesForTarget (at most five SCPs a target) reads the target's attachments only."""
    costs = {}
    for size, org in orgs.items():
        account = "700000000003"
        org.call("ListPoliciesForTarget", TargetId=account, Filter="SERVICE_CONTROL_POLICY")
        costs[size], out = org.counted("ListPoliciesForTarget", TargetId=account, Filter="SERVICE_CONTROL_POLICY")
        assert [p["Name"] for p in out["Policies"]] == ["scp0"]  # the bulk rows: one policy on every account
        on_root = org.call("ListPoliciesForTarget", TargetId=org.root, Filter="SERVICE_CONTROL_POLICY")["Policies"]
        assert [(p["Name"], p["AwsManaged"]) for p in on_root] == [("FullAWSAccess", True)]
    assert costs[12] == costs[1500], costs
