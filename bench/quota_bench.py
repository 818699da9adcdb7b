"""Micro-benchmark of the quota stores' hot path: µs per ``take`` (regions/quotas.py, regions/redis_quotas.py).

Run: ``.venv/bin/python bench/quota_bench.py [--rounds N]``.  Starts its own redis-server on a
free loopback port (no persistence) and stops it by PID.  Every case is timed over whole rounds of
takes, best of ``--rounds`` (the minimum filters out other processes on a shared machine):

- admitted: fresh keys, each taken ``burst`` times at AWS's default quota (600/s, burst 600) —
  every take is admitted; for Redis one take in a lease (12) pays the round trip;
- throttled: one key hammered past its burst — refusals, remembered until the next token;
- round trip: burst 10 (a lease of one token): every take asks Redis;
- Redis down: served unchecked (counted), no round trip.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opensts.regions.quotas import SharedQuotas  # noqa: E402
from opensts.regions.redis_quotas import RedisQuotas  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.quotas.redisd import RedisServer  # noqa: E402


def per_take(store: object, rate: float, burst: float, keys: int, takes: int, tag: str) -> float:
    """µs per take over ``keys`` × ``takes`` (fresh keys named by ``tag``)."""
    take = store.take  # type: ignore[attr-defined]
    names = [(f"{tag}{i:08d}", "us-west-2", "regional", "sts-shared") for i in range(keys)]
    start = time.perf_counter()
    for key in names:
        for _ in range(takes):
            take(key, rate, burst, time.monotonic())
    return (time.perf_counter() - start) / (keys * takes) * 1e6


def best(fn: object, rounds: int) -> float:
    return min(fn(r) for r in range(rounds))  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = args.rounds
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder)).start()
        try:
            shared, redis_store = SharedQuotas(), RedisQuotas(server.url)
            rows = [
                ("SharedQuotas, admitted (600/s, burst 600)",
                 best(lambda r: per_take(shared, 600, 600, 20, 600, f"s{r}-"), rounds)),
                ("RedisQuotas, admitted (600/s, burst 600; lease 12)",
                 best(lambda r: per_take(redis_store, 600, 600, 20, 600, f"a{r}-"), rounds)),
                ("SharedQuotas, throttled (one key past its burst)",
                 best(lambda r: per_take(shared, 600, 600, 1, 12000, f"st{r}-"), rounds)),
                ("RedisQuotas, throttled (one key past its burst)",
                 best(lambda r: per_take(redis_store, 600, 600, 1, 12000, f"t{r}-"), rounds)),
                ("RedisQuotas, round trip every take (5/s, burst 10; lease 1)",
                 best(lambda r: per_take(redis_store, 5, 10, 1000, 5, f"o{r}-"), rounds)),
            ]
        finally:
            server.stop()
        down = RedisQuotas(f"redis://127.0.0.1:{free_port()}/0", retry_seconds=3600)
        down.take(("x", "us-west-2", "regional", "sts-shared"), 600, 600, time.monotonic())  # finds it down
        rows.append(("RedisQuotas, Redis down (served unchecked)",
                     best(lambda r: per_take(down, 600, 600, 20, 600, f"d{r}-"), rounds)))
    print(f"quota take, µs (best of {rounds}; Python {platform.python_version()}, Redis on loopback)")
    for name, micros in rows:
        print(f"  {name:<62} {micros:8.2f}")


if __name__ == "__main__":
    main()
