"""The fleet tests' fleet: the local fleet of ``make fleet`` (tools/localfleet), started once per
module, serving HTTPS with a private CA so that workloads use AWS's real hostnames.

These tests need the machine's PostgreSQL server binaries and redis-server (Debian's
``postgresql`` and ``redis-server`` packages; .ci/run installs them). Where they are missing,
every test here is skipped with the reason, and the run's header and summary say so in capitals:
a green run without them has not tested the fleet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET
from tests.fleet import callers
from tests.tlsutil import make_cert
from tools.localfleet import fleet as fleet_mod

_MISSING = fleet_mod.missing_prerequisites()
_REASON = "FLEET TESTS NOT RUN: missing " + "; ".join(_MISSING)


def pytest_report_header(config: pytest.Config) -> str | None:
    return _REASON if _MISSING else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _MISSING:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=_REASON))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _MISSING and any(Path(str(r.fspath)).is_relative_to(Path(__file__).parent)
                        for r in terminalreporter.stats.get("skipped", []) if hasattr(r, "fspath")):
        terminalreporter.write_sep("!", _REASON, red=True, bold=True)


class World:
    """The fleet plus what the tests need around it: the CA clients trust, an OIDC issuer, the admin."""

    def __init__(self, fleet: fleet_mod.Fleet, ca: Path, issuer: Any, started_at: datetime) -> None:
        self.fleet, self.ca, self.issuer, self.started_at = fleet, ca, issuer, started_at

    @property
    def east(self) -> Any:
        return self.fleet.nodes_in(fleet_mod.CONTROL_PLANE_REGION)[0]

    @property
    def west(self) -> list[Any]:
        return self.fleet.nodes_in(fleet_mod.DATA_REGION)[:2]

    def workload(self, node: Any, mode: str = "regional", key: tuple[str, str] = (ADMIN_KEY, ADMIN_SECRET),
                 token: str | None = None, region: str | None = None) -> callers.Workload:
        return callers.Workload(node, self.ca, key[0], key[1], token, region, mode)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.federation.idp import OidcIssuer

    folder = tmp_path_factory.mktemp("fleet")
    tls = make_cert(folder, ["127.0.0.1", *callers.HOSTS])
    issuer = OidcIssuer(folder)
    callers.install()
    options = fleet_mod.Options(tls=tls, ca_bundle=issuer.ca_path, admin=(ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET))
    started_at = datetime.now(timezone.utc)
    fleet = fleet_mod.start(options, folder / "fleet")
    try:
        yield World(fleet, tls[2], issuer, started_at)
    finally:
        fleet.stop(remove=False)  # node logs stay in pytest's folder
        issuer.close()
        callers.uninstall()
