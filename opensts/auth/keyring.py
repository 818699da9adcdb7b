"""The key ring that seals and opens session tokens.

Keys are AES-256 keys named ``REGION/HEX``, stored sealed under the master key (store/), loaded
into memory at start-up and kept there: opening a token is a dict lookup plus one AES-GCM
decryption, never a database read. Each serving Region seals with its own current key.

A token naming a key this process has not seen (created a moment ago by another worker or
server) is looked up by its id in the database before it is refused, so a new Region's first
tokens work on every worker at once. Bounded so a flood of forged ids cannot hammer the
database: only ids of our shape are looked up, an id found missing is not asked again for
``_MISS_TTL`` seconds, and look-ups are a token bucket (``_LOOKUPS_PER_SECOND``) per process.

In a fleet every Region's key is made on the control plane's primary (``opensts migrate``,
``create_missing_keys``) and reaches each Region by replication, so a v2 token sealed in any
Region opens in every Region. A key ring on a read-only replica (``writable=False``) never
writes: a Region whose key has not arrived yet is re-read at most once per ``_RELOAD_INTERVAL``
and is otherwise ``StoreUnavailable`` (the node is not ready, ``/readyz`` says why).
"""

from __future__ import annotations

import re
import secrets
import threading
import time

from opensts.auth.session_token import SessionClaims, TokenError, open_token, seal_token, token_kid
from opensts.store.outage import StoreUnavailable
from opensts.store.repository import EntityAlreadyExists, Repository

__all__ = ["KeyRing", "KID_SHAPE", "INTERNAL_PURPOSES", "create_missing_keys"]

#: Keys the ring holds besides the Regions' (encoded authorization messages: service/authz_message.py).
INTERNAL_PURPOSES = ("authz-messages",)
_RELOAD_INTERVAL = 1.0  # seconds between re-reads of the keys on a replica waiting for a missing one

#: Our key ids: a Region (or internal purpose) name, "/", 8 hex digits (see ``_create``).
KID_SHAPE = re.compile(r"[a-z0-9-]{1,32}/[0-9a-f]{8}")
_MISS_TTL = 2.0  # seconds an id found missing is refused without asking the database again
_MAX_MISSES = 4096  # bound of the remembered missing ids
_LOOKUPS_PER_SECOND = 10.0  # database look-ups of unknown ids, per process (token bucket)
_LOOKUP_BURST = 20.0


class KeyRing:
    """Sealing keys by kid, and the current key for each Region."""

    def __init__(self, repo: Repository, *, writable: bool = True) -> None:
        self._repo = repo
        self._writable = writable
        self._reloaded = time.monotonic()
        self._keys: dict[str, bytes] = {}
        self._current: dict[str, str] = {}
        self._misses: dict[str, float] = {}  # kid -> when it was found missing
        self._tokens, self._tokens_at = _LOOKUP_BURST, time.monotonic()
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        records = self._repo.list_sealing_keys()
        with self._lock:
            for rec in records:
                self._keys[rec.kid] = rec.key
                if rec.retired_at is None:
                    self._current[rec.region] = rec.kid  # newest active key wins (ordered by age)

    def current_kid(self, region: str) -> str:
        kid = self._current.get(region)
        if kid is None:
            kid = self._create(region) if self._writable else self._arrived(region)
        return kid

    def has_current(self, region: str) -> bool:
        """Whether ``region``'s sealing key is loaded (re-read, within bounds, on a replica)."""
        if region in self._current:
            return True
        try:
            self._arrived(region)
        except StoreUnavailable:
            return False
        return True

    def _arrived(self, region: str) -> str:
        """A replica never creates a key: re-read (at most once per interval) in case it has
        replicated since, else StoreUnavailable naming what to do."""
        now = time.monotonic()
        if now - self._reloaded >= _RELOAD_INTERVAL:
            self._reloaded = now
            self.reload()
        kid = self._current.get(region)
        if kid is None:
            raise StoreUnavailable(f"the token-sealing key of {region} is not in this Region's database yet "
                                   "(run `opensts migrate` against the control plane's primary)")
        return kid

    def _create(self, region: str) -> str:
        kid = f"{region}/{secrets.token_hex(4)}"
        try:
            self._repo.add_sealing_key(kid, region, secrets.token_bytes(32))
        except EntityAlreadyExists:  # pragma: no cover - 32 bits of randomness collided
            pass
        self.reload()
        return self._current[region]

    def key(self, kid: str) -> bytes:
        """The key named ``kid`` (looked up in the database if unknown, within the bounds
        above); KeyError if there is none."""
        key = self._keys.get(kid)
        if key is None:
            key = self._look_up(kid)
        if key is None:
            raise KeyError(kid)
        return key

    def _look_up(self, kid: str) -> bytes | None:
        if not KID_SHAPE.fullmatch(kid):
            return None
        now = time.monotonic()
        with self._lock:
            if now - self._misses.get(kid, -_MISS_TTL) < _MISS_TTL or not self._take_token(now):
                return None
        record = self._repo.get_sealing_key(kid)
        with self._lock:
            if record is None:
                if len(self._misses) >= _MAX_MISSES:
                    self._misses.clear()
                self._misses[kid] = now
                return None
            self._keys[kid] = record.key
            return record.key

    def _take_token(self, now: float) -> bool:
        """One database look-up from the bucket (the caller holds the lock)."""
        self._tokens = min(_LOOKUP_BURST, self._tokens + (now - self._tokens_at) * _LOOKUPS_PER_SECOND)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def seal(self, claims: SessionClaims, region: str) -> str:
        kid = self.current_kid(region)
        return seal_token(claims, kid, self._keys[kid])

    def open(self, token: str) -> SessionClaims:
        """The claims of a token sealed by any key of the ring; TokenError otherwise."""
        try:
            key = self.key(token_kid(token))
        except KeyError as exc:
            raise TokenError("unknown key id") from exc
        return open_token(token, key)


def create_missing_keys(repo: Repository, regions: list[str]) -> list[str]:
    """Create the sealing key of each of ``regions`` (plus ``INTERNAL_PURPOSES``) that has no
    active key yet, on a writable database (the control plane's primary); the Regions created.
    Idempotent: a second run creates nothing."""
    have = {rec.region for rec in repo.list_sealing_keys() if rec.retired_at is None}
    created = []
    for region in [*regions, *INTERNAL_PURPOSES]:
        if region not in have:
            repo.add_sealing_key(f"{region}/{secrets.token_hex(4)}", region, secrets.token_bytes(32))
            have.add(region)
            created.append(region)
    return created
