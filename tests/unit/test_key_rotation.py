"""Key rings follow a rotation made by another process, and a ring on a writable database prunes
keys retired longer than ``RETENTION`` by itself (auth/keyring.py), on a real SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import update

from opensts.auth import keyring
from opensts.auth.key_rotation import prune_sealing_keys, rotate_sealing_keys
from opensts.auth.keyring import RETENTION, KeyRing
from opensts.store import tables as t
from opensts.store.database import open_store


def _due(ring: KeyRing) -> None:
    """As if the poll interval (and the prune interval) had passed."""
    ring._polled -= keyring._CHECK_INTERVAL
    ring._pruned -= keyring._PRUNE_INTERVAL


def test_rings_follow_a_rotation_and_prune_long_retired_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSTS_MASTER_KEY", raising=False)
    repo = open_store(tmp_path)
    first, second = KeyRing(repo), KeyRing(repo)  # two workers
    old = first.current_kid("eu-west-1")
    assert second.current_kid("eu-west-1") == old  # made once, not once per worker

    [done] = rotate_sealing_keys(repo, ["eu-west-1"], int(time.time()))
    assert done.retired == (old,)
    assert second.current_kid("eu-west-1") == old  # within the poll interval: no database read
    _due(second)
    assert second.current_kid("eu-west-1") == done.kid
    assert second.key(old)  # the retired key still opens its tokens

    assert prune_sealing_keys(repo, int(time.time())) == []  # not before the retention
    with repo.engine.begin() as conn:
        conn.execute(update(t.sealing_keys).where(t.sealing_keys.c.kid == old)
                     .values(retired_at=int(time.time()) - RETENTION - 1))
    _due(first)
    first.current_kid("eu-west-1")  # the poll prunes on a writable database
    assert old not in {k.kid for k in repo.list_sealing_keys()}
    _due(second)
    with pytest.raises(KeyError):
        second.key(old)
