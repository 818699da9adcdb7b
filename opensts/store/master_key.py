"""Re-sealing every secret at rest under a new master key (`opensts master-key rotate`).

``SEALED`` names every column holding a ``SecretCipher`` ciphertext and the associated data it is
bound to (tests/unit/test_master_key.py checks that every ``*_sealed`` column of the schema is
listed, so a new one cannot be forgotten). ``reseal`` rewrites them all and the master-key check
row in ONE transaction: the database is never half under one key and half under the other.

How running servers follow (the order matters):
1. the new key is written to ``DATA_DIR/master.key.next`` (on every server sharing the database,
   by the operator, before rotating — the one running the command does it itself);
2. the transaction re-seals everything and replaces the check row;
3. ``master.key.next`` replaces ``master.key`` (when the key is not given by OPENSTS_MASTER_KEY);
4. each worker polls the check row at most once a second (auth/keyring.py) and seals with the
   key that opens it; a secret that does not open with its key makes it re-read the key files at
   once, so no request fails in between;
5. a second pass a few seconds later re-seals what a worker sealed under the old key between 2
   and 4 (it is idempotent: a secret already under the new key is left alone).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import Connection, Engine, Table, select, update

from opensts.store import tables as t
from opensts.store.cipher import SecretCipher
from opensts.store.key_repository import MASTER_KEY_CHECK

__all__ = ["SEALED", "SealedColumn", "reseal", "MasterKeyMismatch"]


@dataclass(frozen=True)
class SealedColumn:
    table: Table
    key: str  # the primary key column the context is made of
    column: str
    context: Callable[[str], str]


SEALED: tuple[SealedColumn, ...] = (
    SealedColumn(t.access_keys, "id", "secret_sealed", lambda pk: pk),
    SealedColumn(t.sealing_keys, "kid", "key_sealed", lambda pk: f"sealing:{pk}"),
    SealedColumn(t.mfa_devices, "serial", "seed_sealed", lambda pk: f"mfa:{pk}"),
    SealedColumn(t.federation_signing_keys, "kid", "key_sealed", lambda pk: f"oidc-signing:{pk}"),
    SealedColumn(t.server_certificates, "id", "key_sealed", lambda pk: f"server-certificate:{pk}"),
)


class MasterKeyMismatch(Exception):
    """A secret opens with neither the old nor the new key (nothing was changed)."""


def reseal(engine: Engine, old: SecretCipher, new: SecretCipher) -> int:
    """Re-seal every secret under ``new`` in one transaction; how many were re-sealed (those
    already under ``new`` are left as they are, so a second run is a cheap sweep)."""
    with engine.begin() as conn:
        _take_write_lock(conn)
        count = sum(_reseal_column(conn, col, old, new) for col in SEALED)
        check = base64.b64encode(new.seal(b"opensts", MASTER_KEY_CHECK)).decode()
        conn.execute(update(t.meta).where(t.meta.c.key == MASTER_KEY_CHECK).values(value=check))
    return count


def _take_write_lock(conn: Connection) -> None:
    """Write first (the store generation: caches refresh too), so SQLite takes its write lock
    before this transaction reads anything and no other writer can slip in between."""
    c = t.meta.c
    conn.execute(update(t.meta).where(c.key == "generation").values(value=(c.value.cast(t.Integer) + 1).cast(t.Text)))
    if conn.dialect.name == "postgresql":
        names = ", ".join(col.table.name for col in SEALED)
        conn.exec_driver_sql(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")  # writers wait; readers do not


def _reseal_column(conn: Connection, col: SealedColumn, old: SecretCipher, new: SecretCipher) -> int:
    key, sealed = col.table.c[col.key], col.table.c[col.column]
    count = 0
    for pk, blob in conn.execute(select(key, sealed)).all():
        context = col.context(pk)
        try:
            new.open(blob, context)
            continue  # already under the new key
        except InvalidTag:
            pass
        try:
            plain = old.open(blob, context)
        except InvalidTag:
            raise MasterKeyMismatch(f"{col.table.name} {pk}: opens with neither the old nor the new master key") \
                from None
        conn.execute(update(col.table).where(key == pk).values({col.column: new.seal(plain, context)}))
        count += 1
    return count
