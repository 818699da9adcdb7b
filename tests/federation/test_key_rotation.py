"""An OIDC provider rotating its signing key: a token with the new ``kid`` is accepted at once,
while a flood of unknown kids costs at most one JWKS fetch per few seconds per provider
(service/federation/oidc_fetch.py).

End to end with the real test IdP (tests/federation/idp.py, HTTPS on loopback) and boto3, and the
cache alone with a fake clock for the interval property.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc.jwk import RSAKey

from opensts.service.federation.oidc_fetch import JwksCache
from tests.conftest import Server
from tests.federation.idp import OidcIssuer, trusting_role


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"k-{uuid.uuid4().hex[:8]}", "use": "sig", "alg": "RS256"},
                               private=True)


def test_a_rotated_key_works_at_once_and_a_flood_of_unknown_kids_costs_one_fetch(
        idp_server: Server, idp: OidcIssuer) -> None:
    server = idp_server
    role = trusting_role(server.client("iam"), idp, "rotating")
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                       config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}))
    sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="before", WebIdentityToken=idp.token())

    rotated = _new_key()
    idp.published = [rotated]  # the IdP rotates: the old key is gone, the new one published
    creds = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="after",
                                              WebIdentityToken=idp.token(key=rotated))["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")  # accepted at once, not a minute later

    before = idp.hits["jwks"]
    for _ in range(50):  # 50 tokens, each naming a kid the IdP never published
        stranger = RSAKey.generate_key(2048, parameters={"kid": f"x-{uuid.uuid4().hex}"}, private=True)
        with pytest.raises(ClientError) as exc:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="flood", WebIdentityToken=idp.token(key=stranger))
        assert exc.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert idp.hits["jwks"] - before <= 2


class _FakeIdp:
    """An in-memory IdP (httpx transport) whose published kids the test changes."""

    def __init__(self) -> None:
        self.kids = ["k1"]
        self.fetches = 0
        self.keys = {kid: RSAKey.generate_key(2048, parameters={"kid": kid}, private=False) for kid in ("k1", "k2")}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={"jwks_uri": "https://idp.test/keys"})
        self.fetches += 1
        return httpx.Response(200, json={"keys": [self.keys[k].as_dict(private=False) | {"use": "sig"}
                                                  for k in self.kids]})


def test_unknown_kid_refetches_at_most_once_per_interval() -> None:
    fake, now = _FakeIdp(), [1000.0]
    cache = JwksCache(transport=httpx.MockTransport(fake.handle), clock=lambda: now[0], kid_refresh_interval=5.0)
    assert cache.keys("https://idp.test", "k1").kids == {"k1"} and fake.fetches == 1
    fake.kids = ["k2"]
    now[0] += 0.1  # rotated right after our first fetch: the new kid is fetched at once
    assert "k2" in cache.keys("https://idp.test", "k2").kids and fake.fetches == 2
    for i in range(100):  # a flood of unknown kids within the 5 s after that refetch: no fetch
        now[0] += 0.04
        cache.keys("https://idp.test", f"bogus-{i}")
    assert fake.fetches == 2
    now[0] += 1.5  # the interval has passed: the next unknown kid refetches, the one after not
    cache.keys("https://idp.test", "bogus-late")
    cache.keys("https://idp.test", "bogus-later")
    assert fake.fetches == 3
