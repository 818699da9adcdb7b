"""Limits, generated ids and check-then-write rules hold under concurrency (issue 14).

Every count-limited or check-then-write operation of IAM and Organizations (the table in
tests/clients/races.py) is raced by 20 parallel boto3 calls against one server with two worker
processes (requests land on both), three times each: the limit holds exactly, generated ids are
unique, nothing is lost, every refusal is AWS's error and no answer is a 500. The server log shows
no SQL parameters or policy text afterwards. With ``OPENSTS_TEST_DATABASE_URL`` set the same runs
on PostgreSQL; tests/postgres/test_postgres_races.py races two servers on one database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.clients import races
from tests.conftest import Server, start_server, stop_server

REPEAT = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("races"), args=("--workers", "2"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def ctx(server: Server) -> races.Ctx:
    return races.Ctx([server])


@pytest.fixture(scope="module")
def org(ctx: races.Ctx) -> races.Org:
    return races.organization(ctx)


@pytest.mark.parametrize("case", list(races.IAM_CASES))
def test_iam_limit_holds_under_concurrency(ctx: races.Ctx, case: str) -> None:
    for _ in range(REPEAT):
        races.IAM_CASES[case](ctx)


@pytest.mark.parametrize("case", list(races.ORG_CASES))
def test_organizations_limit_holds_under_concurrency(ctx: races.Ctx, org: races.Org, case: str) -> None:
    clients = ctx.clients("organizations")
    for _ in range(REPEAT):
        races.ORG_CASES[case](org, clients)


def test_the_log_shows_no_sql_parameters_or_policy_text(ctx: races.Ctx, org: races.Org) -> None:
    """After races that make the database refuse duplicate keys (same OU name, same attachment,
    same handshake — refused by the store's checks or its constraints): nothing in the log."""
    races.ORG_CASES["AttachPolicy(same)"](org, ctx.clients("organizations"))
    races.assert_quiet_logs(ctx.servers)
