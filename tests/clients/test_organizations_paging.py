"""Organizations' account listings page in the database (issue 19): ListAccounts,
ListAccountsForParent and ListChildren(ACCOUNT) walked with a small MaxResults by boto3 (and its
paginators) yield every account once, the management account first and then the members as
they joined; a NextToken that is not one of ours gets Organizations' error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server

MEMBERS = 7


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
        yield {"client": client, "root": root, "ou": ou, "members": members}
    finally:
        stop_server(server)


def _walk(call: Callable[..., dict[str, Any]], key: str, **params: Any) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(50):
        page = call(**params, MaxResults=3, **({"NextToken": token} if token else {}))
        seen += [item["Id"] for item in page[key]]
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
