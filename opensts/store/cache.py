"""A read-through cache in front of the repository, invalidated by the store's generation.

Hot principals are served from memory. Every write anywhere (another worker, the admin CLI)
bumps ``meta.generation``; this cache polls it at most once per ``check_interval`` seconds and
drops everything when it moved. Writes made through this process invalidate at once. So a key
deactivated or an account created is seen within ``check_interval`` by every process, and a
cache miss (e.g. a key created a moment ago) always reaches the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from opensts import metrics
from opensts.store.organization_repository import OrganizationRecord
from opensts.store.repository import AccessKeyRecord, AccountRecord, Repository, UserRecord

__all__ = ["StoreCache"]

T = TypeVar("T")
_MAX_ENTRIES = 100_000


_MISSING = object()
_NO_ORG = ("no organization",)


class StoreCache:
    def __init__(self, repo: Repository, check_interval: float = 1.0, *, lazy: bool = False) -> None:
        """``lazy``: do not ask the store now (the control plane of a fleet node may be down at
        start); the first look-up fills the cache."""
        self.repo = repo
        self._interval = check_interval
        self._generation = -1 if lazy else repo.generation()
        self._checked = time.monotonic()
        self._entries: dict[tuple[str, str], object] = {}

    def invalidate(self) -> None:
        self._entries.clear()

    def _refresh(self) -> None:
        """Drop every entry if the store changed since the last check (the caller times it)."""
        self._checked = time.monotonic()
        generation = self.repo.generation()
        if generation != self._generation:
            self._generation = generation
            self._entries.clear()

    def _get(self, kind: str, key: str, load: Callable[[str], T | None]) -> T | None:
        if time.monotonic() - self._checked >= self._interval:  # at most once per interval
            self._refresh()
        slot = (kind, key)
        value = self._entries.get(slot, _MISSING)
        if value is not _MISSING:
            metrics.cache(True)
            return value  # type: ignore[return-value]
        metrics.cache(False)
        value = load(key)
        if value is not None:  # never cache absence: a key created a moment ago must be found
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[slot] = value
        return value

    def access_key(self, key_id: str) -> AccessKeyRecord | None:
        return self._get("key", key_id, self.repo.get_access_key)

    def user(self, user_id: str) -> UserRecord | None:
        return self._get("user", user_id, self.repo.get_user)

    def account(self, account_id: str) -> AccountRecord | None:
        return self._get("account", account_id, self.repo.get_account)

    def organization(self, account_id: str) -> OrganizationRecord | None:
        """The organization ``account_id`` manages or belongs to (absence is cached too: it is
        asked on every policy decision, and joining an organization is a write, which clears it)."""
        found = self._get("organization", account_id, lambda a: self.repo.organization_of(a) or _NO_ORG)  # type: ignore[attr-defined]
        return found if found is not _NO_ORG else None  # type: ignore[return-value]

    def memo(self, kind: str, key: str, load: Callable[[str], T]) -> T:
        """Cache any derived value (e.g. a user's policy documents) under the same invalidation."""
        value = self._get(kind, key, load)
        return value  # type: ignore[return-value]
