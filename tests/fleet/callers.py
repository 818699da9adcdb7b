"""Workloads in a Region of the fleet: boto3 clients and AWS CLI runs whose DNS answers AWS's
hostnames with one node's listener, as split-horizon DNS inside that Region would.

tests/dns.py patches name resolution for one listener at a time; the fleet tests call several
nodes at once from several threads, so here the patch is installed once and each *thread* says
which node its DNS points at (:func:`via`). Only AWS hostnames are answered, and only with
loopback addresses; every other name resolves as usual.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from tests.dns import STS_HOSTS
from tools.localfleet.node import Node

#: The names a workload's DNS answers with its node: STS, IAM, and CloudTrail of the fleet's Regions.
HOSTS = [*STS_HOSTS, "cloudtrail.us-east-1.amazonaws.com", "cloudtrail.us-west-2.amazonaws.com"]
_HOSTS = frozenset(HOSTS)
_SITE = Path(__file__).resolve().parents[1] / "regions_dns"  # the sitecustomize of tests/dns.py
_here = threading.local()
_original = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    node_port = getattr(_here, "port", None)
    if node_port is not None and isinstance(host, str):
        if host.lower() in _HOSTS:
            return _original("127.0.0.1", node_port, *args, **kwargs)
        if host.lower().endswith(".amazonaws.com"):  # never let a test reach the real AWS
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not a name of the test fleet")
    return _original(host, port, *args, **kwargs)


def install() -> None:
    """Route AWS hostnames per thread from now on (idempotent)."""
    socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]


def uninstall() -> None:
    socket.getaddrinfo = _original  # type: ignore[assignment]


@contextlib.contextmanager
def via(node: Node) -> Iterator[None]:
    """Within the block, this thread's DNS answers AWS's hostnames with ``node``'s listener."""
    before = getattr(_here, "port", None)
    _here.port = node.port
    try:
        yield
    finally:
        _here.port = before


class Workload:
    """A client program in ``node``'s Region whose DNS points at ``node``: no endpoint_url, the
    SDK's own hostnames (``regional``: sts.REGION.amazonaws.com; ``legacy``: sts.amazonaws.com)."""

    def __init__(self, node: Node, ca: Path, key: str, secret: str, token: str | None = None,
                 region: str | None = None, mode: str = "regional") -> None:
        self.node, self.ca, self.mode = node, ca, mode
        self.region = region or node.region
        self.key, self.secret, self.token = key, secret, token

    def client(self, service: str) -> Any:
        core = botocore.session.Session()
        core.set_config_variable("sts_regional_endpoints", self.mode)
        return boto3.Session(botocore_session=core).client(
            service, region_name=self.region, verify=str(self.ca), aws_access_key_id=self.key,
            aws_secret_access_key=self.secret, aws_session_token=self.token,
            # exactly one attempt: botocore's max_attempts counts *retries*, and a retried call would
            # hide the very refusals (Throttling, ServiceUnavailable) and failures the tests look for
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10))

    def call(self, client: Any, method: str, **kwargs: Any) -> Any:
        with via(self.node):
            return getattr(client, method)(**kwargs)

    def timed(self, client: Any, method: str, **kwargs: Any) -> tuple[float, Any]:
        """(seconds, response or the exception raised) of one call."""
        start = time.monotonic()
        try:
            result: Any = self.call(client, method, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller inspects it
            result = exc
        return time.monotonic() - start, result

    def aws(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The AWS CLI (the virtualenv's ``aws``), run in this workload's Region with its DNS."""
        return subprocess.run([*_aws_command(), *args, "--output", "json"], env=self.aws_env(), capture_output=True,
                              text=True, timeout=timeout)

    def aws_env(self) -> dict[str, str]:
        """The environment of a shell in this workload: ``aws`` on PATH, its key, its Region, its DNS."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENSTS_"))}
        env["PATH"] = os.pathsep.join([str(Path(_aws_command()[0]).parent), env.get("PATH", "")])
        env.update(AWS_ACCESS_KEY_ID=self.key, AWS_SECRET_ACCESS_KEY=self.secret, AWS_CA_BUNDLE=str(self.ca),
                   AWS_DEFAULT_REGION=self.region, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_STS_REGIONAL_ENDPOINTS=self.mode, AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        env["OPENSTS_TEST_RESOLVE"] = json.dumps({h: ["127.0.0.1", self.node.port] for h in HOSTS})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SITE), os.environ.get("PYTHONPATH", "")]))
        return env

    def aws_json(self, *args: str) -> Any:
        out = self.aws(*args)
        if out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
        return json.loads(out.stdout) if out.stdout.strip() else {}


def _aws_command() -> list[str]:
    script = Path(sys.executable).parent / "aws"
    return [str(script)] if script.exists() else [sys.executable, "-m", "awscli"]
