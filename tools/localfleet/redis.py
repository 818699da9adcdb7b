"""Throwaway Redis servers from the machine's own ``redis-server``: one per Region of a local fleet
(the Region's shared quota buckets and Region-local STS state).

Nothing is persisted (``--save '' --appendonly no``): like the quota buckets it holds, the data
is worth nothing after a restart. Each server binds 127.0.0.1 on a free port, runs in its own
session and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.localfleet.ports import free_port

__all__ = ["Redis", "binary", "start"]


def binary() -> str | None:
    """Path of ``redis-server``, or None when Redis is not installed."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None)


@dataclass
class Redis:
    folder: Path
    port: int
    program: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What ``OPENSTS_QUOTA_STORE`` / ``OPENSTS_REGION_STORE`` take."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """(Re)start the server on its port (after :meth:`stop_server`), empty."""
        log = open(self.folder / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop_server()
                raise RuntimeError(f"redis-server did not start on port {self.port}: {self.log()[-2000:]}")
            time.sleep(0.05)

    def ping(self) -> bool:
        """The server answers PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop_server(self, kill: bool = False) -> None:
        """Stop the server by its PID (``kill``: SIGKILL, as if the machine were lost), keeping the folder."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)


def start(folder: Path | None = None) -> Redis:
    """A Redis server on a free loopback port. RuntimeError if it cannot be started."""
    program = binary()
    if program is None:
        raise RuntimeError("redis-server not found; install Debian's redis-server")
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="opensts-redis-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = Redis(folder, free_port(), program)
    server.start()
    return server
