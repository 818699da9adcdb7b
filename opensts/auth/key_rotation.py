"""Rotating and pruning token-sealing keys (`opensts keys rotate` / `opensts keys prune`).

A rotation adds a Region's new key and retires its current one in one transaction; every key
ring notices within a second (auth/keyring.py polls the store's sealing-key epoch) and seals
new tokens with the new key, while tokens sealed with the retired key keep opening until the key
is pruned — ``RETENTION`` after its retirement, when no token it sealed can still be valid.
"""

from __future__ import annotations

import secrets

from opensts.auth.keyring import INTERNAL_PURPOSES, RETENTION, new_kid
from opensts.frozen import frozen

__all__ = ["Rotated", "rotate_sealing_keys", "prune_sealing_keys", "key_state"]


@frozen
class Rotated:
    region: str
    kid: str
    retired: tuple[str, ...]


def rotate_sealing_keys(repo: object, regions: list[str], now: int) -> list[Rotated]:
    """A new current key for each of ``regions`` (a Region or an internal purpose)."""
    done = []
    for region in regions:
        kid = new_kid(region)
        retired = repo.rotate_sealing_key(region, kid, secrets.token_bytes(32), now)  # type: ignore[attr-defined]
        done.append(Rotated(region, kid, tuple(retired)))
    return done


def prune_sealing_keys(repo: object, now: int, retention: int = RETENTION) -> list[str]:
    """Remove keys retired more than ``retention`` seconds before ``now``; their kids."""
    return repo.prune_sealing_keys(now - retention)  # type: ignore[attr-defined,no-any-return]


def key_state(retired_at: int | None) -> str:
    return "current" if retired_at is None else "retired"


def rotatable(catalog_regions: list[str]) -> list[str]:
    """Every name `keys rotate --region` accepts: the catalog's Regions and the internal purposes."""
    return [*catalog_regions, *INTERNAL_PURPOSES]
