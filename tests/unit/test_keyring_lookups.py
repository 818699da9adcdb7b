"""The key ring's look-ups of unknown key ids are bounded (auth/keyring.py): a flood of forged
ids costs at most the token bucket's database reads, however many distinct ids it names."""

from __future__ import annotations

import secrets
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.auth import keyring
from opensts.auth.keyring import KeyRing
from opensts.store.repository import SealingKeyRecord


class CountingRepo:
    """A store holding sealing keys; counts the point look-ups the key ring makes."""

    def __init__(self) -> None:
        self.keys: dict[str, SealingKeyRecord] = {}
        self.lookups = 0

    def list_sealing_keys(self) -> list[SealingKeyRecord]:
        return list(self.keys.values())

    def get_sealing_key(self, kid: str) -> SealingKeyRecord | None:
        self.lookups += 1
        return self.keys.get(kid)

    def add(self, region: str) -> str:
        kid = f"{region}/{secrets.token_hex(4)}"
        self.keys[kid] = SealingKeyRecord(kid, region, secrets.token_bytes(32), 0, None)
        return kid


def test_a_key_made_by_another_process_is_found_at_once() -> None:
    repo = CountingRepo()
    ring = KeyRing(repo)  # type: ignore[arg-type]
    kid = repo.add("eu-west-3")  # another worker made it after this one loaded its keys
    assert ring.key(kid) == repo.keys[kid].key
    assert ring.key(kid) == repo.keys[kid].key
    assert repo.lookups == 1  # found once, then held in memory


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=200))
def test_ids_not_of_our_shape_never_reach_the_database(kids: list[str]) -> None:
    repo = CountingRepo()
    ring = KeyRing(repo)  # type: ignore[arg-type]
    for kid in kids:
        if keyring.KID_SHAPE.fullmatch(kid):
            continue
        with pytest.raises(KeyError):
            ring.key(kid)
    assert repo.lookups == 0


def test_a_flood_of_distinct_forged_ids_is_bounded_by_the_bucket() -> None:
    repo = CountingRepo()
    ring = KeyRing(repo)  # type: ignore[arg-type]
    started = time.monotonic()
    for _ in range(5000):  # well-formed, all different, none exists
        with pytest.raises(KeyError):
            ring.key(f"us-east-1/{secrets.token_hex(4)}")
    elapsed = time.monotonic() - started
    # at most the burst plus what the bucket refilled meanwhile, not one read per id
    assert repo.lookups <= keyring._LOOKUP_BURST + keyring._LOOKUPS_PER_SECOND * elapsed + 1
    assert repo.lookups < 5000


def test_one_missing_id_asked_again_and_again_is_looked_up_once() -> None:
    repo = CountingRepo()
    ring = KeyRing(repo)  # type: ignore[arg-type]
    for _ in range(1000):
        with pytest.raises(KeyError):
            ring.key("us-east-1/0badc0de")
    assert repo.lookups == 1
