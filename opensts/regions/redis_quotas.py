"""Quota buckets in the Region's Redis, shared by every node of the Region (``OPENSTS_QUOTA_STORE``).

N interchangeable nodes behind a load balancer must together admit the configured rate, not N
times it, so the token bucket of each key (account × serving Region × endpoint type × group, see
``regions/quotas.py``) lives in Redis, refilled by one Lua script on Redis's own clock (``TIME``:
the nodes' clocks never meet).

Why leases: a round trip to Redis is tens of microseconds on loopback, more across a network, and
it runs on the event loop. So a worker takes tokens from Redis in small batches (a *lease*) and
spends them locally; only one request in a lease's size pays the round trip. The lease is small
relative to the bucket so that accuracy holds: ``burst / 50``, at most what the bucket refills in
``LEASE_SECONDS`` and at most ``MAX_LEASE`` — at AWS's default (600/s, burst 600) 12 tokens, at
``--quota-rps 5 --quota-burst 10`` one token (every request asks Redis: exact). A lease unused
after ``LEASE_SECONDS`` is dropped (its tokens are not hoarded: a worker never holds more than
the bucket refills while the lease lives). A refusal carries the time until the next token
exists; the worker refuses the key locally until then (no other node can make the bucket refill
sooner), so a client hammering past its quota does not cost a round trip per request either.

Leases are per worker process (not shared through ``SharedQuotas`` memory): a worker's leftover is
at most one small lease, the bookkeeping stays lock-free across processes, and the one thing
that must be node-wide — saying once that Redis is unreachable — is (``_NodeFlags``).

Redis unreachable (refused, down, timed out, any Redis error): requests are served without a
quota check, never failed or slowed beyond the one call that found out (bounded by a short
socket timeout). The node logs it once and once more when Redis answers again; a background
thread in each worker probes every ``RETRY_SECONDS``, so no request waits on a dead server.
``unavailable_count`` counts the requests served unchecked, ``outages`` the times it went away.

Memory is bounded on both sides: a Redis key expires when its bucket would be full again (an
absent key *is* a full bucket, so expiry loses nothing), and the local lease table is cleared when
it reaches ``regions.quotas`` cap of keys.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import multiprocessing
import struct
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from opensts.regions.quotas import _MAX_BUCKETS

__all__ = ["RedisQuotas", "BUCKET_SCRIPT", "KEY_PREFIX", "redacted_url"]

log = logging.getLogger("opensts.quotas")

KEY_PREFIX = "opensts:quota:"
TIMEOUT_SECONDS = 0.1  # connect and read: a Region's Redis answers in well under a millisecond
RETRY_SECONDS = 1.0  # probe interval while Redis is unreachable
LEASE_SECONDS = 0.1
LEASE_FRACTION = 1 / 50
MAX_LEASE = 64
_MAX_KEY = 200  # longer bucket names (an account from an unsigned call's RoleArn) are hashed

#: KEYS[1]: the bucket (a hash: tokens, at). ARGV: rate (tokens/s), burst, tokens wanted.
#: Returns {granted, 0} or, when nothing could be granted, {0, microseconds until one token}.
#: The key expires when the bucket would be full again: an absent key is a full bucket.
BUCKET_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME before writes
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local granted = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', at))
local ttl = math.min(2147483647, math.ceil((burst - tokens) / rate * 1000) + 1000)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
if granted > 0 then
  return {granted, 0}
end
return {0, math.min(2147483647, math.ceil((1 - tokens) / rate * 1000000))}
"""


def redacted_url(url: str) -> str:
    """``url`` without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    creds, host = rest.split("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ':'}***@{host}"


def bucket_name(key: tuple[str, ...]) -> str:
    """The Redis key of a bucket: readable (``opensts:quota:ACCOUNT|REGION|TYPE|GROUP``) unless
    long, then a hash — the account of an unsigned call comes from the caller's RoleArn."""
    joined = "|".join(key)
    if len(joined) <= _MAX_KEY:
        return KEY_PREFIX + joined
    return KEY_PREFIX + "h:" + hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class _NodeFlags:
    """Whether this node already said Redis is down, and the counters, in memory shared across
    the fork (created before the workers): one log line per outage per node, not per worker."""

    _LAYOUT = struct.Struct("=QQQ")  # down (0/1), outages, requests served unchecked
    _LOCK_WAIT = 0.01

    def __init__(self) -> None:
        self._mem = mmap.mmap(-1, self._LAYOUT.size)
        try:
            self._lock: Any = multiprocessing.get_context("fork").Lock()
        except OSError:  # no POSIX semaphores: flags per worker process
            self._lock = threading.Lock()

    def _update(self, fn: Any) -> Any:
        if not self._lock.acquire(timeout=self._LOCK_WAIT):
            return None
        try:
            values = list(self._LAYOUT.unpack_from(self._mem, 0))
            result = fn(values)
            self._LAYOUT.pack_into(self._mem, 0, *values)
            return result
        finally:
            self._lock.release()

    def went_down(self) -> bool:
        """Mark the store down; True for the first worker to notice (it logs)."""

        def flip(v: list[int]) -> bool:
            if v[0]:
                return False
            v[0], v[1] = 1, v[1] + 1
            return True

        return bool(self._update(flip))

    def came_back(self) -> bool:
        """Mark the store up; True for the first worker to notice (it logs)."""

        def flip(v: list[int]) -> bool:
            was, v[0] = v[0], 0
            return bool(was)

        return bool(self._update(flip))

    def served_unchecked(self) -> None:
        def add(v: list[int]) -> None:
            v[2] += 1

        self._update(add)

    def read(self) -> tuple[int, int, int]:
        return self._LAYOUT.unpack_from(self._mem, 0)  # type: ignore[return-value]


class RedisQuotas:
    """A ``QuotaStore`` whose buckets live in Redis (see the module's docstring).

    Build it before the workers fork (the node-wide flags live in shared memory); each worker
    opens its own connections on first use (redis-py's pool notices the fork)."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT_SECONDS, retry_seconds: float = RETRY_SECONDS,
                 lease_seconds: float = LEASE_SECONDS, max_lease: int = MAX_LEASE) -> None:
        self.url = redacted_url(url)
        # One immediate retry on a connection error only: a pooled connection left broken by a Redis
        # restart fails fast and is replaced; a dead Redis costs one more refused connect, no sleep.
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._script = self._client.register_script(BUCKET_SCRIPT)
        self._retry_seconds = retry_seconds
        self._lease_seconds = lease_seconds
        self._max_lease = max_lease
        self._flags = _NodeFlags()
        self._leases: dict[tuple[str, ...], list[float]] = {}  # key → [tokens left, lease ends, refused until]
        self._lock = threading.Lock()  # the event loop and the worker's off-loop thread both charge
        self._down = False
        self._prober: threading.Thread | None = None

    # -- what /metrics can read ------------------------------------------------------------------

    @property
    def unavailable_count(self) -> int:
        """Requests this node served without a quota check because Redis was unreachable."""
        return self._flags.read()[2]

    @property
    def outages(self) -> int:
        """Times this node found Redis unreachable (after it had answered, or at start)."""
        return self._flags.read()[1]

    @property
    def available(self) -> bool:
        """False while this worker serves unchecked, waiting for Redis to answer again."""
        return not self._down

    # -- the hot path ----------------------------------------------------------------------------

    def lease_size(self, rate: float, burst: float) -> int:
        return max(1, min(self._max_lease, int(burst * LEASE_FRACTION), int(rate * self._lease_seconds)))

    def take(self, key: tuple[str, ...], rate: float, burst: float, now: float) -> bool:
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None:
                if lease[0] >= 1 and now < lease[1]:
                    lease[0] -= 1
                    return True
                if now < lease[2]:
                    return False
        if self._down:
            self._flags.served_unchecked()
            return True
        try:
            granted, wait_us = self._script(keys=[bucket_name(key)], args=[rate, burst, self.lease_size(rate, burst)])
        except (RedisError, OSError) as exc:
            self._lost(exc)
            return True
        with self._lock:
            if len(self._leases) >= _MAX_BUCKETS and key not in self._leases:
                self._leases.clear()
            if granted >= 1:
                self._leases[key] = [granted - 1, now + self._lease_seconds, 0.0]
                return True
            self._leases[key] = [0.0, 0.0, now + wait_us / 1e6]
            return False

    # -- Redis unreachable -----------------------------------------------------------------------

    def _lost(self, exc: BaseException) -> None:
        """Serve unchecked from now on; say so once per node; probe in the background."""
        self._flags.served_unchecked()
        with self._lock:
            if self._down:
                return
            self._down = True
            self._leases.clear()  # stale once Redis is back (its buckets may have expired or reset)
            self._prober = threading.Thread(target=self._probe, name="quota-store-probe", daemon=True)
            self._prober.start()
        if self._flags.went_down():
            log.warning("quota store %s unreachable (%s): serving without request quotas until it is back",
                        self.url, _reason(exc))

    def _probe(self) -> None:
        while True:
            time.sleep(self._retry_seconds)
            try:  # the very call requests make (a PING would pass where writes fail: OOM, a read-only replica)
                self._script(keys=[KEY_PREFIX + "probe"], args=[1, 1, 0])
            except (RedisError, OSError):
                continue
            self._down = False
            if self._flags.came_back():
                log.warning("quota store %s is reachable again: request quotas are enforced", self.url)
            return

    def close(self) -> None:
        self._client.close()


def _reason(exc: BaseException) -> str:
    """The error's class and first line (Redis's own messages name no secret; ours are bounded)."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
