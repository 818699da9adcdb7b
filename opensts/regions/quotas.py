"""Request quotas: token buckets per account × serving Region × endpoint type × quota group.

AWS (sts-api.md §5.8): 600 requests/s per account per Region, shared by AssumeRole,
DecodeAuthorizationMessage, GetAccessKeyInfo, GetCallerIdentity, GetFederationToken and
GetSessionToken; the global endpoint does not share a quota with regional endpoints, and global
requests served in different Regions have separate quotas. Other actions get their own group
(AWS does not publish theirs). Over the quota: ``Throttling`` / ``Rate exceeded`` (HTTP 400).

``QuotaStore`` is the seam for a shared store (Redis) in multi-node deployments; the in-process
store here keeps one set of buckets per worker process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Protocol

from opensts.frozen import frozen
from opensts.protocol.errors import Throttling

__all__ = ["QuotaSettings", "QuotaStore", "InProcessQuotas", "Quotas", "SHARED_GROUP", "group_of"]

SHARED_GROUP = "sts-shared"
_SHARED = frozenset(
    {"AssumeRole", "DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetCallerIdentity", "GetFederationToken",
     "GetSessionToken"}
)
_MAX_BUCKETS = 200_000


def group_of(service: str, action: str) -> str:
    if service == "sts":
        return SHARED_GROUP if action in _SHARED else f"sts:{action}"
    return service


@frozen
class QuotaSettings:
    rps: float = 600.0
    burst: float = 600.0
    groups: Mapping[str, tuple[float, float]] | None = None  # group → (rps, burst) overrides

    def for_group(self, group: str) -> tuple[float, float]:
        if self.groups and group in self.groups:
            return self.groups[group]
        return self.rps, self.burst


class QuotaStore(Protocol):
    def take(self, key: tuple[str, ...], rate: float, burst: float, now: float) -> bool: ...


class InProcessQuotas:
    """Token buckets in a dict; O(1) per request."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, ...], rate: float, burst: float, now: float) -> bool:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._buckets.clear()
                bucket = self._buckets[key] = [burst, now]
            tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if tokens < 1.0:
                bucket[0] = tokens
                return False
            bucket[0] = tokens - 1.0
            return True


class Quotas:
    def __init__(self, settings: QuotaSettings, store: QuotaStore | None = None) -> None:
        self.settings = settings
        self._store = store or InProcessQuotas()

    def charge(self, account_id: str, serving_region: str, endpoint_type: str, service: str, action: str) -> None:
        group = group_of(service, action)
        rate, burst = self.settings.for_group(group)
        if rate <= 0:
            return
        key = (account_id, serving_region, endpoint_type, group)
        if not self._store.take(key, rate, burst, time.monotonic()):
            raise Throttling("Rate exceeded")
