"""The fault numbers of issue 19 (and issue 18's restart), measured the way the tests bound them.

    .venv/bin/python bench/scale_faults.py [--workers 2] [--connections 100] [--stream-seconds 2] [--json]

1. kill -9 of a worker: how many of ``--connections`` new connections (opened right after the
   worker exited, each with a 2-second timeout and no retry) are not answered, and how long until
   a replacement worker listens (it listens only once warm).
2. A restart under a steady AssumeRole stream (3 boto3 clients, no SDK retry): a new server with
   ``--reuse-port`` on the same address and data folder, then SIGTERM to the old one. Failed
   requests, requests made, the old server's drain time and exit status, the slowest call, and
   the issued credentials missing from the trail delivered once everything stopped.
3. The first request (a pre-signed GetCallerIdentity on a new connection) right after the banner
   of a fresh start, and of a restart (stop, then start on the same data folder).

Everything runs on loopback in a temporary folder, bounded; every server it started is stopped
(by PID) before it exits. Targets: 0 unanswered, replacement ≤ 2 s, 0 failed, 0 missing, first
request ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.chdir(REPO)  # servers are started as `python -m opensts` from here: this checkout's code
sys.path.insert(0, str(REPO))

from tests.clients.lifecycle_support import (  # noqa: E402
    AssumeRoleStream,
    alive,
    make_role,
    signed_call_ms,
    trail_key_ids,
    workers,
)
from tests.conftest import Server, start_server, stop_server  # noqa: E402

TIMEOUT = 2.0


def _answered(port: int) -> bool:
    try:
        return signed_call_ms(port, timeout=TIMEOUT)[0] == 200
    except OSError:
        return False


def kill_a_worker(folder: Path, n_workers: int, connections: int) -> dict[str, Any]:
    server = start_server(folder / "kill", args=("--workers", str(max(n_workers, 2))))
    try:
        deadline = time.monotonic() + 20
        while len(found := workers(server)) < max(n_workers, 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = min(found)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        while alive(victim) and time.monotonic() - killed < 5:
            time.sleep(0.005)
        replaced: float | None = None
        with ThreadPoolExecutor(10) as pool:
            results = pool.map(lambda _: _answered(server.port), range(connections))
            while time.monotonic() - killed < 10:
                now = workers(server)
                if len(now) == len(found) and victim not in now:
                    replaced = time.monotonic() - killed
                    break
                time.sleep(0.01)
            answered = list(results)
        return {"new_connections": connections, "unanswered": answered.count(False),
                "replacement_listening_s": None if replaced is None else round(replaced, 3)}
    finally:
        stop_server(server)


def restart_under_stream(folder: Path, n_workers: int, seconds: float) -> dict[str, Any]:
    data = folder / "restart"
    old = start_server(data, args=("--workers", str(n_workers)))
    new: Server | None = None
    stream: AssumeRoleStream | None = None
    try:
        stream = AssumeRoleStream(old, make_role(old), threads=3, pause=0.01).start()
        time.sleep(seconds / 2)
        started = time.monotonic()
        new = start_server(data, args=("--workers", str(n_workers), "--reuse-port"), port=old.port)
        new_ready = time.monotonic() - started
        stopped = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        status = old.proc.wait(timeout=30)
        drained = time.monotonic() - stopped
        time.sleep(seconds / 2)
        stream.stop()
        new.proc.send_signal(signal.SIGTERM)
        new_status = new.proc.wait(timeout=30)
        missing = set(stream.issued) - trail_key_ids(data)
        return {"requests": len(stream.issued) + len(stream.errors), "failed": len(stream.errors),
                "errors": stream.errors[:3], "new_server_ready_s": round(new_ready, 2),
                "old_drain_s": round(drained, 2), "old_exit_status": status, "new_exit_status": new_status,
                "slowest_call_ms": round(max(stream.latencies) * 1000, 1),
                "median_call_ms": round(statistics.median(stream.latencies) * 1000, 1),
                "issued_without_trail_record": len(missing)}
    finally:
        if stream is not None:
            stream.stop()
        for server in (old, new):
            if server is not None:
                stop_server(server)


def first_requests(folder: Path, n_workers: int) -> dict[str, Any]:
    data = folder / "first"
    out: dict[str, Any] = {}
    for label in ("fresh_start", "restart"):
        server = start_server(data, args=("--workers", str(n_workers)))
        try:
            status, first = signed_call_ms(server.port)
            next_ms = statistics.median(signed_call_ms(server.port)[1] for _ in range(5))
            out[label] = {"status": status, "first_ms": round(first, 1), "next_median_ms": round(next_ms, 1)}
        finally:
            stop_server(server)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--stream-seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="opensts-faults-"))
    try:
        results = {
            "workers": args.workers,
            "kill_9_worker": kill_a_worker(folder, args.workers, args.connections),
            "restart_under_assume_role_stream": restart_under_stream(folder, args.workers, args.stream_seconds),
            "first_request": first_requests(folder, args.workers),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, value in results.items():
            print(f"{section}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
