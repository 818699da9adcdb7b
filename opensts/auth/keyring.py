"""The key ring that seals and opens session tokens.

Keys are AES-256 keys named ``REGION/HEX``, stored sealed under the master key (store/), loaded
into memory at start-up and kept there: opening a token is a dict lookup plus one AES-GCM
decryption, never a database read. Each serving Region seals with its own current key; a token
naming a key this process has not seen (created by another worker or node) triggers one reload,
rate-limited so a flood of forged kids cannot hammer the database.
"""

from __future__ import annotations

import secrets
import threading
import time

from opensts.auth.session_token import SessionClaims, TokenError, open_token, seal_token, token_kid
from opensts.store.repository import EntityAlreadyExists, Repository

__all__ = ["KeyRing"]

_RELOAD_EVERY = 1.0  # seconds between reloads triggered by unknown kids


class KeyRing:
    """Sealing keys by kid, and the current key for each Region."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._keys: dict[str, bytes] = {}
        self._current: dict[str, str] = {}
        self._last_reload = 0.0
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        records = self._repo.list_sealing_keys()
        with self._lock:
            for rec in records:
                self._keys[rec.kid] = rec.key
                if rec.retired_at is None:
                    self._current[rec.region] = rec.kid  # newest active key wins (ordered by age)
            self._last_reload = time.monotonic()

    def current_kid(self, region: str) -> str:
        kid = self._current.get(region)
        if kid is None:
            kid = self._create(region)
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
        """The key named ``kid`` (reloading once if unknown); KeyError if there is none."""
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_reload >= _RELOAD_EVERY:
            self.reload()
            key = self._keys.get(kid)
        if key is None:
            raise KeyError(kid)
        return key

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
