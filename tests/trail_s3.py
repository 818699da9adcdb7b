"""An S3-compatible endpoint on loopback for trail stores in tests: moto's server, as its own process.

Its own process (not moto's in-process server) so that stopping it loses every bucket, as losing a
Region's store does, and a new one on the same port starts empty. Stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import free_port

KEY, SECRET = "AKIAS3TESTTESTTEST00", "s3-test-secret"  # moto accepts any


@dataclass
class S3Server:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET)

    def store_args(self, bucket: str) -> dict[str, Any]:
        """``[audit.regions.R] s3 = {…}`` / ``S3Store(**…)`` for a bucket here."""
        return {"bucket": bucket, "endpoint_url": self.url, "region_name": "us-east-1", "aws_access_key_id": KEY,
                "aws_secret_access_key": SECRET}

    def toml(self, bucket: str, prefix: str = "") -> str:
        args = self.store_args(bucket) | ({"prefix": prefix} if prefix else {})
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in args.items()) + " }"


def start_s3(port: int | None = None, log: Path | None = None) -> S3Server:
    """moto's server on 127.0.0.1 (``port``: reuse one, e.g. to bring a lost store back)."""
    port = port or free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, MOTO_CALL_RESET_API="false"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return S3Server(port, proc)
        except OSError:
            time.sleep(0.05)
    stop_s3(S3Server(port, proc))
    raise RuntimeError("moto server did not start in time")


def stop_s3(server: S3Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
