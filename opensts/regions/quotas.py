"""Request quotas: token buckets per account × serving Region × endpoint type × quota group.

AWS (sts-api.md §5.8): 600 requests/s per account per Region, shared by AssumeRole,
DecodeAuthorizationMessage, GetAccessKeyInfo, GetCallerIdentity, GetFederationToken and
GetSessionToken; the global endpoint does not share a quota with regional endpoints, and global
requests served in different Regions have separate quotas. Other actions get their own group
(AWS does not publish theirs). Over the quota: ``Throttling`` / ``Rate exceeded`` (HTTP 400).

``QuotaStore`` is the seam for the buckets' store: ``InProcessQuotas`` for one worker process,
``SharedQuotas`` for the workers of one server (memory shared across the fork, so that a client
whose connections land on different workers still gets the configured rate, not workers × it),
and ``RedisQuotas`` (regions/redis_quotas.py) for the nodes of a Region, which share their Redis.
"""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
import struct
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from opensts import metrics
from opensts.frozen import frozen
from opensts.protocol.errors import Throttling

__all__ = ["QuotaSettings", "QuotaStore", "InProcessQuotas", "SharedQuotas", "Quotas", "SHARED_GROUP", "group_of"]

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
    store: str | None = None  # the config file's ``[quotas] store``: a Region's Redis (regions/redis_quotas.py)

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


class SharedQuotas:
    """Token buckets in anonymous shared memory, created before the workers are forked.

    A fixed table of ``slots`` buckets, each ``(key hash, tokens, last refill)``, found by open
    addressing from a 64-bit hash of the key (each process remembers where its keys live); one
    process-shared lock guards the table.  Uncontended, that lock is an atomic operation in user
    space, no system call: about a microsecond per request in all.  When the table is full, new
    keys fall back to per-process buckets.  A worker killed while holding the lock cannot stall
    the others: they give up waiting after ``_LOCK_WAIT`` seconds and let the request through.
    """

    _SLOT = struct.Struct("=Qdd")
    _PROBES = 64
    _LOCK_WAIT = 0.05

    def __init__(self, slots: int = 1 << 16) -> None:
        self._slots = slots
        self._mem = mmap.mmap(-1, slots * self._SLOT.size)  # MAP_SHARED | MAP_ANONYMOUS: inherited by fork
        self._lock = multiprocessing.get_context("fork").Lock()
        self._where: dict[tuple[str, ...], int] = {}
        self._overflow = InProcessQuotas()

    def take(self, key: tuple[str, ...], rate: float, burst: float, now: float) -> bool:
        slot = self._where.get(key)
        if not self._lock.acquire(timeout=self._LOCK_WAIT):
            return True
        try:
            if slot is None:
                if len(self._where) >= _MAX_BUCKETS:  # only a cache of where keys live
                    self._where.clear()
                slot = self._where[key] = self._claim(key, burst, now)
            if slot < 0:
                return self._overflow.take(key, rate, burst, now)
            mem, unit = self._mem, self._SLOT
            offset = slot * unit.size
            tag, tokens, last = unit.unpack_from(mem, offset)
            tokens = min(burst, tokens + max(0.0, now - last) * rate)
            taken = tokens >= 1.0
            unit.pack_into(mem, offset, tag, tokens - 1.0 if taken else tokens, max(now, last))
            return taken
        finally:
            self._lock.release()

    def _claim(self, key: tuple[str, ...], burst: float, now: float) -> int:
        """The slot of ``key`` (claimed, full, if no process has used it yet); -1 if the table is full."""
        digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
        tag = int.from_bytes(digest, "little") | 1  # never 0: 0 marks a free slot
        mem, unit = self._mem, self._SLOT
        for probe in range(self._PROBES):
            slot = (tag + probe) % self._slots
            seen = unit.unpack_from(mem, slot * unit.size)[0]
            if seen == tag:
                return slot
            if seen == 0:
                unit.pack_into(mem, slot * unit.size, tag, burst, now)
                return slot
        return -1


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
            metrics.throttled(group)
            raise Throttling("Rate exceeded")
