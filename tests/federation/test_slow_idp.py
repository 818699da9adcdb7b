"""A slow IdP stalls only the web-identity calls that wait for it, never the worker.

AssumeRoleWithWebIdentity may fetch the IdP's discovery document and JWKS (blocking HTTP). The
edge runs it off the event loop (service/blocking.py), so while one call waits seconds for a slow
IdP, other callers of the same worker are answered at once. On the loop, every caller waited.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config

from tests.conftest import Server
from tests.federation.idp import OidcIssuer, trusting_role

DELAY = 3.0


def test_a_slow_idp_does_not_stall_other_callers(idp_server: Server, idp: OidcIssuer) -> None:
    server = idp_server
    role = trusting_role(server.client("iam"), idp, "slow-idp")
    unsigned = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                            config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1},
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
