"""IAM's keyset pages on PostgreSQL (issue 19): 20,000 roles and 3,000 policies written straight
into the store; the first page answers at once, and walking every policy (the account's merged
with the AWS managed ones, in PostgreSQL's own collation) or every role of a path yields each
exactly once, in order, with markers checked. And every Organizations listing costs the same
statements a page at 12 and 1,500 items (tests/unit/test_org_list_paging.py, on PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from opensts.store.database import DATABASE_URL_ENV, make_engine
from tests import listing_data as data
from tests.conftest import ACCOUNT_ID, Server, fresh_database, start_server, stop_server
from tests.postgres import cluster
from tests.unit.test_org_list_paging import IDS as ORG_IDS
from tests.unit.test_org_list_paging import LISTINGS as ORG_LISTINGS
from tests.unit.test_org_list_paging import Org, check_page_costs

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    if cluster.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    started = cluster.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def server(pg: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database = fresh_database(pg.url)
    srv = start_server(tmp_path_factory.mktemp("pg-paging"), extra_env={"OPENSTS_DATABASE_URL": database})
    try:
        engine = make_engine(database)
        data.roles(engine, ACCOUNT_ID, 20_000)
        data.roles(engine, ACCOUNT_ID, 2_500, prefix="deep", path="/deep/")
        data.policies(engine, ACCOUNT_ID, 3_000)
        engine.dispose()
        yield srv
    finally:
        stop_server(srv)


def _walk(call: Any, key: str, field: str, **params: Any) -> list[str]:
    seen, marker = [], None
    while True:
        page = call(**params, MaxItems=1000, **({"Marker": marker} if marker else {}))
        seen += [item[field] for item in page[key]]
        if not page["IsTruncated"]:
            return seen
        marker = page["Marker"]


def test_first_page_of_20000_roles_at_once_and_every_role_of_a_path_once(server: Server) -> None:
    iam = server.client("iam")
    iam.list_roles(MaxItems=1)
    started = time.perf_counter()
    first = iam.list_roles(MaxItems=100)
    assert time.perf_counter() - started < 0.5
    assert len(first["Roles"]) == 100 and first["IsTruncated"]
    deep = _walk(iam.list_roles, "Roles", "RoleName", PathPrefix="/deep/")
    assert len(deep) == len(set(deep)) == 2_500 and deep == sorted(deep, key=str.lower)


def test_every_policy_once_in_the_database_order(server: Server) -> None:
    iam = server.client("iam")
    local = _walk(iam.list_policies, "Policies", "PolicyName", Scope="Local")
    assert local == sorted(local) and len(local) == 3_000  # lower-case names: one order in any collation
    every = _walk(iam.list_policies, "Policies", "Arn")
    aws = _walk(iam.list_policies, "Policies", "Arn", Scope="AWS")
    assert len(every) == len(set(every)) == 3_000 + len(aws)
    assert set(every) == set(aws) | {f"arn:aws:iam::{ACCOUNT_ID}:policy/{n}" for n in local}
    url = server.env["OPENSTS_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:  # the order is the database's (its collation of names)
        ordered = [r[0] for r in conn.execute(
            "SELECT arn FROM managed_policies WHERE account_id = %s OR account_id IS NULL ORDER BY name, id",
            (ACCOUNT_ID,))]
    assert every == ordered
    with pytest.raises(ClientError) as exc:
        iam.list_policies(MaxItems=5, Marker=iam.list_roles(MaxItems=1)["Marker"])
    assert exc.value.response["Error"]["Code"] == "InvalidInput"


@pytest.fixture(scope="module")
def orgs(pg: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Org]]:
    """tests/unit/test_org_list_paging's organizations, each in its own PostgreSQL database."""
    made = {}
    with pytest.MonkeyPatch.context() as patch:
        for size in (12, 1500):
            patch.setenv(DATABASE_URL_ENV, fresh_database(pg.url))
            made[size] = Org(tmp_path_factory.mktemp(f"pg-org{size}"), size)
    yield made
    for org in made.values():
        org.repo.engine.dispose()


@pytest.mark.parametrize(("action", "params", "key", "field"), ORG_LISTINGS, ids=ORG_IDS)
def test_an_organizations_page_costs_the_same_statements_on_postgresql(orgs: dict[int, Org], action: str,
                                                                       params: Any, key: str, field: str) -> None:
    check_page_costs(orgs, action, params, key)
