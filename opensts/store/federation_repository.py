"""Federation state in the store (mixed into SqlRepository): outbound issuers per account,
their signing keys (sealed under the master key) and SAML assertion ids seen (replay).

Signing keys and replay ids are not cached data, so writing them does not bump the store
generation (which would flush every process's cache on each SAML call).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opensts.frozen import frozen
from opensts.store import tables as t

__all__ = ["FederationRepositoryMixin", "OutboundIssuer", "SigningKeyRecord"]


@frozen
class OutboundIssuer:
    account_id: str
    issuer_id: str
    enabled: bool


@frozen
class SigningKeyRecord:
    kid: str
    alg: str
    slot: int
    private_pem: bytes
    created_at: int


class FederationRepositoryMixin:
    engine: Any
    _cipher: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    # -- outbound issuers -------------------------------------------------------------------
    def outbound_issuer(self, account_id: str) -> OutboundIssuer | None:
        c = t.outbound_federation.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.outbound_federation).where(c.account_id == account_id)).first()
        return OutboundIssuer(row.account_id, row.issuer_id, bool(row.enabled)) if row else None

    def outbound_issuer_by_id(self, issuer_id: str) -> OutboundIssuer | None:
        c = t.outbound_federation.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.outbound_federation).where(c.issuer_id == issuer_id)).first()
        return OutboundIssuer(row.account_id, row.issuer_id, bool(row.enabled)) if row else None

    def set_outbound_federation(self, account_id: str, enabled: bool) -> OutboundIssuer:
        """Enable/disable; the issuer id is created once and kept."""
        current = self.outbound_issuer(account_id)
        c = t.outbound_federation.c
        now = int(time.time())
        if current is None:
            issuer_id = str(uuid.uuid4())
            self._write(insert(t.outbound_federation).values(
                account_id=account_id, issuer_id=issuer_id, enabled=int(enabled), updated_at=now))
            return OutboundIssuer(account_id, issuer_id, enabled)
        self._write(update(t.outbound_federation).where(c.account_id == account_id)
                    .values(enabled=int(enabled), updated_at=now))
        return OutboundIssuer(account_id, current.issuer_id, enabled)

    # -- signing keys -----------------------------------------------------------------------
    def signing_key(self, alg: str, slot: int) -> SigningKeyRecord | None:
        c = t.federation_signing_keys.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.federation_signing_keys).where(c.alg == alg, c.slot == slot)).first()
        return self._signing_key(row) if row else None

    def add_signing_key(self, kid: str, alg: str, slot: int, private_pem: bytes) -> SigningKeyRecord:
        """Insert the key of (alg, slot) unless another process did first; returns the winner."""
        sealed = self._cipher.seal(private_pem, context=f"oidc-signing:{kid}")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.federation_signing_keys).values(
                    kid=kid, alg=alg, slot=slot, key_sealed=sealed, created_at=int(time.time())))
        except IntegrityError:
            pass
        record = self.signing_key(alg, slot)
        assert record is not None
        return record

    def signing_keys_since(self, min_slot: int) -> list[SigningKeyRecord]:
        c = t.federation_signing_keys.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.federation_signing_keys).where(c.slot >= min_slot)
                                .order_by(c.alg, c.slot)).all()
        return [self._signing_key(r) for r in rows]

    def _signing_key(self, row: Any) -> SigningKeyRecord:
        pem = self._cipher.open(row.key_sealed, context=f"oidc-signing:{row.kid}")
        return SigningKeyRecord(row.kid, row.alg, row.slot, pem, row.created_at)

    # -- SAML replay ------------------------------------------------------------------------
    def remember_assertion(self, assertion_key: str, expires_at: int, now: int) -> bool:
        """Record a used assertion id; False when it was already used (a replay)."""
        c = t.saml_assertion_ids.c
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t.saml_assertion_ids).where(c.expires_at < now))
                conn.execute(insert(t.saml_assertion_ids).values(assertion_key=assertion_key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
