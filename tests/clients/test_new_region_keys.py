"""A session token sealed under a Region key created a moment ago works on every worker at once.

Each worker holds the token-sealing keys in memory; a key made by another worker (a Region's
first token) is looked up in the database by its id when a token names it (auth/keyring.py),
not only on a periodic reload. The server runs two workers; every call opens its own connection,
so the calls land on both.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server

CALLS = 36


def regional(server: Server, region: str, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET,
             token: str | None = None) -> Any:
    """A new client (so a new connection) of ``region``'s STS endpoint (path-prefix form)."""
    return boto3.client("sts", endpoint_url=f"{server.url}/sts.{region}.amazonaws.com", region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}))


def kid_region(token: str) -> str:
    raw = base64.b64decode(token)
    return raw[2:2 + raw[1]].decode().split("/")[0]


def in_parallel(calls: int, call: Callable[[int], Any]) -> list[Any]:
    def run(i: int) -> Any:
        try:
            return call(i)
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(run, range(calls)))


def test_first_token_of_a_new_region_works_on_every_worker(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=("--workers", "2"))
    try:
        # Both workers touch the key ring now (each makes or loads eu-west-2's key): a reload
        # rate-limited per second would then refuse the next Region's new key on the other worker.
        warm = in_parallel(12, lambda i: regional(server, "eu-west-2").get_session_token()["Credentials"])
        assert all(isinstance(c, dict) for c in warm), warm
        creds = regional(server, "eu-west-3").get_session_token()["Credentials"]  # eu-west-3's key is made now
        assert kid_region(creds["SessionToken"]) == "eu-west-3"

        def use(i: int) -> str:
            client = regional(server, "eu-west-3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
            return client.get_caller_identity()["Arn"]

        answers = in_parallel(CALLS, use)
        assert all(isinstance(a, str) and a.endswith(":user/admin") for a in answers), answers
    finally:
        stop_server(server)
