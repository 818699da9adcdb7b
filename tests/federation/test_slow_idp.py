"""A slow IdP stalls only the web-identity calls that wait for it, never the worker.

AssumeRoleWithWebIdentity may fetch the IdP's discovery document and JWKS (blocking HTTP). The
edge runs it off the event loop (service/blocking.py), so while one call waits seconds for a slow
IdP, other callers of the same worker are answered at once. On the loop, every caller waited.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config

from tests.conftest import Server, start_server, stop_server
from tests.federation.idp import OidcIssuer

DELAY = 3.0


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tmp_path_factory.mktemp("slow-idp"))
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, idp: OidcIssuer) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("slow-idp-server"), args=("--ca-bundle", str(idp.ca_path)))
    yield srv
    stop_server(srv)


def test_a_slow_idp_does_not_stall_other_callers(server: Server, idp: OidcIssuer) -> None:
    iam: Any = server.client("iam")
    provider = iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{idp.host_path}:aud": "sts.amazonaws.com"}}}]}
    role = iam.create_role(RoleName="slow-idp", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    unsigned = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                            config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1},
                                          read_timeout=30))
    sts: Any = server.client("sts")
    sts.get_caller_identity()  # connection and caches warm

    idp.delay = DELAY  # the first web-identity call must fetch discovery + JWKS: 2 × DELAY
    outcome: dict[str, Any] = {}

    def federate() -> None:
        started = time.monotonic()
        creds = unsigned.assume_role_with_web_identity(RoleArn=role, RoleSessionName="slow",
                                                       WebIdentityToken=idp.token())["Credentials"]
        outcome["seconds"], outcome["key"] = time.monotonic() - started, creds["AccessKeyId"]

    waiting = threading.Thread(target=federate)
    waiting.start()
    try:
        time.sleep(0.5)  # the web-identity call is now waiting for the IdP
        slowest = 0.0
        while waiting.is_alive():
            started = time.monotonic()
            sts.get_caller_identity()
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
    finally:
        waiting.join(timeout=30)
        idp.delay = 0.0
    assert outcome["key"].startswith("ASIA") and outcome["seconds"] >= DELAY  # it really waited for the IdP
    assert slowest < 1.0, f"another caller waited {slowest:.2f}s behind the slow IdP"
