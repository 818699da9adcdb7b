"""Quota buckets in a real Redis (regions/redis_quotas.py): the Lua bucket, leases, many keys,
takers in several processes and threads sharing one rate, and Redis lost and found again."""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from opensts.regions.redis_quotas import BUCKET_SCRIPT, KEY_PREFIX, RedisQuotas, bucket_name, redacted_url
from tests.conftest import free_port
from tests.quotas.redisd import RedisServer

KEY = ("111122223333", "us-west-2", "regional", "sts-shared")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url)
    c.flushdb()
    yield c
    c.close()


def _key(name: str) -> tuple[str, ...]:
    return (name, "us-west-2", "regional", "sts-shared")


# -- the Lua bucket itself ------------------------------------------------------------------------

def test_bucket_grants_its_burst_then_refuses_with_the_wait(client: redis.Redis) -> None:
    bucket = client.register_script(BUCKET_SCRIPT)
    assert bucket(keys=["b"], args=[5, 10, 4]) == [4, 0]
    assert bucket(keys=["b"], args=[5, 10, 4]) == [4, 0]
    assert bucket(keys=["b"], args=[5, 10, 4]) == [2, 0]  # what is left, not more
    granted, wait_us = bucket(keys=["b"], args=[5, 10, 4])
    assert granted == 0 and 100_000 < wait_us <= 200_000  # a token every 0.2 s at 5/s


def test_bucket_refills_by_redis_clock_up_to_burst(client: redis.Redis) -> None:
    bucket = client.register_script(BUCKET_SCRIPT)
    assert bucket(keys=["b"], args=[20, 3, 3]) == [3, 0]
    time.sleep(0.12)  # 2.4 tokens at 20/s
    assert bucket(keys=["b"], args=[20, 3, 3])[0] == 2
    time.sleep(0.5)  # 10 tokens' worth: capped at the burst
    assert bucket(keys=["b"], args=[20, 3, 10])[0] == 3


def test_bucket_key_expires_when_it_would_be_full_again(client: redis.Redis) -> None:
    bucket = client.register_script(BUCKET_SCRIPT)
    bucket(keys=["b"], args=[10, 5, 5])
    assert 0 < client.pttl("b") <= 500 + 1000  # empty: full in 0.5 s (+1 s margin)
    bucket(keys=["slow"], args=[0.01, 3, 1])
    assert 100_000 < client.pttl("slow") <= 101_000  # one token short at 0.01/s: 100 s


def test_many_keys_have_their_own_buckets(client: redis.Redis, redis_server: RedisServer) -> None:
    q = RedisQuotas(redis_server.url)
    now = time.monotonic()
    keys = [_key(f"{i:012d}") for i in range(300)]
    assert all(q.take(k, 0.01, 2, now) for k in keys)
    assert all(q.take(k, 0.01, 2, now) for k in keys)
    assert not any(q.take(k, 0.01, 2, now) for k in keys)
    assert len(client.keys(KEY_PREFIX + "*")) == 300
    assert all(0 < client.pttl(k) for k in client.keys(KEY_PREFIX + "*"))  # none kept forever


def test_long_bucket_names_are_hashed() -> None:
    assert bucket_name(KEY) == KEY_PREFIX + "111122223333|us-west-2|regional|sts-shared"
    long = bucket_name(("x" * 2000, "us-west-2", "regional", "sts-shared"))
    assert len(long) < 80 and long != bucket_name(("x" * 1999, "us-west-2", "regional", "sts-shared"))


# -- nodes sharing the bucket -----------------------------------------------------------------------

def test_two_nodes_share_one_burst(client: redis.Redis, redis_server: RedisServer) -> None:
    a, b = RedisQuotas(redis_server.url), RedisQuotas(redis_server.url)
    assert a.lease_size(5, 10) == 1  # a small burst: every request asks Redis
    results = [(a if i % 2 else b).take(KEY, 5, 10, time.monotonic()) for i in range(20)]
    assert 10 <= sum(results) <= 11  # ~10 calls, not 20 (one more may have refilled meanwhile)
    assert results[:10] == [True] * 10


def test_node_clocks_do_not_refill(client: redis.Redis, redis_server: RedisServer) -> None:
    """Refill is by Redis's clock: a node whose clock runs ahead gets nothing extra."""
    q = RedisQuotas(redis_server.url)
    now = time.monotonic()
    assert [q.take(KEY, 0.01, 2, now) for _ in range(3)] == [True, True, False]
    assert q.take(KEY, 0.01, 2, now + 3600) is False


def test_leases_at_the_default_quota_are_small_and_expire(client: redis.Redis, redis_server: RedisServer) -> None:
    a, b = RedisQuotas(redis_server.url), RedisQuotas(redis_server.url)
    assert a.lease_size(600, 600) == 12 and a.lease_size(5, 10) == 1 and a.lease_size(1, 600) == 1
    now = time.monotonic()
    assert a.take(KEY, 600, 600, now)  # leases 12: 11 kept locally
    assert float(client.hget(bucket_name(KEY), "tokens")) == pytest.approx(588, abs=1)
    for _ in range(11):
        assert a.take(KEY, 600, 600, now)
    assert float(client.hget(bucket_name(KEY), "tokens")) == pytest.approx(588, abs=2)  # no round trip
    assert b.take(KEY, 600, 600, now)
    # a's next lease; then its leftover is dropped once the lease is over, not spent later
    assert a.take(KEY, 600, 600, now)
    before = float(client.hget(bucket_name(KEY), "tokens"))
    assert a.take(KEY, 600, 600, now + 0.2)
    assert float(client.hget(bucket_name(KEY), "tokens")) < before + 0.2 * 600  # it went back to Redis


def test_a_refusal_is_remembered_until_the_next_token(client: redis.Redis, redis_server: RedisServer) -> None:
    q = RedisQuotas(redis_server.url)
    now = time.monotonic()
    assert [q.take(KEY, 1, 1, now) for _ in range(2)] == [True, False]
    client.delete(bucket_name(KEY))  # a full bucket in Redis now, but the node knows none can exist yet
    assert q.take(KEY, 1, 1, now + 0.5) is False
    assert q.take(KEY, 1, 1, now + 1.1) is True  # past the wait Redis gave: asked again


def _taker(url: str, rate: float, burst: float, seconds: float, start: float, out: multiprocessing.Queue) -> None:
    q = RedisQuotas(url)
    while time.time() < start:
        time.sleep(0.001)
    admitted = 0
    while time.time() < start + seconds:
        admitted += q.take(KEY, rate, burst, time.monotonic())
        time.sleep(0.0005)
    out.put(admitted)


@pytest.mark.parametrize("rate,burst", [(200.0, 100.0), (600.0, 600.0)])
def test_takers_in_many_processes_get_the_rate_once(client: redis.Redis, redis_server: RedisServer,
                                                    rate: float, burst: float) -> None:
    """Four processes (four nodes' workers) hammering one key for 1.5 s: together they get
    rate × time + burst (±15 %), not four times it."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()
    seconds, start = 1.5, time.time() + 0.3
    procs = [ctx.Process(target=_taker, args=(redis_server.url, rate, burst, seconds, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    try:
        total = sum(out.get(timeout=30) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=10)
    expected = rate * seconds + burst
    assert 0.85 * expected <= total <= 1.15 * expected, (total, expected)


def test_threads_of_one_worker_share_its_leases(client: redis.Redis, redis_server: RedisServer) -> None:
    """The event loop and the off-loop thread charge the same store."""
    q = RedisQuotas(redis_server.url)
    counts: list[int] = []

    def run() -> None:
        counts.append(sum(q.take(KEY, 0.01, 100, time.monotonic()) for _ in range(60)))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(counts) == 100  # exactly the burst: nothing taken twice, nothing lost


# -- Redis unreachable --------------------------------------------------------------------------

def _quota_lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "opensts.quotas" and word in r.getMessage()]


def test_redis_down_serves_unthrottled_logs_once_and_recovers(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="opensts.quotas")
    server = RedisServer(tmp_path).start()
    try:
        q = RedisQuotas(server.url, retry_seconds=0.2)
        assert [q.take(KEY, 5, 2, time.monotonic()) for _ in range(3)] == [True, True, False]
        server.stop()
        time.sleep(0.25)  # past the refusal the node remembers (a token every 0.2 s)
        t = time.monotonic()
        assert all(q.take(KEY, 5, 2, time.monotonic()) for _ in range(200))  # no throttling
        assert time.monotonic() - t < 0.5  # one failed call, not 200
        assert q.available is False and q.unavailable_count == 200 and q.outages == 1
        assert len(_quota_lines(caplog, "unreachable")) == 1
        server.start()  # an empty Redis on the same port: full buckets
        deadline = time.monotonic() + 5
        while not q.available and time.monotonic() < deadline:
            time.sleep(0.05)
        assert q.available
        assert [q.take(KEY, 5, 2, time.monotonic()) for _ in range(3)] == [True, True, False]
        assert len(_quota_lines(caplog, "reachable again")) == 1
        assert q.outages == 1 and q.unavailable_count == 200
    finally:
        server.stop()


def test_redis_that_never_answers_costs_one_short_timeout(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that accepts but does not answer (hung, or a black hole): one call waits for the
    socket timeout; every other request goes straight through."""
    caplog.set_level(logging.WARNING, logger="opensts.quotas")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        q = RedisQuotas(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", retry_seconds=30)
        t = time.monotonic()
        assert q.take(KEY, 5, 10, time.monotonic()) is True
        assert time.monotonic() - t < 0.5
        t = time.monotonic()
        assert all(q.take(KEY, 5, 10, time.monotonic()) for _ in range(100))
        assert time.monotonic() - t < 0.05
        assert [m.split(" (")[1].split(":")[0] for m in _quota_lines(caplog, "unreachable")] == ["TimeoutError"]
    finally:
        silent.close()


def test_one_log_line_per_node_not_per_worker() -> None:
    """Workers forked from one node share its flags: the first to find Redis gone logs, the
    others count. (The store is built before the fork, as edge/serve.py does.)"""
    q = RedisQuotas(f"redis://127.0.0.1:{free_port()}/0", retry_seconds=30)
    logged = multiprocessing.get_context("fork").Value("i", 0)

    def worker() -> None:
        handler = logging.Handler()
        handler.emit = lambda record: setattr(logged, "value", logged.value + 1)  # type: ignore[method-assign]
        logging.getLogger("opensts.quotas").addHandler(handler)
        for _ in range(10):
            q.take(KEY, 5, 10, time.monotonic())

    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                worker()
            finally:
                os._exit(0)
        pids.append(pid)
        os.waitpid(pid, 0)  # one after the other: each finds Redis down
    assert logged.value == 1
    assert q.outages == 1 and q.unavailable_count == 30


def test_the_password_of_the_store_url_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="opensts.quotas")
    url = f"redis://opensts:wJalrXUtnFEMI@127.0.0.1:{free_port()}/0"
    assert redacted_url(url) == url.replace("wJalrXUtnFEMI", "***")
    assert redacted_url(url.replace("opensts:", ":")).startswith("redis://:***@")
    q = RedisQuotas(url, retry_seconds=30)
    assert q.take(KEY, 5, 10, time.monotonic()) is True
    assert caplog.records and all("wJalrXUtnFEMI" not in r.getMessage() for r in caplog.records)
