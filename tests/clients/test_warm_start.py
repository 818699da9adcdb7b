"""The first request after a start (and to a worker that replaced a dead one) is as fast as the
others (issue 19 item 7: it took 0.2-0.5 s per worker; target ≤ 50 ms).

Each worker builds its state and warms it up (edge/warmup.py) before its socket listens, and
the banner is printed once a worker listens: a request sent the moment the banner's last line
appears is answered at once. The bound here is generous (a loaded 2-core CI machine); the real
numbers are printed (``-s``) and reported by bench/scale_faults.py: 4-8 ms here.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.clients.lifecycle_support import alive, signed_call_ms, workers
from tests.conftest import start_server, stop_server

BOUND_MS = 150.0


@pytest.mark.parametrize("workers_", ["1", "2"])
def test_the_first_request_after_the_banner_is_fast(tmp_path: Path, workers_: str) -> None:
    server = start_server(tmp_path / "data", args=("--workers", workers_))  # returns at the banner's last line
    try:
        status, first = signed_call_ms(server.port)
        later = sorted(signed_call_ms(server.port)[1] for _ in range(5))
        print(f"workers {workers_}: first request {first:.1f} ms, next median {later[2]:.1f} ms")
        assert status == 200
        assert first <= BOUND_MS, (first, later)
    finally:
        stop_server(server)


def test_a_replaced_worker_answers_its_first_request_fast(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=("--workers", "2"))
    try:
        deadline = time.monotonic() + 15
        while len(found := workers(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = min(found)
        os.kill(victim, signal.SIGKILL)
        while alive(victim) and time.monotonic() < deadline:
            time.sleep(0.01)
        while not ((now := workers(server)) - found) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert now - found, "no replacement worker listens"
        # New connections are hashed over both workers: among 12, the replacement's first
        # requests are there (P(none) = 2**-12).
        times = [signed_call_ms(server.port) for _ in range(12)]
        print("after replacement:", [round(ms, 1) for _, ms in times])
        assert all(status == 200 for status, _ in times)
        assert max(ms for _, ms in times) <= BOUND_MS, times
    finally:
        stop_server(server)
