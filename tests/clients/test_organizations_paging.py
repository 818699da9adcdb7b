"""Organizations' listings page in the database (issue 19): every listing that grows with the
organization — ListAccounts, ListAccountsForParent, ListChildren (accounts and OUs),
ListOrganizationalUnitsForParent, ListPolicies, ListTargetsForPolicy, ListDelegatedAdministrators,
ListHandshakesForOrganization and ListHandshakesForAccount — walked with a small MaxResults by
boto3 (and its paginators) yields every item once, in its order; a NextToken that is not one of
that listing's gets Organizations' error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from opensts.service.accounts import create_account
from opensts.store.cipher import SecretCipher, load_master_key
from opensts.store.database import database_url, make_engine
from opensts.store.repository import SqlRepository
from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server

MEMBERS = 7
GUESTS = [f"73160000{i:04d}" for i in range(4)]
SCP_DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def _guests(server: Server) -> dict[str, Any]:
    """Standalone accounts (written in the store, as ``opensts account create`` does): clients."""
    repo = SqlRepository(make_engine(server.env.get("OPENSTS_DATABASE_URL") or database_url(server.data_dir)),
                         SecretCipher(load_master_key(server.data_dir)))
    try:
        keys = {account: create_account(repo, account) for account in GUESTS}
    finally:
        repo.engine.dispose()
    return {a: server.client("organizations", key=k.access_key_id, secret=k.secret_access_key) for a, k in keys.items()}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server: Server = start_server(tmp_path_factory.mktemp("opensts-org-paging"))
    try:
        client = server.client("organizations")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ou = client.create_organizational_unit(ParentId=root, Name="moved")["OrganizationalUnit"]["Id"]
        members = []
        for i in range(MEMBERS):
            status = client.create_account(Email=f"m{i}@example.com", AccountName=f"m{i}")["CreateAccountStatus"]
            members.append(client.describe_create_account_status(
                CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"])
        for account in members[:4]:
            client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        ous = [ou] + [client.create_organizational_unit(ParentId=root, Name=n)["OrganizationalUnit"]["Id"]
                      for n in ("delta", "alpha", "charlie", "bravo", "echo", "alpha2")]  # lower case: one
        # order in any collation (PostgreSQL's need not be SQLite's binary one)
        for n in ("inner1", "inner2", "inner3", "inner4"):
            client.create_organizational_unit(ParentId=ou, Name=n)
        policies = [client.create_policy(Name=f"scp-{n}", Description="", Type="SERVICE_CONTROL_POLICY",
                                         Content=SCP_DOC)["Policy"]["PolicySummary"]["Id"] for n in "edcba"]
        client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        for target in [root, *ous, *members]:
            client.attach_policy(PolicyId=policies[0], TargetId=target)
        for i, account in enumerate(members):  # one account twice: listed once
            client.register_delegated_administrator(AccountId=account, ServicePrincipal=f"s{i}.amazonaws.com")
        client.register_delegated_administrator(AccountId=members[0], ServicePrincipal="again.amazonaws.com")
        guests = _guests(server)
        for account in GUESTS:
            client.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"})
        for _ in range(4):  # the first guest: invited again after each cancel
            [open_] = [h for h in guests[GUESTS[0]].list_handshakes_for_account()["Handshakes"] if h["State"] == "OPEN"]
            client.cancel_handshake(HandshakeId=open_["Id"])
            client.invite_account_to_organization(Target={"Id": GUESTS[0], "Type": "ACCOUNT"})
        yield {"client": client, "root": root, "ou": ou, "members": members, "ous": ous, "policies": policies,
               "guest": guests[GUESTS[0]]}
    finally:
        stop_server(server)


def _walk(call: Callable[..., dict[str, Any]], key: str, field: str = "Id", **params: Any) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(50):
        page = call(**params, MaxResults=3, **({"NextToken": token} if token else {}))
        seen += [item[field] for item in page[key]]
        token = page.get("NextToken")
        if not token:
            return seen
        assert len(page[key]) == 3
    raise AssertionError("paging did not end")


LISTINGS = [
    ("list_accounts", "Accounts", lambda o: {}, lambda o: [ACCOUNT_ID, *o["members"]]),
    ("list_accounts_for_parent", "Accounts", lambda o: {"ParentId": o["root"]},
     lambda o: [ACCOUNT_ID, *o["members"][4:]]),
    ("list_accounts_for_parent", "Accounts", lambda o: {"ParentId": o["ou"]}, lambda o: o["members"][:4]),
    ("list_children", "Children", lambda o: {"ParentId": o["root"], "ChildType": "ACCOUNT"},
     lambda o: [ACCOUNT_ID, *o["members"][4:]]),
]


@pytest.mark.parametrize(("method", "key", "params", "expected"), LISTINGS,
                         ids=["accounts", "root-accounts", "ou-accounts", "root-children"])
def test_account_listings_page_each_account_once_in_joined_order(org: dict[str, Any], method: str, key: str,
                                                                 params: Any, expected: Any) -> None:
    client = org["client"]
    call, args = getattr(client, method), params(org)
    whole = [a["Id"] for a in call(**args, MaxResults=20)[key]]
    assert sorted(whole) == sorted(expected(org))
    assert (whole[0] == ACCOUNT_ID) == (ACCOUNT_ID in whole)  # the management account first
    assert _walk(call, key, **args) == whole
    pages = client.get_paginator(method).paginate(**args, PaginationConfig={"PageSize": 3})
    assert [a["Id"] for page in pages for a in page[key]] == whole
    if method != "list_children":
        members = [(a["JoinedTimestamp"], a["Id"]) for a in call(**args, MaxResults=20)[key] if a["Id"] != ACCOUNT_ID]
        assert members == sorted(members)  # as they joined (then by id)


def test_a_next_token_not_ours_is_invalid(org: dict[str, Any]) -> None:
    client = org["client"]
    token = client.list_accounts(MaxResults=2)["NextToken"]
    foreign = client.list_accounts_for_parent(ParentId=org["root"], MaxResults=1)["NextToken"]
    edited = token[:5] + ("B" if token[5] == "A" else "A") + token[6:]
    for bad in ["garbage", "2", foreign, edited, token[:-2]]:
        with pytest.raises(ClientError) as exc:
            client.list_accounts(MaxResults=2, NextToken=bad)
        assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
            "InvalidInputException", "The provided pagination token is not valid."), bad


def _sorted_by(*fields: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: [tuple(i[f] for f in fields) for i in items] == sorted(tuple(i[f] for f in fields)
                                                                               for i in items)


#: (client method, list key, id field, parameters, how many, the order every page keeps)
GROWING: list[tuple[str, str, str, Callable[[dict[str, Any]], dict[str, Any]], Callable[[dict[str, Any]], int],
                    Callable[[list[dict[str, Any]]], bool]]] = [
    ("list_organizational_units_for_parent", "OrganizationalUnits", "Id", lambda o: {"ParentId": o["root"]},
     lambda o: len(o["ous"]), _sorted_by("Name", "Id")),
    ("list_organizational_units_for_parent", "OrganizationalUnits", "Id", lambda o: {"ParentId": o["ou"]},
     lambda o: 4, _sorted_by("Name", "Id")),
    ("list_children", "Children", "Id", lambda o: {"ParentId": o["root"], "ChildType": "ORGANIZATIONAL_UNIT"},
     lambda o: len(o["ous"]), lambda items: True),
    ("list_policies", "Policies", "Id", lambda o: {"Filter": "SERVICE_CONTROL_POLICY"}, lambda o: 6,
     lambda items: items[0]["Name"] == "FullAWSAccess" and _sorted_by("Name", "Id")(items[1:])),
    ("list_targets_for_policy", "Targets", "TargetId", lambda o: {"PolicyId": o["policies"][0]},
     lambda o: 1 + len(o["ous"]) + MEMBERS, _sorted_by("TargetId")),
    ("list_delegated_administrators", "DelegatedAdministrators", "Id", lambda o: {}, lambda o: MEMBERS,
     _sorted_by("DelegationEnabledDate", "Id")),
    ("list_handshakes_for_organization", "Handshakes", "Id", lambda o: {}, lambda o: len(GUESTS) + 4,
     _sorted_by("RequestedTimestamp", "Id")),
]
GROWING_IDS = ["ous-root", "ous-ou", "children-ous", "policies", "targets", "delegated", "handshakes-org"]


@pytest.mark.parametrize(("method", "key", "field", "params", "count", "ordered"), GROWING, ids=GROWING_IDS)
def test_every_growing_listing_pages_each_item_once_in_order(org: dict[str, Any], method: str, key: str, field: str,
                                                             params: Any, count: Any, ordered: Any) -> None:
    client = org["client"]
    call, args = getattr(client, method), params(org)
    whole = call(**args, MaxResults=20)[key]
    assert len(whole) == count(org) > 3 and ordered(whole)
    ids = [item[field] for item in whole]
    assert len(set(ids)) == len(ids)
    assert _walk(call, key, field, **args) == ids
    pages = client.get_paginator(method).paginate(**args, PaginationConfig={"PageSize": 3})
    assert [item[field] for page in pages for item in page[key]] == ids


def test_an_accounts_invitations_page_in_the_order_they_were_sent(org: dict[str, Any]) -> None:
    guest = org["guest"]
    whole = guest.list_handshakes_for_account(MaxResults=20)["Handshakes"]
    assert len(whole) == 5 and _sorted_by("RequestedTimestamp", "Id")(whole)
    assert [h["State"] for h in whole].count("OPEN") == 1
    assert _walk(guest.list_handshakes_for_account, "Handshakes") == [h["Id"] for h in whole]
    assert guest.list_handshakes_for_account(Filter={"ActionType": "ENABLE_ALL_FEATURES"})["Handshakes"] == []


@pytest.mark.parametrize(("method", "key", "field", "params", "count", "ordered"), GROWING, ids=GROWING_IDS)
def test_a_next_token_of_another_listing_or_edited_is_invalid(org: dict[str, Any], method: str, key: str, field: str,
                                                              params: Any, count: Any, ordered: Any) -> None:
    client = org["client"]
    call, args = getattr(client, method), params(org)
    own = call(**args, MaxResults=1)["NextToken"]
    foreign = client.list_accounts(MaxResults=1)["NextToken"]
    edited = own[:5] + ("B" if own[5] == "A" else "A") + own[6:]
    for bad in ["garbage", "1", foreign, edited, own[:-2], own + "AAAA"]:
        with pytest.raises(ClientError) as exc:
            call(**args, MaxResults=2, NextToken=bad)
        assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
            "InvalidInputException", "The provided pagination token is not valid."), bad


def test_a_listed_ou_is_described_alike(org: dict[str, Any]) -> None:
    """A page's OUs (their path read once for the page) are what DescribeOrganizationalUnit says."""
    client = org["client"]
    for parent in (org["root"], org["ou"]):
        for ou in client.list_organizational_units_for_parent(ParentId=parent, MaxResults=20)["OrganizationalUnits"]:
            assert ou == client.describe_organizational_unit(OrganizationalUnitId=ou["Id"])["OrganizationalUnit"]


def test_listed_policies_admins_and_invitations_are_described_alike(org: dict[str, Any]) -> None:
    """What a page renders from its joined rows is what the Describe* of each item answers."""
    client = org["client"]
    for policy in client.list_policies(Filter="SERVICE_CONTROL_POLICY", MaxResults=20)["Policies"]:
        assert policy == client.describe_policy(PolicyId=policy["Id"])["Policy"]["PolicySummary"]
    for admin in client.list_delegated_administrators(MaxResults=20)["DelegatedAdministrators"]:
        described = client.describe_account(AccountId=admin["Id"])["Account"]
        assert admin == {**described, "DelegationEnabledDate": admin["DelegationEnabledDate"]}
    for handshake in client.list_handshakes_for_organization(MaxResults=20)["Handshakes"]:
        assert handshake == client.describe_handshake(HandshakeId=handshake["Id"])["Handshake"]
    for target in client.list_targets_for_policy(PolicyId=org["policies"][0], MaxResults=20)["Targets"]:
        if target["Type"] == "ACCOUNT":
            described = client.describe_account(AccountId=target["TargetId"])["Account"]
        elif target["Type"] == "ORGANIZATIONAL_UNIT":
            described = client.describe_organizational_unit(OrganizationalUnitId=target["TargetId"])[
                "OrganizationalUnit"]
        else:
            [described] = client.list_roots()["Roots"]
        assert (target["Name"], target["Arn"]) == (described["Name"], described["Arn"])
