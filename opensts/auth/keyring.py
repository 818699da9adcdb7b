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

Rotation (`opensts keys rotate`, auth/key_rotation.py) adds a Region's new key and retires the old
one in one transaction and moves the store's sealing-key epoch. Each ring polls that epoch (and
the master-key check row) at most once per ``_CHECK_INTERVAL`` on use, so every worker of every
server sharing the database — and every node reading a replica — seals with the new key within
about a second; a retired key still opens its tokens until it is pruned, ``RETENTION`` after its
retirement (by `opensts keys rotate`/`keys prune`, and by every ring on a writable database at
most once per ``_PRUNE_INTERVAL``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from opensts.auth.session_token import SessionClaims, TokenError, open_token, seal_token, token_kid
from opensts.store.outage import StoreUnavailable
from opensts.store.repository import EntityAlreadyExists, Repository

__all__ = ["KeyRing", "KID_SHAPE", "INTERNAL_PURPOSES", "RETENTION", "create_missing_keys", "new_kid"]

#: Keys the ring holds besides the Regions' (encoded authorization messages: service/authz_message.py).
INTERNAL_PURPOSES = ("authz-messages",)
_RELOAD_INTERVAL = 1.0  # seconds between re-reads of the keys on a replica waiting for a missing one

#: Our key ids: a Region (or internal purpose) name, "/", 8 hex digits (see ``_create``).
KID_SHAPE = re.compile(r"[a-z0-9-]{1,32}/[0-9a-f]{8}")
_MISS_TTL = 2.0  # seconds an id found missing is refused without asking the database again
_MAX_MISSES = 4096  # bound of the remembered missing ids
_LOOKUPS_PER_SECOND = 10.0  # database look-ups of unknown ids, per process (token bucket)
_LOOKUP_BURST = 20.0
_CHECK_INTERVAL = 1.0  # seconds between polls of the store's key state (a rotation is seen within it)
_PRUNE_INTERVAL = 600.0  # seconds between prunes of long-retired keys by a ring on a writable database

#: Seconds a retired sealing key keeps opening tokens: the longest any sealed thing lives
#: (GetSessionToken/GetFederationToken: 36 h; roles at most 12 h; authorization messages 24 h)
#: plus the clock skew a token is accepted with.
RETENTION = 129600 + 300


def new_kid(region: str) -> str:
    return f"{region}/{secrets.token_hex(4)}"


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
        self._state = self._key_state()
        self._polled = self._pruned = time.monotonic()
        self.reload()

    def reload(self) -> None:
        """Re-read every key: the new current ones, and retired ones pruned are forgotten."""
        records = self._repo.list_sealing_keys()
        keys: dict[str, bytes] = {}
        current: dict[str, str] = {}
        for rec in records:
            keys[rec.kid] = rec.key
            if rec.retired_at is None:
                current[rec.region] = rec.kid  # newest active key wins (ordered by age)
        with self._lock:
            self._keys, self._current = keys, current
            self._misses.clear()

    def _key_state(self) -> tuple[str, str] | None:
        read = getattr(self._repo, "key_state", None)
        if read is None:
            return None
        try:
            return read()  # type: ignore[no-any-return]
        except (SQLAlchemyError, StoreUnavailable):  # the database is away: keep serving what is loaded
            return self._state if hasattr(self, "_state") else None

    def poll(self) -> None:
        """At most once per ``_CHECK_INTERVAL``: follow a rotation made by another process (a new
        current key, a pruned one, a new master key); on a writable database, now and then prune."""
        now = time.monotonic()
        with self._lock:
            if now - self._polled < _CHECK_INTERVAL:
                return
            self._polled = now
        state = self._key_state()
        if state is not None and state != self._state:
            if self._state is not None and state[1] != self._state[1]:
                self._repo.follow_master_key()  # type: ignore[attr-defined]
            self._state = state
            self.reload()
        if self._writable and now - self._pruned >= _PRUNE_INTERVAL:
            self._pruned = now
            prune = getattr(self._repo, "prune_sealing_keys", None)
            if prune is not None:
                try:
                    prune(int(time.time()) - RETENTION)
                except SQLAlchemyError:  # pragma: no cover - tried again next interval
                    pass

    def current_kid(self, region: str) -> str:
        self.poll()
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
        ensure = getattr(self._repo, "ensure_sealing_key", None)
        if ensure is not None:
            ensure(region, new_kid(region), secrets.token_bytes(32), int(time.time()))
        else:  # a store without key state (tests' stand-ins)
            try:
                self._repo.add_sealing_key(new_kid(region), region, secrets.token_bytes(32))
            except EntityAlreadyExists:  # pragma: no cover - 32 bits of randomness collided
                pass
        self.reload()
        return self._current[region]

    def key(self, kid: str) -> bytes:
        """The key named ``kid`` (looked up in the database if unknown, within the bounds
        above); KeyError if there is none."""
        self.poll()
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
            kid = new_kid(region)
            made = repo.ensure_sealing_key(region, kid, secrets.token_bytes(32), int(time.time()))  # type: ignore[attr-defined]
            if made == kid:
                created.append(region)
            have.add(region)
    return created
