"""Split-horizon DNS for the tests: AWS hostnames answered with our loopback listeners.

In-process (boto3) it patches ``socket.getaddrinfo``; for child processes (the AWS CLI) it sets
``OPENSTS_TEST_RESOLVE`` and puts ``tests/regions_dns`` (a sitecustomize) on PYTHONPATH. Only
loopback addresses are ever returned.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

STS_HOSTS = ["sts.amazonaws.com", "iam.amazonaws.com"] + [
    f"sts.{r}.amazonaws.com"
    for r in ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-north-1", "eu-west-1", "af-south-1", "ap-east-1")
]
_SITE = Path(__file__).with_name("regions_dns")


@contextlib.contextmanager
def resolving(port: int, hosts: list[str] | None = None) -> Iterator[dict[str, tuple[str, int]]]:
    """Within the block, every AWS STS/IAM hostname resolves to 127.0.0.1:``port``."""
    mapping = {h: ("127.0.0.1", port) for h in (hosts or STS_HOSTS)}
    original = socket.getaddrinfo

    def fake(host, p, *args, **kwargs):  # type: ignore[no-untyped-def]
        target = mapping.get(host.lower()) if isinstance(host, str) else None
        if target:
            assert target[0].startswith("127."), "tests only ever resolve to loopback"
            return original(target[0], target[1], *args, **kwargs)
        return original(host, p, *args, **kwargs)

    socket.getaddrinfo = fake  # type: ignore[assignment]
    try:
        yield mapping
    finally:
        socket.getaddrinfo = original  # type: ignore[assignment]


def child_env(env: dict[str, str], port: int) -> dict[str, str]:
    """Environment for a child Python process that resolves AWS hostnames to our listener."""
    out = dict(env)
    out["OPENSTS_TEST_RESOLVE"] = json.dumps({h: ["127.0.0.1", port] for h in STS_HOSTS})
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SITE), env.get("PYTHONPATH", "")]))
    return out
