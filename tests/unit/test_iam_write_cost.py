"""What an IAM write costs the store stays bounded, and what it touched stays targeted (issue 19 item 2).

Why: AssumeRole shares the server's cores with the IAM writes around it; each write's SQL
statements (and SQLAlchemy's work per statement) were most of a write's CPU. Table-driven over
the IAM write operations (create/delete/update/tag/put/attach on roles, users, groups, managed
policies and access keys: tests/iam_writes.py, the cases bench/iam_write_cost.py measures), each
signed with SigV4 and served by the real app in this process on a real SQLite store:

1. it answers 200 with its operation's response element;
2. it runs at most ``BOUND[action]`` SQL statements (a new statement on a write path fails here:
   raise the bound only with a reason);
3. the change log records the entities it touched, never "everything" (caches elsewhere keep
   what it did not touch).

Plus the store pieces the cheaper path relies on: statements built once with ``bindparam()``
are pinned to their entities by the change log from the execution's parameters, a role comes
back with its tags from one query, and tags set in one batch keep the last spelling of a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, delete, insert, select, update

from opensts.store import changes
from opensts.store import tables as t
from opensts.store.database import open_store
from tests.iam_writes import CASES, InProcessIam, WriteCase

#: SQL statements per write on SQLite (the serving thread's, counted by tests/iam_writes.py).
#: A row lock is one statement (store/locking.py); every write ends with the generation bump and
#: its change rows (store/changes.py). The same counts on PostgreSQL.
#: Before issue 19's work on the write path: TagRole 9, PutRolePolicy 10, AttachRolePolicy 14,
#: UpdateAssumeRolePolicy 6, SetDefaultPolicyVersion 9, TagPolicy 10 (bench/iam_write_cost.py).
#: UpdateUser also renames the user in its group memberships (GetGroup pages by that copy, 0013).
BOUND = {
    "CreateRole": 5, "DeleteRole": 11, "UpdateRole": 4, "UpdateAssumeRolePolicy": 4, "TagRole": 7,
    "UntagRole": 4, "PutRolePolicy": 7, "DeleteRolePolicy": 5, "AttachRolePolicy": 9, "DetachRolePolicy": 5,
    "PutRolePermissionsBoundary": 5,
    "CreateUser": 5, "DeleteUser": 20, "UpdateUser": 8, "TagUser": 7, "PutUserPolicy": 7, "AttachUserPolicy": 9,
    "DetachUserPolicy": 5,
    "CreateGroup": 6, "DeleteGroup": 11, "PutGroupPolicy": 7, "AttachGroupPolicy": 9, "AddUserToGroup": 9,
    "RemoveUserFromGroup": 5,
    "CreatePolicy": 9, "CreatePolicyVersion": 10, "SetDefaultPolicyVersion": 7, "DeletePolicyVersion": 9,
    "DeletePolicy": 11, "TagPolicy": 8,
    "CreateAccessKey": 7, "UpdateAccessKey": 5, "DeleteAccessKey": 5,
}


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessIam]:
    server = InProcessIam(tmp_path_factory.mktemp("iam-write-cost"))
    server.provision()
    yield server
    server.close()


def test_every_case_has_a_bound() -> None:
    assert sorted(BOUND) == sorted(c.action for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_write_is_bounded_and_targeted(iam: InProcessIam, case: WriteCase) -> None:
    params = iam.prepare(case, case.action.lower())
    iam.call({"Action": "GetUser", "UserName": "base-u"})  # the caller's own look-ups are warm
    status, text, statements, texts = iam.counted(params)
    assert status == 200, text
    assert f"<{case.action}Response" in text
    assert statements <= BOUND[case.action], (case.action, statements, texts)
    with iam.state.control_repo.engine.connect() as conn:
        generation = iam.state.control_repo.generation()
        recorded = {(r.kind, r.key) for r in conn.execute(
            select(t.changes.c.kind, t.changes.c.key).where(t.changes.c.generation == generation))}
    assert recorded and changes.EVERYTHING not in recorded, (case.action, recorded)


# -- the store pieces -----------------------------------------------------------------------------
ACCOUNT = "111122223333"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})

_ROLE_POLICY = (t.role_policies.c.role_id == bindparam("rid"), t.role_policies.c.name == bindparam("n"))
BOUND_STATEMENTS = [
    ("delete by bindparam", delete(t.role_policies).where(*_ROLE_POLICY), {"rid": "AROAX", "n": "p"},
     {("role", "AROAX")}),
    ("insert of a parameter row", insert(t.role_policies), {"role_id": "AROAX", "name": "p", "document": "{}"},
     {("role", "AROAX")}),
    ("update with bound values", update(t.roles).where(t.roles.c.id == bindparam("rid")).values(
        description=bindparam("d")), {"rid": "AROAX", "d": "x"}, {("role", "AROAX")}),
    ("expanding IN", delete(t.tags).where(t.tags.c.entity_type == bindparam("et"), t.tags.c.entity_id == bindparam("ei"),
                                         t.tags.c.key_lower.in_(bindparam("keys", expanding=True))),
     {"et": "user", "ei": "AIDAX", "keys": ["a", "b"]}, {("user", "AIDAX")}),
    ("an update moving a row to another entity", update(t.role_policies).where(*_ROLE_POLICY).values(
        role_id=bindparam("other")), {"rid": "AROAX", "n": "p", "other": "AROAY"}, {changes.EVERYTHING}),
    ("a bind the execution does not fill", delete(t.role_policies).where(t.role_policies.c.role_id == bindparam("rid")),
     {}, {changes.EVERYTHING}),
]


@pytest.mark.parametrize("name,stmt,params,expected", BOUND_STATEMENTS, ids=[b[0] for b in BOUND_STATEMENTS])
def test_change_log_pins_statements_built_once(name: str, stmt: object, params: dict[str, object],
                                               expected: set[tuple[str, str]]) -> None:
    assert changes.tokens_of(stmt, None, params or None) == expected


def test_a_role_comes_back_with_its_tags_from_one_query(tmp_path: Path) -> None:
    repo = open_store(tmp_path / "data")
    repo.create_account(ACCOUNT, "a")
    repo.create_role("AROABARE", ACCOUNT, "Bare", "/", TRUST)
    repo.create_role("AROATAGGED", ACCOUNT, "Tagged", "/x/", TRUST, tags={"Team": "red", "env": "prod", "k": ""})
    repo.set_tags("role", "AROATAGGED", {"Team": "blue", "team": "green"}, limit=50)  # one key: the last spelling
    for role in (repo.get_role(ACCOUNT, "tagged"), repo.get_role_by_id("AROATAGGED")):
        assert role is not None and role.name == "Tagged" and role.path == "/x/"
        assert role.tags == {"team": "green", "env": "prod", "k": ""}
    bare = repo.get_role(ACCOUNT, "BARE")
    assert bare is not None and bare.tags == {} and repo.get_role_by_id("AROABARE") == bare
    assert repo.get_role(ACCOUNT, "missing") is None and repo.get_role_by_id("AROAMISSING") is None
    repo.engine.dispose()
