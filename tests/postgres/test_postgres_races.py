"""Limits and generated ids hold across servers sharing one PostgreSQL database (issue 14).

Two servers (two data folders, one database, one master key) are raced with the table of
tests/clients/races.py: call ``i`` goes to server ``i % 2``, so the limit can only hold if it is
enforced in the database (row locks taken in one transaction with the check), not in a process.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from opensts.store.cipher import load_master_key
from tests.clients import races
from tests.conftest import Server, fresh_database, start_server, stop_server
from tests.postgres import cluster

psycopg = pytest.importorskip("psycopg")
REPEAT = 3


@pytest.fixture(scope="module")
def pg() -> Iterator[cluster.Cluster]:
    if cluster.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    pg = cluster.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, pg: cluster.Cluster) -> Iterator[list[Server]]:
    database = fresh_database(pg.url)
    first = start_server(tmp_path_factory.mktemp("pg-a"), extra_env={"OPENSTS_DATABASE_URL": database})
    started = [first]
    try:
        key = base64.b64encode(load_master_key(first.data_dir)).decode()
        started.append(start_server(tmp_path_factory.mktemp("pg-b"), args=("--workers", "2"),
                                    extra_env={"OPENSTS_DATABASE_URL": database, "OPENSTS_MASTER_KEY": key}))
        yield started
    finally:
        for server in started:
            stop_server(server)


@pytest.fixture(scope="module")
def ctx(servers: list[Server]) -> races.Ctx:
    return races.Ctx(servers)


@pytest.fixture(scope="module")
def org(ctx: races.Ctx) -> races.Org:
    return races.organization(ctx)


@pytest.mark.parametrize("case", list(races.IAM_CASES))
def test_iam_limit_holds_across_servers(ctx: races.Ctx, case: str) -> None:
    for _ in range(REPEAT):
        races.IAM_CASES[case](ctx)


@pytest.mark.parametrize("case", list(races.ORG_CASES))
def test_organizations_limit_holds_across_servers(ctx: races.Ctx, org: races.Org, case: str) -> None:
    clients = ctx.clients("organizations")
    for _ in range(REPEAT):
        races.ORG_CASES[case](org, clients)


def test_no_sql_parameters_or_policy_text_in_either_log(ctx: races.Ctx, org: races.Org, tmp_path: Path) -> None:
    races.ORG_CASES["AttachPolicy(same)"](org, ctx.clients("organizations"))
    races.assert_quiet_logs(ctx.servers)
