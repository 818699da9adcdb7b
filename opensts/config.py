"""The optional config file (TOML): quotas, trusted client networks, extra partitions.

Looked up as ``--config FILE``, else ``DATA_DIR/opensts.toml`` when present. Example::

    [quotas]                       # AWS's defaults: 600 requests/s, burst 600
    rps = 600
    burst = 600
    [quotas.groups]                # per quota group (see regions/quotas.py)
    "sts:AssumeRoleWithWebIdentity" = { rps = 100, burst = 200 }

    [network]
    trusted_proxies = ["10.0.0.5/32"]        # X-Forwarded-For is believed only from these
    [network.client_regions]                 # caller networks → the Region they are "in"
    "10.20.0.0/16" = "us-west-2"

    [audit]                        # where trail files go (default: DATA_DIR/trail)
    folder = "/var/lib/opensts/trail"
    durability = "process"         # or "disk": records of issued credentials fdatasync'ed first
    [audit.region_folders]         # a Region's own trail store
    us-east-1 = "/mnt/us-east-1-trail"
    [audit.s3]                     # or any S3-compatible bucket (boto3 client arguments)
    bucket = "my-trail"
    endpoint_url = "https://s3.example.internal"

    [[partitions]]                 # a private partition with its own domain
    name = "corp"
    dns_suffix = "example.internal"          # sts.example.internal, sts.REGION.example.internal
    global_region = "corp-east-1"
    [partitions.regions]
    corp-east-1 = { opt_in = false, can_deactivate = false }
    corp-west-1 = { opt_in = true }
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opensts.regions.quotas import QuotaSettings

__all__ = ["FileConfig", "load_config", "ConfigError"]


class ConfigError(ValueError):
    """The config file is unreadable or inconsistent; the message names the key."""


@dataclass(frozen=True)
class FileConfig:
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    client_regions: tuple[tuple[str, str], ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    partitions: tuple[dict[str, Any], ...] = ()
    audit: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def load_config(path: Path | None, data_dir: Path) -> FileConfig:
    candidate = path or (data_dir / "opensts.toml")
    if not candidate.exists():
        if path is not None:
            raise ConfigError(f"config file {path} does not exist")
        return FileConfig()
    try:
        raw = tomllib.loads(candidate.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{candidate}: {exc}") from exc
    return FileConfig(
        quotas=_quotas(raw.get("quotas", {})),
        client_regions=_networks(raw.get("network", {}).get("client_regions", {})),
        trusted_proxies=_cidrs(raw.get("network", {}).get("trusted_proxies", []), "network.trusted_proxies"),
        partitions=tuple(_partition(p) for p in raw.get("partitions", [])),
        audit=_audit(raw.get("audit", {})),
        path=candidate,
    )


def _audit(raw: dict[str, Any]) -> dict[str, Any]:
    from opensts.audit.journal import DEFAULT_DURABILITY, DURABILITY

    if raw.get("durability", DEFAULT_DURABILITY) not in DURABILITY:
        raise ConfigError(f"audit.durability: must be one of {', '.join(DURABILITY)}")
    return dict(raw)


def _quotas(raw: dict[str, Any]) -> QuotaSettings:
    try:
        groups = {g: (float(v["rps"]), float(v.get("burst", v["rps"]))) for g, v in raw.get("groups", {}).items()}
        rps = float(raw.get("rps", 600))
        return QuotaSettings(rps, float(raw.get("burst", rps)), groups or None)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"quotas: {exc}") from exc


def _cidrs(values: list[str], where: str) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return tuple(values)


def _networks(raw: dict[str, str]) -> tuple[tuple[str, str], ...]:
    _cidrs(list(raw), "network.client_regions")
    return tuple(raw.items())


def _partition(raw: dict[str, Any]) -> dict[str, Any]:
    for key in ("name", "dns_suffix", "regions"):
        if key not in raw:
            raise ConfigError(f"partitions: '{key}' is required")
    return raw
