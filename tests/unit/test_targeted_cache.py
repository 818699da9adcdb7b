"""Targeted cache invalidation (issue 19 item 2): a write drops what it touched, not everything.

In-process, on a real SQLite store: (1) every kind of write records the entities it touched, table
-driven over the repository's writes; (2) a write to one role, user, group or policy leaves every
other entity's cached values in place (observed through the cache's repository load count) while
its own — and what was derived from it — reload; (3) a gap in the change log or an unpinnable
statement clears everything; (4) the log stays bounded; (5) no write path can skip the log (every
table is classified, and every store transaction writing a table the cache reads bumps the
generation). The cross-process behaviour (2 workers, a hot standby) is in
tests/clients/test_targeted_invalidation.py and tests/fleet/test_standby_invalidation.py.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from opensts.service.authorization import Authorizer
from opensts.store import changes
from opensts.store import tables as t
from opensts.store.cache import StoreCache
from opensts.store.database import open_store
from opensts.store.repository import SqlRepository

ACCOUNT = "111122223333"
ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
DENY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
P1, P2 = (f"arn:aws:iam::{ACCOUNT}:policy/p{i}" for i in (1, 2))


@pytest.fixture()
def repo(tmp_path: Path) -> SqlRepository:
    repo = open_store(tmp_path / "data")
    repo.create_account(ACCOUNT, "a")
    for role in ("AROAROLEA", "AROAROLEB"):
        repo.create_role(role, ACCOUNT, role.lower(), "/", TRUST)
    for user in ("AIDAUSERX", "AIDAUSERY"):
        repo.create_user(user, ACCOUNT, user.lower())
        repo.create_access_key("AKIA" + user[4:], ACCOUNT, user, "s" * 40)
    repo.create_policy(P1, "ANPAP1", ACCOUNT, "p1", "/", ALLOW)
    repo.create_policy(P2, "ANPAP2", ACCOUNT, "p2", "/", ALLOW)
    repo.create_group("AGPAGROUPG", ACCOUNT, "g", "/", 300)
    repo.written_here()  # the fixture's own writes are no test's subject
    return repo


def _last(repo: SqlRepository) -> set[tuple[str, str]]:
    generation = repo.generation()
    with repo.engine.connect() as conn:
        rows = conn.execute(select(t.changes.c.kind, t.changes.c.key).where(t.changes.c.generation == generation)).all()
    return {(r.kind, r.key) for r in rows}


# (1) every write records what it touched --------------------------------------------------------
WRITES: list[tuple[str, Callable[[SqlRepository], Any], set[tuple[str, str]]]] = [
    ("put role policy", lambda r: r.put_role_policy("AROAROLEA", "i", ALLOW), {("role", "AROAROLEA")}),
    ("delete role policy", lambda r: (r.put_role_policy("AROAROLEA", "i", ALLOW), r.delete_role_policy("AROAROLEA", "i")),
     {("role", "AROAROLEA")}),
    ("attach to role", lambda r: r.attach_policy("role", "AROAROLEA", P1), {("role", "AROAROLEA")}),
    ("detach from role", lambda r: (r.attach_policy("role", "AROAROLEA", P1), r.detach_policy("role", "AROAROLEA", P1)),
     {("role", "AROAROLEA")}),
    ("update trust policy", lambda r: r.update_role("AROAROLEA", trust_policy=TRUST), {("role", "AROAROLEA")}),
    ("role boundary", lambda r: r.update_role("AROAROLEA", permissions_boundary_arn=P1), {("role", "AROAROLEA")}),
    ("tag role", lambda r: r.set_tags("role", "AROAROLEA", {"team": "red"}), {("role", "AROAROLEA")}),
    ("delete role", lambda r: r.delete_role("AROAROLEA"), {("role", "AROAROLEA")}),
    ("put user policy", lambda r: r.put_user_policy("AIDAUSERX", "i", ALLOW), {("user", "AIDAUSERX")}),
    ("attach to user", lambda r: r.attach_policy("user", "AIDAUSERX", P1), {("user", "AIDAUSERX")}),
    ("user boundary", lambda r: r.set_user_permissions_boundary("AIDAUSERX", P1), {("user", "AIDAUSERX")}),
    ("tag user", lambda r: r.set_tags("user", "AIDAUSERX", {"team": "red"}), {("user", "AIDAUSERX")}),
    ("deactivate key", lambda r: r.set_access_key_status("AKIAUSERX", "Inactive"), {("access_key", "AKIAUSERX")}),
    ("delete key", lambda r: r.delete_access_key("AKIAUSERX"), {("access_key", "AKIAUSERX")}),
    ("add to group", lambda r: r.add_user_to_group("AGPAGROUPG", "AIDAUSERX", 10),
     {("group", "AGPAGROUPG"), ("user", "AIDAUSERX")}),
    ("remove from group", lambda r: (r.add_user_to_group("AGPAGROUPG", "AIDAUSERX", 10),
                                     r.remove_user_from_group("AGPAGROUPG", "AIDAUSERX")),
     {("group", "AGPAGROUPG"), ("user", "AIDAUSERX")}),
    ("put group policy", lambda r: r.put_group_policy("AGPAGROUPG", "i", ALLOW), {("group", "AGPAGROUPG")}),
    ("attach to group", lambda r: r.attach_policy("group", "AGPAGROUPG", P1), {("group", "AGPAGROUPG")}),
    ("new default version", lambda r: r.create_policy_version(P1, DENY, True, 5), {("policy", P1)}),
    ("set default version", lambda r: r.set_default_policy_version(P1, r.create_policy_version(P1, DENY, False, 5)),
     {("policy", P1)}),
    ("region opt-in", lambda r: r.set_region_opt_status(ACCOUNT, "af-south-1", "DISABLED"), {("account", ACCOUNT)}),
]


@pytest.mark.parametrize("name,write,expected", WRITES, ids=[w[0] for w in WRITES])
def test_write_records_what_it_touched(repo: SqlRepository, name: str, write: Callable[[SqlRepository], Any],
                                       expected: set[tuple[str, str]]) -> None:
    write(repo)
    recorded = _last(repo)
    assert expected <= recorded and changes.EVERYTHING not in recorded, (name, recorded)
    # and nothing about the other entities
    assert not recorded & {("role", "AROAROLEB"), ("user", "AIDAUSERY"), ("policy", P2)}, recorded


def test_org_writes_record_the_organization(repo: SqlRepository) -> None:
    repo.create_organization("o-abcdefghij", "r-abcd", ACCOUNT, "ALL")
    assert _last(repo) == {changes.ORG}


# (2) targeted: other entities stay cached -------------------------------------------------------
def _warm(cache: StoreCache, authz: Authorizer) -> None:
    for role in ("AROAROLEA", "AROAROLEB"):
        authz.role_policies(role)
        cache.role(ACCOUNT, role.lower())
    for user in ("AIDAUSERX", "AIDAUSERY"):
        authz.user_policies(user)
        cache.access_key("AKIA" + user[4:])


@pytest.mark.parametrize("write,reloaded", [
    (lambda r: r.put_role_policy("AROAROLEA", "i", DENY), {"role_policy_docs:AROAROLEA", f"role:{ACCOUNT}/aroarolea"}),
    (lambda r: r.set_tags("role", "AROAROLEA", {"k": "v"}), {"role_policy_docs:AROAROLEA", f"role:{ACCOUNT}/aroarolea"}),
    (lambda r: r.put_user_policy("AIDAUSERX", "i", DENY), {"user_policy_docs:AIDAUSERX"}),
    (lambda r: r.set_access_key_status("AKIAUSERX", "Inactive"), {"key:AKIAUSERX"}),
    (lambda r: r.create_policy_version(P1, DENY, True, 5), {"role_policy_docs:AROAROLEA", "user_policy_docs:AIDAUSERX"}),
    (lambda r: r.put_group_policy("AGPAGROUPG", "i", DENY), {"user_policy_docs:AIDAUSERX"}),
], ids=["role inline", "role tags", "user inline", "key status", "managed policy version", "group policy"])
@pytest.mark.parametrize("seen_by", ["poll", "writer"])
def test_a_write_reloads_only_what_depends_on_it(repo: SqlRepository, write: Callable[[SqlRepository], Any],
                                                 reloaded: set[str], seen_by: str) -> None:
    """``poll``: another process's cache, reading the change log; ``writer``: the writing
    process's own, from the tokens its transaction recorded."""
    repo.attach_policy("role", "AROAROLEA", P1)  # P1 feeds role A and user X; P2 feeds role B and user Y
    repo.attach_policy("user", "AIDAUSERX", P1)
    repo.attach_policy("role", "AROAROLEB", P2)
    repo.attach_policy("user", "AIDAUSERY", P2)
    repo.add_user_to_group("AGPAGROUPG", "AIDAUSERX", 10)
    cache = StoreCache(repo, check_interval=3600)
    authz = Authorizer(cache)
    _warm(cache, authz)
    before = set(cache._entries)  # noqa: SLF001
    repo.written_here()  # the set-up's writes are not the point
    write(repo)
    if seen_by == "poll":
        cache._refresh()  # what the next check does  # noqa: SLF001
    else:
        cache.catch_up()
    kept = {f"{k}:{v}" for k, v in cache._entries}  # noqa: SLF001
    gone = {f"{k}:{v}" for k, v in before} - kept
    assert gone == reloaded
    loads = cache.loads
    _warm(cache, authz)
    assert cache.loads - loads >= len(reloaded)  # what went is read again, and what stayed is not


def test_derived_values_follow_what_they_were_built_from(repo: SqlRepository) -> None:
    """A memo built from other entries (a caller from its key, user and account) goes with them."""
    cache = StoreCache(repo, check_interval=3600)

    def caller(key_id: str) -> tuple[str, str] | None:
        key = cache.access_key(key_id)
        user = cache.user(key.user_id) if key else None  # type: ignore[arg-type]
        return (key_id, user.name) if user else None

    assert cache.memo("caller", "AKIAUSERX", caller) == ("AKIAUSERX", "aidauserx")
    cache.memo("caller", "AKIAUSERY", caller)
    repo.set_access_key_status("AKIAUSERX", "Inactive")
    cache.catch_up()
    assert ("caller", "AKIAUSERX") not in cache._entries  # noqa: SLF001
    assert ("caller", "AKIAUSERY") in cache._entries  # noqa: SLF001


def test_undeclared_memo_goes_on_any_change(repo: SqlRepository) -> None:
    cache = StoreCache(repo, check_interval=3600)
    cache.memo("anything", "k", lambda _: 42)
    repo.set_tags("role", "AROAROLEB", {"k": "v"})
    cache.catch_up()
    assert ("anything", "k") not in cache._entries  # noqa: SLF001


# (3) gaps and unpinnable statements clear everything --------------------------------------------
def test_a_generation_without_changes_clears_all(repo: SqlRepository) -> None:
    cache = StoreCache(repo, check_interval=3600)
    authz = Authorizer(cache)
    _warm(cache, authz)
    with repo.engine.begin() as conn:  # a bump that recorded nothing (old code, a restore…)
        conn.execute(update(t.meta).where(t.meta.c.key == "generation")
                     .values(value=(t.meta.c.value.cast(t.Integer) + 1).cast(t.Text)))
    cache._refresh()  # noqa: SLF001
    assert cache._entries == {}  # noqa: SLF001


def test_an_unpinned_statement_records_everything(repo: SqlRepository) -> None:
    repo._write(delete(t.role_policies).where(t.role_policies.c.name == "x"))  # noqa: SLF001 - no role pinned
    assert _last(repo) == {changes.EVERYTHING}
    repo._write(update(t.roles).where(t.roles.c.id == "AROAROLEA").values(id="AROAMOVED"))  # noqa: SLF001
    assert _last(repo) == {changes.EVERYTHING}


# (4) bounded ------------------------------------------------------------------------------------
def test_the_log_is_pruned(repo: SqlRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "KEEP_GENERATIONS", 10)
    monkeypatch.setattr(changes, "_PRUNE_EVERY", 5)
    for i in range(40):
        repo.set_tags("role", "AROAROLEA", {"k": str(i)})
    with repo.engine.connect() as conn:
        kept = conn.execute(select(t.changes.c.generation).distinct()).all()
    assert len(kept) <= 15
    cache = StoreCache(repo, check_interval=3600)
    cache._generation -= 30  # noqa: SLF001 - a reader far behind: its generations were pruned
    cache.memo("role", "x", lambda _: 1, (("role", "AROAROLEB"),))
    cache._refresh()  # noqa: SLF001
    assert cache._entries == {}  # noqa: SLF001


# (5) nothing can skip the log -------------------------------------------------------------------
def test_every_table_is_classified() -> None:
    """A new table must be placed: read by cached decisions (keyed), organization, or uncached.
    (Unclassified, its writes clear every cache: safe, but slow — this test says so first.)"""
    classified = set(changes._KEYS) | changes._ORG_TABLES | changes._UNCACHED | changes._UNTRACKED  # noqa: SLF001
    assert set(t.metadata.tables) == classified


def test_every_store_transaction_on_a_cached_table_bumps() -> None:
    """Every ``engine.begin()`` block in opensts/store that writes a table the cache reads also
    calls ``_bump`` (the writes through ``_write``/``locked`` bump by construction); so no write
    path can leave a cached decision stale."""
    cached = set(changes._KEYS) | changes._ORG_TABLES  # noqa: SLF001
    offenders = []
    for path in sorted(Path(changes.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.With) or "engine.begin" not in ast.unparse(node.items[0].context_expr):
                continue
            body = ast.unparse(node)
            writes = any(f"{verb}(t.{table})" in body for verb in ("insert", "update", "delete") for table in cached)
            if writes and "_bump(" not in body and path.name != "changes.py":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
