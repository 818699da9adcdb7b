"""The workers of one server share their quota buckets (regions/quotas.py ``SharedQuotas``)."""

from __future__ import annotations

import os
import time

from opensts.regions.quotas import SharedQuotas

KEY = ("111122223333", "us-east-1", "global", "sts-shared")


def _in_child(fn) -> int:  # type: ignore[no-untyped-def]
    """Run ``fn`` in a forked child; its return value (0..255) is the exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        finally:
            os._exit(255)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_forked_worker_charges_the_same_bucket() -> None:
    q = SharedQuotas()
    now = time.monotonic()
    assert [q.take(KEY, 0.01, 3, now) for _ in range(2)] == [True, True]
    # the child takes the last token, then is refused: 1 = one taken, one refused
    assert _in_child(lambda: q.take(KEY, 0.01, 3, now) + 2 * q.take(KEY, 0.01, 3, now)) == 1
    assert q.take(KEY, 0.01, 3, now) is False  # the parent sees what the child took


def test_buckets_refill_with_time_across_processes() -> None:
    q = SharedQuotas()
    now = time.monotonic()
    assert [q.take(KEY, 10.0, 2, now) for _ in range(3)] == [True, True, False]
    assert _in_child(lambda: int(q.take(KEY, 10.0, 2, now + 0.15))) == 1  # 0.15 s at 10/s: 1.5 tokens
    assert q.take(KEY, 10.0, 2, now + 0.15) is False  # 0.5 left
    assert q.take(KEY, 10.0, 2, now + 0.1) is False  # an earlier clock reading adds nothing


def test_keys_are_separate_and_a_full_table_falls_back_to_local_buckets() -> None:
    q = SharedQuotas(slots=4)
    now = time.monotonic()
    keys = [(str(i), "us-east-1", "regional", "sts-shared") for i in range(6)]
    for k in keys:  # two more keys than slots: every key still gets its own bucket of one
        assert q.take(k, 0.01, 1, now) is True
        assert q.take(k, 0.01, 1, now) is False


def test_a_lock_held_by_a_dead_worker_lets_requests_through() -> None:
    q = SharedQuotas()
    now = time.monotonic()
    assert q.take(KEY, 0.01, 1, now) is True
    assert q.take(KEY, 0.01, 1, now) is False
    assert _in_child(lambda: int(q._lock.acquire()) and 0) == 0  # dies holding the lock
    t = time.monotonic()
    assert q.take(KEY, 0.01, 1, now) is True  # fails open instead of hanging
    assert time.monotonic() - t < 1.0
