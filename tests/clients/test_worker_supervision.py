"""Workers that die are replaced, and no connection is ever accepted by a socket nobody serves.

kill -9 of one worker of a ``--workers 2`` server: within 2 s a new worker serves, and none of
100 new connections made as soon as the killed worker has exited hangs (each is answered within
seconds; connections queued on a socket at the instant its process dies are reset by the kernel).
Before, the dead worker's listening socket stayed open in its sibling (inherited across the fork),
so the kernel kept hashing new connections to a socket no process accepted on.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


def _workers(server: Server) -> set[int]:
    """The server's worker processes (its children that hold a listening socket: the delivery
    process closed its copies)."""
    workers = set()
    for child in _children(server.proc.pid):
        try:
            cmd = Path(f"/proc/{child}/net/tcp").exists() and _listens(child, server.port)
        except OSError:
            continue
        if cmd:
            workers.add(child)
    return workers


def _listens(pid: int, port: int) -> bool:
    """``pid`` holds a socket listening on ``port`` (its fds' inodes against /proc/net/tcp)."""
    inodes = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _alive(pid: int) -> bool:
    """Still running (not yet exited: a zombie has closed its files)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", args=("--workers", "2"))
    try:
        yield srv
    finally:
        stop_server(srv)


def _call(server: Server) -> str:
    sts = server.client(connect_timeout=3, read_timeout=3)
    return sts.get_caller_identity()["Account"]  # type: ignore[attr-defined]


def test_a_killed_worker_is_replaced_and_no_connection_hangs(server: Server) -> None:
    deadline = time.monotonic() + 10
    while len(workers := _workers(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2, workers
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    while _alive(victim) and time.monotonic() - killed_at < 5:  # its sockets close as it exits
        time.sleep(0.01)
    with ThreadPoolExecutor(10) as pool:  # 100 new connections (a new client each), right after the kill
        results = list(pool.map(lambda _: _call(server), range(100)))
    assert len(results) == 100
    replaced = None
    while time.monotonic() - killed_at < 5:
        now = _workers(server)
        if len(now) == 2 and victim not in now:
            replaced = time.monotonic() - killed_at
            break
        time.sleep(0.05)
    assert replaced is not None and replaced <= 2.0, (replaced, _workers(server))
    assert "replac" in server.log().lower()  # the server says what happened
    for _ in range(20):  # the replacement serves too
        _call(server)


def test_a_stopped_server_does_not_replace_its_workers(server: Server) -> None:
    workers = _workers(server)
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=15)
    time.sleep(0.3)
    assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
                   for pid in workers)
