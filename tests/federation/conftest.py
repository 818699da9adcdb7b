"""Fixtures of the federation tests: the test OIDC issuer, and a server that trusts its CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server, start_server, stop_server
from tests.federation.idp import OidcIssuer


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tmp_path_factory.mktemp("idp"))
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def idp_server(tmp_path_factory: pytest.TempPathFactory, idp: OidcIssuer) -> Iterator[Server]:
    """A server of its own per module, with ``--ca-bundle`` of the issuer's CA."""
    srv = start_server(tmp_path_factory.mktemp("idp-server"), args=("--ca-bundle", str(idp.ca_path)))
    yield srv
    stop_server(srv)
