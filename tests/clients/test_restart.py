"""A restart under a steady AssumeRole stream drops nothing (issue 18), the way an operator does it
(docs/OPERATIONS.md): start the new server with ``--reuse-port`` on the same address and
data folder, wait for its banner (printed once it answers), then SIGTERM the old one.

The old server drains: it takes what the kernel queued for it, answers what is in flight with
``Connection: close``, closes only connections idle past the grace, flushes its journal, stops its
delivery process after a last round, and exits 0. The clients make no retry (boto3 with
max_attempts 1): every call must succeed, and every credential issued must be in the trail
delivered to the data folder once the new server has stopped too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clients.lifecycle_support import AssumeRoleStream, make_role, trail_key_ids
from tests.conftest import start_server, stop_server


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_restart_under_an_assume_role_stream_fails_nothing_and_loses_no_record(tmp_path: Path, workers: str) -> None:
    data = tmp_path / "data"
    old = start_server(data, args=("--workers", workers))
    new = None
    stream = None
    try:
        stream = AssumeRoleStream(old, make_role(old), threads=3, pause=0.01).start()
        time.sleep(1.0)
        before = len(stream.issued)
        new = start_server(data, args=("--workers", workers, "--reuse-port"), port=old.port)
        assert any("get-caller-identity" in line for line in new.banner)  # ready: it answers
        stopped_at = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        assert old.proc.wait(timeout=20) == 0, old.log()
        drained = time.monotonic() - stopped_at
        time.sleep(1.0)  # the stream goes on against the new server alone
        stream.stop()
        assert stream.errors == [], stream.errors[:5]
        assert before > 0 and len(stream.issued) > before + 20, (before, len(stream.issued))
        assert drained < 10, drained  # within the default shutdown timeout
        new.proc.send_signal(signal.SIGTERM)
        assert new.proc.wait(timeout=20) == 0, new.log()
        missing = set(stream.issued) - trail_key_ids(data)
        assert not missing, f"{len(missing)} of {len(stream.issued)} issued credentials have no trail record"
    finally:
        if stream is not None:
            stream.stop()
        for server in (old, new):
            if server is not None:
                stop_server(server)


def test_without_reuse_port_a_running_server_s_port_is_refused(tmp_path: Path) -> None:
    """The default is still the safe one: nobody joins a running server by accident."""
    server = start_server(tmp_path / "data")
    try:
        out = subprocess.run([sys.executable, "-m", "opensts", "serve", "--data-dir", str(tmp_path / "data"),
                              "--listen", f"127.0.0.1:{server.port}"], env=server.env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode != 0
        assert "address already in use" in out.stderr and "Traceback" not in out.stderr
    finally:
        stop_server(server)


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_a_bad_shutdown_timeout_is_one_line(tmp_path: Path, value: str) -> None:
    out = subprocess.run([sys.executable, "-m", "opensts", "serve", "--data-dir", str(tmp_path / "d"),
                          "--shutdown-timeout", value], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and "--shutdown-timeout" in out.stderr, out.stderr
