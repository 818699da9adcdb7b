"""A user's group policies are read through the cache like the rest of its policies: once per
store generation, never per request (the AssumeRole/GetCallerIdentity hot path stays as it was),
and a membership change is seen at the next generation check."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import event

from opensts.service.authorization import Authorizer
from opensts.store.cache import StoreCache
from opensts.store.database import open_store

ACCOUNT = "111122223333"
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def test_group_policies_cached_per_generation(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    repo.create_account(ACCOUNT, "a")
    user = repo.create_user("AIDAGROUPCACHEUSER001", ACCOUNT, "u")
    groups = [repo.create_group(f"AGPAGROUPCACHE00000{i}", ACCOUNT, f"g{i}", "/", 300) for i in range(3)]
    for group in groups:
        repo.put_group_policy(group.id, "p", DOC)
        repo.add_user_to_group(group.id, user.id, 10)
    cache = StoreCache(repo, check_interval=3600)  # no generation check during the loop
    authz = Authorizer(cache)
    assert authz.user_policies(user.id)[0] == (DOC, DOC, DOC)

    queries: list[str] = []
    event.listen(repo.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    for _ in range(1000):
        authz.user_policies(user.id)
    assert queries == []  # no query per decision

    repo.remove_user_from_group(groups[0].id, user.id)
    cache._refresh()  # what the next check interval does  # noqa: SLF001
    assert authz.user_policies(user.id)[0] == (DOC, DOC)


def test_group_limits_in_the_store(tmp_path: Path) -> None:
    """300 groups per account; names unique case-insensitively; 10 groups per user (the HTTP
    answers and the concurrent forms are in tests/clients/test_iam_groups.py and races.py)."""
    import pytest

    from opensts.store.repository import EntityAlreadyExists, LimitReached

    repo = open_store(tmp_path)
    repo.create_account(ACCOUNT, "a")
    for i in range(300):
        repo.create_group(f"AGPALIMIT{i:012d}", ACCOUNT, f"grp{i}", "/", 300)
    with pytest.raises(LimitReached):
        repo.create_group("AGPALIMITOVER0000000", ACCOUNT, "one-too-many", "/", 300)
    with pytest.raises(EntityAlreadyExists):
        repo.create_group("AGPALIMITDUP00000000", ACCOUNT, "GRP7", "/other/", 301)
    user = repo.create_user("AIDAGROUPLIMITUSER01", ACCOUNT, "u")
    for i in range(10):
        repo.add_user_to_group(f"AGPALIMIT{i:012d}", user.id, 10)
    with pytest.raises(LimitReached):
        repo.add_user_to_group(f"AGPALIMIT{10:012d}", user.id, 10)
    assert len(repo.groups_for_user(user.id)) == 10
