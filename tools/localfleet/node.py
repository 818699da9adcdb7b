"""One fleet node: an ``opensts serve --region REGION`` process with the fleet's environment.

Started as ``sys.executable -m opensts`` (the code of the current checkout) in its own session,
so its PID is also its process group: :meth:`Node.stop` ends it by PID (SIGTERM: it stops its own
workers and audit-delivery process), :meth:`Node.kill` sends SIGKILL to that group, as if the
machine were lost — the node's workers die with it, and nothing else is touched.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.localfleet.ports import free_port

__all__ = ["Node", "start"]


@dataclass
class Node:
    """A running (or stopped) node; :meth:`restart` starts it again on the same ports and folder."""

    name: str
    region: str
    data_dir: Path
    env: dict[str, str]
    ports: list[int]
    args: list[str] = field(default_factory=list)
    tls: tuple[Path, Path, Path] | None = None  # certificate, key, CA that signed it
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def url(self) -> str:
        """Base URL of the node's first listener."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "opensts", "serve", "--region", self.region, "--data-dir", str(self.data_dir)]
        for port in self.ports:
            cmd += ["--listen", f"127.0.0.1:{port}"]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return cmd + self.args

    def start(self, timeout: float = 60) -> None:
        """Start the process and wait until it answers ``GET /healthz``."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is already running (PID {self.proc.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = open(self.log_path, "ab")  # a file: a full pipe would block the server
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self._wait_answering(timeout)

    def restart(self, **env: str) -> None:
        """Stop (if running) and start again, with ``env`` changed (the runbook's repointing)."""
        self.stop()
        self.env.update(env)
        self.start()

    def _wait_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited with status {self.proc.returncode}:\n{self.log()[-4000:]}")
            if self.health("/healthz") is not None:
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"node {self.name} did not answer within {timeout:.0f} s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def health(self, path: str = "/readyz", timeout: float = 2.0) -> int | None:
        """HTTP status of ``GET path`` on the node (None: no answer)."""
        context = ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else None
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout, context=context) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, ssl.SSLError):
            return None

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM by PID and wait; SIGKILL to the node's own process group if it does not end."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()
        if proc.poll() is None:
            proc.wait(timeout=10)

    def kill(self) -> None:
        """kill -9 the node and its workers (its process group: the PID we started)."""
        if self.proc is None:
            return
        self._kill_group()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def _kill_group(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session we started: the node's own processes only
        except (ProcessLookupError, PermissionError):
            pass


def start(name: str, region: str, data_dir: Path, env: dict[str, str], *, listeners: int = 1,
          args: list[str] | None = None, tls: tuple[Path, Path, Path] | None = None) -> Node:
    """Start a node on ``listeners`` free loopback ports; RuntimeError (with its log) if it fails."""
    node = Node(name, region, data_dir, dict(env), [free_port() for _ in range(listeners)], list(args or []), tls)
    node.start()
    return node
