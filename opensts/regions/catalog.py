"""Partitions, Regions and STS/IAM hostnames, as data.

``data/partitions.json`` lists AWS's partitions and Regions (opt-in or enabled by default,
whether STS can be deactivated); the config file may add partitions with custom domains
(``sts.example.internal`` / ``sts.REGION.example.internal``). Every decision about hosts and
Regions reads this catalog; nothing else in the code names a Region.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from opensts.frozen import frozen

__all__ = ["Region", "Partition", "Catalog", "default_catalog", "HostKind", "HostMatch"]

_DATA = Path(__file__).with_name("data") / "partitions.json"


@frozen
class Region:
    name: str
    partition: str
    opt_in: bool
    can_deactivate: bool = True

    @property
    def enabled_by_default(self) -> bool:
        return not self.opt_in


@frozen
class Partition:
    name: str
    dns_suffix: str
    regions: Mapping[str, Region]
    global_region: str | None = None  # where the global endpoint serves outside callers
    global_hosts: tuple[str, ...] = ()
    iam_hosts: tuple[str, ...] = ()
    dual_stack_suffix: str | None = None


class HostKind:
    GLOBAL = "global"
    REGIONAL = "regional"
    IAM = "iam"


@frozen
class HostMatch:
    kind: str  # HostKind
    partition: Partition
    region: str | None = None  # the Region of a regional host
    host: str = ""


@dataclass
class Catalog:
    partitions: list[Partition] = field(default_factory=list)
    _hosts: dict[str, HostMatch] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        hosts: dict[str, HostMatch] = {}
        for part in self.partitions:
            for host in part.global_hosts:
                hosts[host] = HostMatch(HostKind.GLOBAL, part, None, host)
            for host in part.iam_hosts:
                hosts[host] = HostMatch(HostKind.IAM, part, None, host)
            for region in part.regions:
                for prefix in ("sts", "sts-fips"):
                    suffixes = [part.dns_suffix] + ([part.dual_stack_suffix] if part.dual_stack_suffix else [])
                    for suffix in suffixes:
                        host = f"{prefix}.{region}.{suffix}"
                        hosts.setdefault(host, HostMatch(HostKind.REGIONAL, part, region, host))
        self._hosts = hosts

    def match_host(self, host: str) -> HostMatch | None:
        """Classify a Host header value (port ignored, case-insensitive)."""
        name = host.strip().lower()
        if name.startswith("["):
            return None
        name = name.rsplit(":", 1)[0] if ":" in name else name
        return self._hosts.get(name.rstrip("."))

    def region(self, name: str) -> Region | None:
        for part in self.partitions:
            reg = part.regions.get(name)
            if reg is not None:
                return reg
        return None

    def partition_of(self, region: str) -> Partition | None:
        for part in self.partitions:
            if region in part.regions:
                return part
        return None

    def regions(self) -> Iterable[Region]:
        for part in self.partitions:
            yield from part.regions.values()

    @property
    def default(self) -> Partition:
        return self.partitions[0]

    def with_partitions(self, extra: Iterable[Mapping[str, Any]]) -> Catalog:
        """A catalog with partitions added from configuration (custom domains)."""
        return Catalog([*self.partitions, *(_partition(p) for p in extra)])


def _partition(raw: Mapping[str, Any]) -> Partition:
    name = raw["name"]
    regions = {
        r: Region(r, name, bool(v.get("opt_in", False)), bool(v.get("can_deactivate", True)))
        for r, v in raw.get("regions", {}).items()
    }
    suffix = raw["dns_suffix"]
    global_hosts = tuple(raw.get("global_hosts", [f"sts.{suffix}"] if raw.get("global_region") else []))
    return Partition(
        name,
        suffix,
        regions,
        raw.get("global_region"),
        global_hosts,
        tuple(raw.get("iam_hosts", [f"iam.{suffix}"])),
        raw.get("dual_stack_suffix"),
    )


@cache
def default_catalog() -> Catalog:
    raw = json.loads(_DATA.read_text())
    return Catalog([_partition(p) for p in raw["partitions"]])
