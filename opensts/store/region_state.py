"""What STS itself writes, kept in the serving Region: TOTP time steps already used (MFA replay)
and SAML assertion ids already used (assertion replay).

Why a seam of its own: in a fleet the node's database is a read-only replica of the control
plane, and STS must never depend on the control plane, so these writes cannot go to the database.
Both are small, short-lived, compare-and-set facts, which Redis holds atomically for every node
of the Region:

* ``SqlRegionState``: today's behaviour (the node's own, writable database) — a single server,
  or a node whose database is the primary and no Region store is configured;
* ``RedisRegionState``: ``OPENSTS_REGION_STORE`` (default ``OPENSTS_QUOTA_STORE``), one Lua
  script / ``SET NX EX`` per check, short socket timeouts.

Chosen once, in wiring (``region_state_for``). When Redis cannot be reached the checks fail
closed: ``StoreUnavailable``, which the edge answers as ``ServiceUnavailable`` (HTTP 503) — an
MFA code or SAML assertion is never accepted without its replay check, and a dead Redis never
costs more than the socket timeout (then, for ``_BREAKER_SECONDS``, nothing at all).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from opensts.store.outage import StoreUnavailable

__all__ = ["RegionState", "SqlRegionState", "RedisRegionState", "region_state_for", "MFA_STEP_TTL"]

#: Seconds a used TOTP step is remembered: codes match only within ±1 step (30 s) of now, so a
#: step older than a few minutes can never be presented again successfully.
MFA_STEP_TTL = 300
_SOCKET_TIMEOUT = 0.5  # seconds: a Redis that does not answer costs at most this, per call
_BREAKER_SECONDS = 1.0  # after a failure, refuse at once for this long instead of waiting again

#: Atomically: accept ``step`` when it is above both the remembered step and the device's floor
#: (its ``last_step`` in the database: the codes used to enable it), then remember it.
_USE_STEP = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local step, floor = tonumber(ARGV[1]), tonumber(ARGV[2])
if step <= current or step <= floor then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class RegionState(Protocol):
    """The Region-local writes of STS (atomic across every node of the Region)."""

    def use_mfa_step(self, serial: str, step: int, floor: int) -> bool:
        """Record TOTP ``step`` of device ``serial`` as used; False when it (or a later one) was
        used already, or ``step <= floor`` (the device's own ``last_step``)."""
        ...

    def remember_assertion(self, assertion_key: str, expires_at: int, now: int) -> bool:
        """Record a SAML assertion id until ``expires_at``; False when it was already used."""
        ...


class SqlRegionState:
    """In the node's own (writable) database: the repository's atomic updates."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo

    def use_mfa_step(self, serial: str, step: int, floor: int) -> bool:
        return bool(self._repo.use_mfa_step(serial, step))  # the row's last_step is the floor

    def remember_assertion(self, assertion_key: str, expires_at: int, now: int) -> bool:
        return bool(self._repo.remember_assertion(assertion_key, expires_at, now))


class RedisRegionState:
    """In the Region's Redis. Keys: ``opensts:mfa-step:SERIAL`` and ``opensts:saml:KEY`` (the key
    is already a SHA-256 of issuer and assertion id), each with its own expiry."""

    def __init__(self, url: str, *, socket_timeout: float = _SOCKET_TIMEOUT) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                           socket_connect_timeout=socket_timeout, retry_on_timeout=False)
        self._use_step = self._redis.register_script(_USE_STEP)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def use_mfa_step(self, serial: str, step: int, floor: int) -> bool:
        return bool(self._call(lambda: self._use_step(keys=[f"opensts:mfa-step:{serial}"],
                                                      args=[step, floor, MFA_STEP_TTL])))

    def remember_assertion(self, assertion_key: str, expires_at: int, now: int) -> bool:
        ttl = max(1, expires_at - now)
        return bool(self._call(lambda: self._redis.set(f"opensts:saml:{assertion_key}", b"1", nx=True, ex=ttl)))

    def ping(self) -> bool:
        """Whether the Region store answers now (for ``/readyz``'s report; never raises)."""
        try:
            return bool(self._call(self._redis.ping))
        except StoreUnavailable:
            return False

    def _call(self, fn: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("the Region store (Redis) is unavailable")
        try:
            return fn()
        except self._errors as exc:
            with self._lock:
                self._down_until = time.monotonic() + _BREAKER_SECONDS
            raise StoreUnavailable(f"the Region store (Redis) is unavailable: {type(exc).__name__}") from None


def region_state_for(region_store: str | None, repo: Any) -> RegionState:
    """The Region store when one is configured, else the node's own database (which the caller
    has checked is writable)."""
    return RedisRegionState(region_store) if region_store else SqlRegionState(repo)
