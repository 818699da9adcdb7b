"""Key state in the store (mixed into SqlRepository): rotating and pruning token-sealing keys,
listing every key's metadata (never its material), and the small "key state" the server's
workers poll to notice a rotation within a second.

Why a state row of its own rather than the store generation: the generation moves on every IAM
write, and re-reading (and unsealing) every sealing key on each would cost every worker a
database round trip per write anywhere. ``meta.sealing_keys_epoch`` moves only when a sealing key
is added, retired or removed; ``meta.master_key_check`` changes only when the master key is
rotated (store/master_key.py). Both are read in one query, at most once a second per worker.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opensts.frozen import frozen
from opensts.store import tables as t

__all__ = ["KeyStateRepositoryMixin", "KeyInfo", "SEALING_EPOCH", "MASTER_KEY_CHECK"]

SEALING_EPOCH = "sealing_keys_epoch"
MASTER_KEY_CHECK = "master_key_check"


class _Found(Exception):
    """The Region has a current key already (ends ``ensure_sealing_key``'s transaction)."""


@frozen
class KeyInfo:
    """What `opensts keys list` shows of a key: never its material."""

    kind: str  # "sealing" | "oidc-signing"
    scope: str  # a Region (or internal purpose) for sealing keys; the algorithm for signing keys
    kid: str
    created_at: int
    retired_at: int | None
    slot: int | None = None


class KeyStateRepositoryMixin:
    """Relies on ``engine``, ``_cipher`` and ``_bump`` of SqlRepository."""

    engine: Any
    _cipher: Any

    def key_state(self) -> tuple[str, str]:
        """(sealing-key epoch, master-key check): what a worker compares to notice a rotation."""
        with self.engine.connect() as conn:
            rows = dict(conn.execute(select(t.meta.c.key, t.meta.c.value)
                                     .where(t.meta.c.key.in_((SEALING_EPOCH, MASTER_KEY_CHECK)))).all())
        return rows.get(SEALING_EPOCH, "0"), rows.get(MASTER_KEY_CHECK, "")

    def follow_master_key(self) -> bool:
        """Make this process's cipher seal with the master key the database's check row was sealed
        with (after `opensts master-key rotate`); False when none of the keys it can read opens it."""
        with self.engine.connect() as conn:
            check = conn.execute(select(t.meta.c.value).where(t.meta.c.key == MASTER_KEY_CHECK)).scalar()
        return check is None or bool(self._cipher.adopt(check))

    @staticmethod
    def _bump_epoch(conn: Connection) -> None:
        c = t.meta.c
        done = conn.execute(update(t.meta).where(c.key == SEALING_EPOCH)
                            .values(value=(c.value.cast(t.Integer) + 1).cast(t.Text)))
        if done.rowcount == 0:
            conn.execute(insert(t.meta).values(key=SEALING_EPOCH, value="1"))

    def rotate_sealing_key(self, region: str, kid: str, key: bytes, now: int) -> list[str]:
        """Add ``kid`` as ``region``'s current key and retire the keys it replaces, in one
        transaction (so no moment has two current keys or none); the kids retired."""
        sealed = self._cipher.seal(key, context=f"sealing:{kid}")
        c = t.sealing_keys.c
        with self.engine.begin() as conn:
            self._bump_epoch(conn)  # first: the write lock before reading (SQLite)
            retired = list(conn.execute(select(c.kid).where(c.region == region, c.retired_at.is_(None))).scalars())
            conn.execute(update(t.sealing_keys).where(c.region == region, c.retired_at.is_(None))
                         .values(retired_at=now))
            conn.execute(insert(t.sealing_keys).values(kid=kid, region=region, key_sealed=sealed, created_at=now))
            self._bump(conn)  # type: ignore[attr-defined]
        return retired

    def ensure_sealing_key(self, region: str, kid: str, key: bytes, now: int) -> str:
        """``region``'s current key: the one that exists, else ``kid`` (added). One at a time in
        every process (the epoch row's lock), so two workers starting together do not each make
        a current key of their own."""
        sealed = self._cipher.seal(key, context=f"sealing:{kid}")
        c = t.sealing_keys.c
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    self._bump_epoch(conn)
                    found = conn.execute(select(c.kid).where(c.region == region, c.retired_at.is_(None))
                                         .order_by(c.created_at.desc())).scalar()
                    if found is not None:
                        raise _Found(str(found))  # rolls the epoch bump back
                    conn.execute(insert(t.sealing_keys).values(kid=kid, region=region, key_sealed=sealed,
                                                               created_at=now))
                    self._bump(conn)  # type: ignore[attr-defined]
                return kid
            except _Found as exc:
                return str(exc)
            except IntegrityError:  # the epoch row was inserted by another process first
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def prune_sealing_keys(self, retired_before: int) -> list[str]:
        """Remove the keys retired before ``retired_before``; the kids removed."""
        c = t.sealing_keys.c
        with self.engine.begin() as conn:
            gone = list(conn.execute(select(c.kid).where(c.retired_at.is_not(None), c.retired_at < retired_before))
                        .scalars())
            if gone:
                self._bump_epoch(conn)
                conn.execute(delete(t.sealing_keys).where(c.kid.in_(gone)))
                self._bump(conn)  # type: ignore[attr-defined]
        return gone

    def list_key_info(self) -> list[KeyInfo]:
        """Every sealing and outbound-signing key's metadata (nothing is unsealed)."""
        s, f = t.sealing_keys.c, t.federation_signing_keys.c
        with self.engine.connect() as conn:
            sealing = conn.execute(select(s.kid, s.region, s.created_at, s.retired_at)
                                   .order_by(s.region, s.created_at)).all()
            signing = conn.execute(select(f.kid, f.alg, f.slot, f.created_at).order_by(f.alg, f.slot)).all()
        return ([KeyInfo("sealing", r.region, r.kid, r.created_at, r.retired_at) for r in sealing]
                + [KeyInfo("oidc-signing", r.alg, r.kid, r.created_at, None, r.slot) for r in signing])
