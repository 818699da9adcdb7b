"""A read-through cache in front of the repository, invalidated by what the store's writes touched.

Hot principals are served from memory. Every write anywhere (another worker, another node, the
admin CLI) bumps ``meta.generation`` and records the entities it touched (store/changes.py). This
cache polls the generation at most once per ``check_interval`` seconds; when it moved, it reads
the tokens written since and drops only the entries that depend on one of them (issue 19: a write
must not empty every cache). Writes made through this process catch up at once (``catch_up``).
A gap in the log (pruned rows, a bump that recorded nothing) or an ``EVERYTHING`` token clears all.

What an entry depends on (its *tokens*, e.g. ``("role", id)``, ``("policy", arn)``):
- the ``deps`` its caller declares, and any the load adds with ``depends`` (a role's policy
  documents depend on every managed policy attached to it and, for a user, on its groups);
- the tokens of every cache entry looked up *while it loads* (nested look-ups: the caller of an
  access key depends on the key, its user and its account; AssumeRole's policy set on the caller's
  policy documents) — so derived values go when anything they were built from goes;
- none at all: the entry is dropped on every change (the safe default for a new memo).
A cache miss (e.g. a key created a moment ago) always reaches the database: absence is cached
only where a caller asks for it with a value (``organization``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TypeVar

from opensts import metrics
from opensts.store.changes import EVERYTHING, ORG, Token
from opensts.store.iam_repository import RoleRecord
from opensts.store.organization_repository import OrganizationRecord
from opensts.store.repository import AccessKeyRecord, AccountRecord, Repository, UserRecord

__all__ = ["StoreCache", "Token", "ORG", "TOUCHED"]

#: Where a request's writes report what they touched, when somebody collects it (the control
#: worker, for the worker that relayed the call: edge/control_relay.py); None: nobody does.
TOUCHED: ContextVar[set[tuple[str, str]] | None] = ContextVar("opensts_touched", default=None)

T = TypeVar("T")
_MAX_ENTRIES = 100_000
_MAX_CATCH_UP = 5_000  # more generations behind than this: clear all rather than read their changes

_MISSING = object()
_NO_ORG = ("no organization",)
_Slot = tuple[str, str]


class StoreCache:
    def __init__(self, repo: Repository, check_interval: float = 1.0, *, lazy: bool = False) -> None:
        """``lazy``: do not ask the store now (the control plane of a fleet node may be down at
        start); the first look-up fills the cache."""
        self.repo = repo
        self._interval = check_interval
        self._generation = -1 if lazy else repo.generation()
        self._checked = time.monotonic()
        self._entries: dict[_Slot, tuple[object, frozenset[Token]]] = {}
        self._by_token: dict[Token, set[_Slot]] = {}
        self._epoch = 0  # advanced by every drop: a load that raced one is not kept
        self._lock = threading.Lock()
        self._polling = threading.Lock()  # one poll at a time (the loop and the IAM threads share a cache)
        self._local = threading.local()
        self.loads = 0  # look-ups that reached the repository (tests and diagnostics read it)

    # -- invalidation -------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Drop everything (a bulk change: bootstrap, seeding)."""
        with self._lock:
            self._entries.clear()
            self._by_token.clear()
            self._epoch += 1

    def catch_up(self) -> set[Token]:
        """After a write made by this thread: drop what it touched now, not at the next poll
        (without asking the database: the tokens are the ones the write just recorded; the next
        poll reads them again, harmlessly). The tokens, for another cache of the same writes."""
        tokens = self.repo.written_here()
        self.drop(tokens)
        sink = TOUCHED.get()
        if sink is not None:
            sink.update(tokens)
        return tokens

    def _refresh(self) -> None:
        """Drop what the store's writes since the last check touched (the caller times it)."""
        if not self._polling.acquire(blocking=False):
            return  # another thread is polling right now
        try:
            self._poll()
        finally:
            self._polling.release()

    def _poll(self) -> None:
        self._checked = time.monotonic()
        generation = self.repo.generation()
        previous = self._generation
        if generation == previous:
            return
        self._generation = generation
        if previous < 0 or generation < previous or generation - previous > _MAX_CATCH_UP:
            self.invalidate()
            return
        tokens = self.repo.changes_between(previous, generation)
        if tokens is None:
            self.invalidate()
        else:
            self.drop(tokens)

    def drop(self, tokens: Iterable[Token]) -> None:
        """Drop every entry depending on one of ``tokens`` (and every entry without dependencies)."""
        tokens = set(tokens)
        if not tokens:
            return
        if EVERYTHING in tokens:
            self.invalidate()
            return
        with self._lock:
            self._epoch += 1
            slots = set(self._by_token.pop(EVERYTHING, ()))
            for kind, key in tokens:
                slots |= self._by_token.pop((kind, key), set())
                slots |= self._by_token.pop((kind, "*"), set())  # entries depending on every one of a kind
            for slot in slots:
                found = self._entries.pop(slot, None)
                for token in found[1] if found else ():
                    dependents = self._by_token.get(token)
                    if dependents is not None:
                        dependents.discard(slot)
                        if not dependents:
                            del self._by_token[token]

    # -- dependencies ---------------------------------------------------------------------------
    def _loading(self) -> list[set[Token]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def depends(self, *tokens: Token) -> None:
        """Called by a load: the value being loaded also depends on ``tokens``."""
        stack = self._loading()
        if stack:
            stack[-1].update(tokens)

    def _note(self, tokens: frozenset[Token]) -> None:
        stack = self._loading()
        if stack:
            stack[-1].update(tokens)

    # -- look-ups -------------------------------------------------------------------------------
    def _get(self, kind: str, key: str, load: Callable[[str], T | None], deps: Iterable[Token] = ()) -> T | None:
        if time.monotonic() - self._checked >= self._interval:  # at most once per interval
            self._refresh()
        slot = (kind, key)
        found = self._entries.get(slot)
        if found is not None:
            metrics.cache(True)
            self._note(found[1])
            return found[0]  # type: ignore[return-value]
        metrics.cache(False)
        epoch = self._epoch
        stack = self._loading()
        collected: set[Token] = set(deps)
        stack.append(collected)
        try:
            self.loads += 1
            value = load(key)
        finally:
            stack.pop()
        tokens = frozenset(collected) if collected else frozenset({EVERYTHING})
        self._note(tokens)
        if value is not None:  # never cache absence: a key created a moment ago must be found
            self._keep(slot, value, tokens, epoch)
        return value

    def _keep(self, slot: _Slot, value: object, tokens: frozenset[Token], epoch: int) -> None:
        with self._lock:
            if epoch != self._epoch:
                return  # something was dropped while this loaded: the value may predate it
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
                self._by_token.clear()
            self._entries[slot] = (value, tokens)
            for token in tokens:
                self._by_token.setdefault(token, set()).add(slot)

    def access_key(self, key_id: str) -> AccessKeyRecord | None:
        return self._get("key", key_id, self.repo.get_access_key, (("access_key", key_id),))

    def user(self, user_id: str) -> UserRecord | None:
        return self._get("user", user_id, self.repo.get_user, (("user", user_id),))

    def account(self, account_id: str) -> AccountRecord | None:
        return self._get("account", account_id, self.repo.get_account, (("account", account_id),))

    def role(self, account_id: str, name: str) -> RoleRecord | None:
        """A role by name (IAM role names are case-insensitive), dropped when that role is written."""
        return self._get("role", f"{account_id}/{name.lower()}", lambda _: self._load_role(account_id, name))

    def _load_role(self, account_id: str, name: str) -> RoleRecord | None:
        role = self.repo.get_role(account_id, name)  # type: ignore[attr-defined]
        self.depends(("account", account_id), *((("role", role.id),) if role is not None else ()))
        return role

    def organization(self, account_id: str) -> OrganizationRecord | None:
        """The organization ``account_id`` manages or belongs to (absence is cached too: it is
        asked on every policy decision, and joining an organization is a write, which clears it)."""
        found = self._get("organization", account_id, lambda a: self.repo.organization_of(a) or _NO_ORG,  # type: ignore[attr-defined]
                          (ORG,))
        return found if found is not _NO_ORG else None  # type: ignore[return-value]

    def memo(self, kind: str, key: str, load: Callable[[str], T], deps: Iterable[Token] = ()) -> T:
        """Cache any derived value (e.g. a user's policy documents), dropped when one of ``deps``,
        of the tokens its load adds (``depends``) or of the entries it looked up changes; with
        none of these, on every change."""
        value = self._get(kind, key, load, deps)
        return value  # type: ignore[return-value]
