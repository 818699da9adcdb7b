"""On PostgreSQL too, every IAM write kind runs a bounded number of SQL statements and records
targeted changes (tests/unit/test_iam_write_cost.py on SQLite: why and how). On PostgreSQL the
generation bump and its change rows are one statement (store/changes.py), so each bound is one
lower; the reads before a write run without a transaction of their own (store/repository.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from opensts.store import changes
from opensts.store import tables as t
from tests.conftest import fresh_database
from tests.iam_writes import CASES, InProcessIam, WriteCase
from tests.postgres import cluster
from tests.unit.test_iam_write_cost import BOUND


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessIam]:
    if cluster.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    pg = cluster.start()
    before = os.environ.get("OPENSTS_DATABASE_URL")
    os.environ["OPENSTS_DATABASE_URL"] = fresh_database(pg.url)
    try:
        server = InProcessIam(tmp_path_factory.mktemp("pg-write-cost"))
    finally:  # read when the store opens: not left for other tests of this process
        if before is None:
            os.environ.pop("OPENSTS_DATABASE_URL", None)
        else:
            os.environ["OPENSTS_DATABASE_URL"] = before
    try:
        assert server.state.control_repo.engine.dialect.name == "postgresql"
        server.provision()
        yield server
        server.close()
    finally:
        pg.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_write_is_bounded_and_targeted_on_postgresql(iam: InProcessIam, case: WriteCase) -> None:
    params = iam.prepare(case, case.action.lower())
    iam.call({"Action": "GetUser", "UserName": "base-u"})
    status, text, statements, texts = iam.counted(params)
    assert status == 200, text
    assert f"<{case.action}Response" in text
    assert statements <= BOUND[case.action] - 1, (case.action, statements, texts)
    repo = iam.state.control_repo
    with repo.engine.connect() as conn:
        recorded = {(r.kind, r.key) for r in conn.execute(
            select(t.changes.c.kind, t.changes.c.key).where(t.changes.c.generation == repo.generation()))}
    assert recorded and changes.EVERYTHING not in recorded, (case.action, recorded)
