"""Two `opensts serve` nodes of one Region share their quota through the Region's Redis.

Real processes, a real redis-server, boto3 with retries off. One node is configured by
``OPENSTS_QUOTA_STORE``, the other by its config file's ``[quotas] store`` (and runs two
workers); each has its own data folder with the same bootstrap account and administrator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opensts.config import FileConfig
from opensts.edge.serve import quota_store
from opensts.node import NodeRole
from opensts.regions.quotas import QuotaSettings
from opensts.regions.redis_quotas import RedisQuotas
from opensts.settings import Settings
from tests.conftest import ADMIN_KEY, ADMIN_SECRET, Server, free_port, start_server, stop_server
from tests.quotas.redisd import RedisServer

QUOTA = ("--quota-rps", "5", "--quota-burst", "10")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Any, Any]]:
    folder = tmp_path_factory.mktemp("region")
    redis_server = RedisServer(folder / "redis").start()
    (folder / "b").mkdir()
    (folder / "b" / "opensts.toml").write_text(f'[quotas]\nstore = "{redis_server.url}"\n')
    nodes: list[Server] = []
    try:
        nodes.append(start_server(folder / "a", {"OPENSTS_QUOTA_STORE": redis_server.url}, args=QUOTA))
        nodes.append(start_server(folder / "b", args=(*QUOTA, "--workers", "2")))
        yield redis_server, _Node(nodes[0]), _Node(nodes[1])
    finally:
        for node in nodes:
            stop_server(node)
        redis_server.stop()


class _Node:
    """A node and a boto3 client of it, warmed up: a client's first call takes almost half a
    second (models loaded), as long as 2 of the bucket's tokens at 5/s. Retries off (``Server.client``
    keeps botocore's one retry, which would wait out a Throttling and try again)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=ADMIN_KEY,
                                aws_secret_access_key=ADMIN_SECRET, config=Config(retries={"total_max_attempts": 1}))
        self.sts.get_caller_identity()  # type: ignore[attr-defined]

    def log(self) -> str:
        return self.server.log()


def _burst(a: _Node, b: _Node, calls: int = 30) -> list[str]:
    """``calls`` GetCallerIdentity alternating between the nodes: "ok" or the error as boto3 sees it."""
    _refill()
    clients = [a.sts, b.sts]
    outcomes = []
    for i in range(calls):
        try:
            clients[i % 2].get_caller_identity()  # type: ignore[attr-defined]
            outcomes.append("ok")
        except ClientError as exc:
            err: Any = exc.response
            outcomes.append(f"{err['ResponseMetadata']['HTTPStatusCode']} {err['Error']['Code']}: "
                            f"{err['Error']['Message']}")
    return outcomes


def _refill() -> None:
    time.sleep(10 / 5 + 0.2)  # an empty bucket is full again after burst / rate seconds


def _lines(node: _Node, words: str) -> int:
    return sum(1 for line in node.log().splitlines() if "quota store" in line and words in line)


def test_a_burst_over_both_nodes_is_throttled_after_the_burst(fleet: tuple[RedisServer, _Node, _Node]) -> None:
    _redis, a, b = fleet
    outcomes = _burst(a, b)
    admitted = outcomes.count("ok")
    assert 8 <= admitted <= 12, outcomes  # about 10, not 20
    assert set(outcomes) == {"ok", "400 Throttling: Rate exceeded"}
    assert outcomes[:8] == ["ok"] * 8


def test_redis_lost_serves_everything_and_recovers_by_itself(fleet: tuple[RedisServer, _Node, _Node]) -> None:
    redis_server, a, b = fleet
    redis_server.stop()
    try:
        outcomes = _burst(a, b, 40)
        assert outcomes == ["ok"] * 40  # no throttling, no failure
        assert _lines(a, "unreachable") == 1 and _lines(b, "unreachable") == 1  # once per node, not per request
    finally:
        redis_server.start()  # an empty Redis on the same address
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (_lines(a, "reachable again") and _lines(b, "reachable again")):
        time.sleep(0.1)
    assert _lines(a, "reachable again") == 1 and _lines(b, "reachable again") == 1  # no restart needed
    outcomes = _burst(a, b)
    assert 8 <= outcomes.count("ok") <= 12, outcomes
    assert _lines(a, "unreachable") == 1 and _lines(b, "unreachable") == 1


def test_the_environment_wins_over_the_config_file(tmp_path: Path) -> None:
    env_url, file_url = f"redis://127.0.0.1:{free_port()}/1", f"redis://127.0.0.1:{free_port()}/2"
    file_config = FileConfig(quotas=QuotaSettings(store=file_url))

    def store(node: NodeRole, config: FileConfig, workers: int = 1) -> Any:
        return quota_store(Settings(tmp_path, node=node, config=config, workers=workers))

    both = store(NodeRole(quota_store=env_url), file_config)
    assert isinstance(both, RedisQuotas) and both.url == env_url
    assert store(NodeRole(), file_config).url == file_url
    assert store(NodeRole(), FileConfig()) is None  # a single server: as before, its own memory
    assert type(store(NodeRole(), FileConfig(), workers=2)).__name__ == "SharedQuotas"
