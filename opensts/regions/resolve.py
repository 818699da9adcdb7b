"""Where a request is served: endpoint from the Host (or a path prefix), serving Region from
the endpoint and the caller's origin.

AWS's rules since 2025 (sts-api.md §5.4):

* a regional endpoint (``sts.R.amazonaws.com``) is served in R;
* the global endpoint (``sts.amazonaws.com``) is served in the caller's own Region when that
  Region is enabled by default, else (opt-in Region, or a caller outside every Region) in the
  partition's global Region, us-east-1; its events go to us-east-1's trail and
  ``aws:RequestedRegion`` is us-east-1 whatever Region served it; it is signed for us-east-1.

The caller's origin is what DNS inside a Region's networks would tell: the Region of the listener
the request arrived on (``--listen ADDR=REGION``), or of a trusted client network (CIDR) behind a
front proxy. A host we do not recognise (``--endpoint-url http://127.0.0.1:8600``) is taken as
the regional endpoint of the Region the request is signed for. For one laptop, any endpoint is
reachable by prefixing the path with its hostname: ``--endpoint-url
http://127.0.0.1:8600/sts.us-west-2.amazonaws.com`` (the prefix is signed like any path).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from opensts.frozen import frozen
from opensts.regions.catalog import Catalog, HostKind, HostMatch

__all__ = ["Endpoint", "Placement", "Topology", "GLOBAL", "REGIONAL"]

GLOBAL, REGIONAL = "global", "regional"


@frozen
class Endpoint:
    """The endpoint a request addressed: a recognised host, or a custom one (None match)."""

    match: HostMatch | None
    host: str  # effective host (from the path prefix when one is used)
    path_prefix: str = ""

    @property
    def is_iam(self) -> bool:
        return self.match is not None and self.match.kind == HostKind.IAM


@frozen
class Placement:
    endpoint_type: str  # global | regional
    serving_region: str
    requested_region: str  # aws:RequestedRegion
    trail_region: str  # CloudTrail awsRegion / the trail the event goes to
    scope_region: str | None  # the credential scope Region required; None: any Region we know
    origin_region: str | None  # where the caller is (listener / network), if known
    host: str = ""


class Topology:
    """The catalog plus this deployment's listeners and trusted client networks."""

    def __init__(
        self,
        catalog: Catalog,
        listener_regions: Mapping[tuple[str, int], str] | None = None,
        client_networks: Sequence[tuple[str, str]] = (),
        served: frozenset[str] | None = None,
    ) -> None:
        """``listener_regions``: (bound host, port) → Region; a wildcard host ("0.0.0.0", "::",
        "") matches any local address on that port. ``served``: the Regions this process serves
        (a fleet node: its own; None: every Region, a single server)."""
        self.catalog = catalog
        self.served = served
        self._listeners: dict[tuple[str, int], str] = {}
        for (host, port), region in (listener_regions or {}).items():
            self._listeners[("*" if host in ("0.0.0.0", "::", "") else host, port)] = region
        self._networks = [(ipaddress.ip_network(cidr, strict=False), region) for cidr, region in client_networks]

    # -- endpoint -------------------------------------------------------------------------
    def endpoint(self, host_header: str, raw_path: str) -> Endpoint:
        first = raw_path.lstrip("/").split("/", 1)[0]
        if first and "." in first:
            match = self.catalog.match_host(first)
            if match is not None:
                return Endpoint(match, match.host, "/" + first)
        return Endpoint(self.catalog.match_host(host_header), host_header.lower())

    # -- origin ---------------------------------------------------------------------------
    def origin(self, local: tuple[str, int] | None, client_ip: str | None) -> str | None:
        """The caller's Region: the listener the request arrived on, then trusted client networks."""
        if local is not None and self._listeners:
            region = self._listeners.get(local) or self._listeners.get(("*", local[1]))
            if region is not None:
                return region
        if client_ip and self._networks:
            try:
                addr = ipaddress.ip_address(client_ip)
            except ValueError:
                return None
            for net, region in self._networks:
                if addr in net:
                    return region
        return None

    # -- placement ------------------------------------------------------------------------
    def place(self, endpoint: Endpoint, origin: str | None, signing_region: str | None) -> Placement:
        match = endpoint.match
        if match is not None and match.kind == HostKind.GLOBAL:
            home = match.partition.global_region or "us-east-1"
            local = self.catalog.region(origin) if origin else None
            in_partition = local is not None and local.partition == match.partition.name
            serving = origin if in_partition and local is not None and local.enabled_by_default else home
            return Placement(GLOBAL, serving, home, home, home, origin, endpoint.host)  # type: ignore[arg-type]
        if match is not None and match.kind == HostKind.REGIONAL and match.region:
            r = match.region
            return Placement(REGIONAL, r, r, r, r, origin, endpoint.host)
        if match is not None and match.kind == HostKind.IAM:
            home = match.partition.global_region or next(iter(match.partition.regions))
            return Placement(GLOBAL, home, home, home, home, origin, endpoint.host)
        region = signing_region if signing_region and self.catalog.region(signing_region) else origin
        region = region or self.catalog.default.global_region or "us-east-1"
        return Placement(REGIONAL, region, region, region, None, origin, endpoint.host)
