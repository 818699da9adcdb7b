"""store/region_state.py: the Region-local writes of STS (TOTP steps used, SAML assertion ids),
table-driven over both implementations — the node's own SQL database and a real redis-server —
plus what only Redis must do: many nodes racing for one code, expiry, and failing closed (fast)
when Redis is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opensts.store.database import open_store
from opensts.store.outage import StoreUnavailable, is_outage
from opensts.store.region_state import MFA_STEP_TTL, RedisRegionState, SqlRegionState
from tests.fleet.node_helpers import Redis, start_redis

SERIAL = "arn:aws:iam::123456789012:mfa/dev"
FLOOR = 100  # the device's last_step in the database: the steps used to enable it


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Redis]:
    server = start_redis()
    yield server
    server.stop()


def _sql_state(folder: Path) -> SqlRegionState:
    repo = open_store(folder)
    repo.create_account("123456789012", "test")
    repo.create_user("AIDAEXAMPLEUSER00001", "123456789012", "dev")
    repo.create_mfa_device(SERIAL, "123456789012", "dev", "/", "JBSWY3DPEHPK3PXP")
    repo.enable_mfa_device(SERIAL, "AIDAEXAMPLEUSER00001", last_step=FLOOR)
    return SqlRegionState(repo)


@pytest.fixture(params=["sql", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis) -> Any:
    if request.param == "sql":
        return _sql_state(tmp_path)
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    return RedisRegionState(redis_server.url)


@pytest.mark.parametrize("steps, accepted", [
    ((101,), [True]),
    ((101, 101), [True, False]),            # the same code twice: a replay
    ((102, 101), [True, False]),            # an older step after a newer one
    ((101, 103, 102, 104), [True, True, False, True]),
    ((100,), [False]),                      # a step used to enable the device
    ((99, 101), [False, True]),
])
def test_mfa_steps_are_used_once_and_in_order(state: Any, steps: tuple[int, ...], accepted: list[bool]) -> None:
    assert [state.use_mfa_step(SERIAL, step, FLOOR) for step in steps] == accepted


def test_assertion_ids_are_used_once(state: Any) -> None:
    now = int(time.time())
    assert state.remember_assertion("a" * 64, now + 600, now) is True
    assert state.remember_assertion("a" * 64, now + 600, now) is False
    assert state.remember_assertion("b" * 64, now + 600, now) is True


def test_redis_keys_expire(redis_server: Redis) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    state = RedisRegionState(redis_server.url)
    now = int(time.time())
    assert state.use_mfa_step(SERIAL, 500, FLOOR)
    assert state.remember_assertion("c" * 64, now + 42, now)
    assert 0 < client.ttl(f"opensts:mfa-step:{SERIAL}") <= MFA_STEP_TTL
    assert 0 < client.ttl(f"opensts:saml:{'c' * 64}") <= 42


def test_one_code_is_accepted_once_across_racing_nodes(redis_server: Redis) -> None:
    """Sixteen "nodes" (own clients) present one code at the same moment: exactly one wins."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    nodes = [RedisRegionState(redis_server.url) for _ in range(16)]
    start = threading.Barrier(len(nodes))
    results: list[bool] = []

    def present(node: RedisRegionState) -> None:
        start.wait()
        results.append(node.use_mfa_step(SERIAL, 777, FLOOR))

    threads = [threading.Thread(target=present, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [False] * 15 + [True]


def test_redis_down_fails_closed_and_fast() -> None:
    """No Redis: StoreUnavailable (the edge's ServiceUnavailable) within the socket timeout, then
    at once while the breaker is open — never an accepted code, never a hang."""
    server = start_redis()
    state = RedisRegionState(server.url)
    assert state.use_mfa_step(SERIAL, 200, FLOOR) is True
    server.stop()
    for call in (lambda: state.use_mfa_step(SERIAL, 201, FLOOR),
                 lambda: state.remember_assertion("d" * 64, int(time.time()) + 60, int(time.time()))):
        began = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert time.monotonic() - began < 1.0
        assert is_outage(caught.value)
    assert state.ping() is False
