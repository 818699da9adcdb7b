"""The store side of what security teams read (access keys' last use, credential reports,
access-advisor jobs), OIDC providers' identity-propagation settings and delegation requests.

Mixed into ``SqlRepository``. Recording access-key use is deliberately *not* a generation-bumping
write: it changes no decision, so it must not drop every process's cache (``_bump``), and it is
written in batches by ``service/iam/last_used.py``, never once per request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from opensts.frozen import frozen
from opensts.store import tables as t

__all__ = ["ReadsRepositoryMixin", "KeyUse", "DelegationRecord"]


@frozen
class KeyUse:
    """One access key's last use: epoch seconds, the service's endpoint prefix, the Region."""

    used_at: int
    service: str
    region: str


@frozen
class DelegationRecord:
    id: str
    requestor_account_id: str
    requestor_workflow_id: str
    owner_account_id: str | None
    owner_id: str | None
    approver_id: str | None
    state: str
    document: dict[str, Any]
    notes: str | None
    rejection_reason: str | None
    token_hash: str | None
    created_at: int
    updated_at: int
    expires_at: int


class ReadsRepositoryMixin:
    engine: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    # -- access keys' last use --------------------------------------------------------------
    def record_key_use(self, uses: dict[str, KeyUse]) -> None:
        """Upsert a batch of last uses in one transaction; an older use never overwrites a newer
        one (two workers flush independently). No generation bump: nothing cached depends on it."""
        if not uses:
            return
        rows = [{"key_id": k, "used_at": u.used_at, "service": u.service, "region": u.region}
                for k, u in sorted(uses.items())]  # one lock order for every flusher
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t.access_key_last_used)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key_id"],
            set_={"used_at": stmt.excluded.used_at, "service": stmt.excluded.service,
                  "region": stmt.excluded.region},
            where=t.access_key_last_used.c.used_at <= stmt.excluded.used_at,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def key_uses(self, key_ids: Iterable[str]) -> dict[str, KeyUse]:
        ids = list(key_ids)
        if not ids:
            return {}
        c = t.access_key_last_used.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.access_key_last_used).where(c.key_id.in_(ids)))
            return {r.key_id: KeyUse(int(r.used_at), r.service, r.region) for r in rows}

    # -- credential reports -----------------------------------------------------------------
    def credential_report(self, account_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.credential_reports).where(t.credential_reports.c.account_id == account_id)).first()

    def start_credential_report(self, account_id: str, now: int) -> None:
        self._write(
            delete(t.credential_reports).where(t.credential_reports.c.account_id == account_id),
            insert(t.credential_reports).values(account_id=account_id, started_at=now),
        )

    def finish_credential_report(self, account_id: str, started_at: int, now: int, content: bytes) -> None:
        c = t.credential_reports.c
        self._write(update(t.credential_reports).where(c.account_id == account_id, c.started_at == started_at)
                    .values(generated_at=now, content=content))

    # -- access-advisor jobs ----------------------------------------------------------------
    def save_report_job(self, job_id: str, account_id: str, kind: str, granularity: str, target: str,
                        created_at: int, completed_at: int, result: dict[str, Any]) -> None:
        self._write(insert(t.access_report_jobs).values(
            job_id=job_id, account_id=account_id, kind=kind, granularity=granularity, target=target,
            created_at=created_at, completed_at=completed_at, result=json.dumps(result, separators=(",", ":"))))

    def report_job(self, job_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(t.access_report_jobs).where(t.access_report_jobs.c.job_id == job_id)).first()

    # -- OIDC providers' identity propagation -------------------------------------------------
    def oidc_provider_config(self, arn: str) -> tuple[dict[str, Any] | None, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.oidc_provider_configs).where(t.oidc_provider_configs.c.arn == arn)).first()
        if row is None:
            return None, None
        return (json.loads(row.context_provider) if row.context_provider else None), row.identity_center_instance_arn

    def set_oidc_provider_config(self, arn: str, context_provider: dict[str, Any] | None,
                                 identity_center_instance_arn: str | None) -> None:
        c = t.oidc_provider_configs.c
        stmts: list[Any] = [delete(t.oidc_provider_configs).where(c.arn == arn)]
        if context_provider is not None or identity_center_instance_arn is not None:
            stmts.append(insert(t.oidc_provider_configs).values(
                arn=arn, context_provider=json.dumps(context_provider) if context_provider else None,
                identity_center_instance_arn=identity_center_instance_arn))
        self._write_under(t.oidc_providers, arn, *stmts)  # type: ignore[attr-defined]

    # -- delegation requests ----------------------------------------------------------------
    def create_delegation_request(self, record: DelegationRecord) -> None:
        values = _fields(record)
        values["document"] = json.dumps(record.document, separators=(",", ":"))
        self._write(insert(t.delegation_requests).values(**values))

    def get_delegation_request(self, request_id: str) -> DelegationRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.delegation_requests).where(t.delegation_requests.c.id == request_id)).first()
        return _delegation(row) if row else None

    def delegation_request_by_token(self, token_hash: str) -> DelegationRecord | None:
        c = t.delegation_requests.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.delegation_requests).where(c.token_hash == token_hash)).first()
        return _delegation(row) if row else None

    def list_delegation_requests(self, owner_account_id: str) -> list[DelegationRecord]:
        c = t.delegation_requests.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.delegation_requests)
                                .where(c.owner_account_id == owner_account_id, c.owner_id.is_not(None))
                                .order_by(c.created_at, c.id))
            return [_delegation(r) for r in rows]

    def transition_delegation_request(self, request_id: str, from_states: tuple[str, ...], **values: Any) -> bool:
        """Compare-and-set: move a request on only from one of ``from_states`` (two concurrent
        Accept/Reject calls: one wins, the other sees the new state). False when it did not."""
        c = t.delegation_requests.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t.delegation_requests)
                                .where(c.id == request_id, c.state.in_(from_states)).values(**values)).rowcount
            if done:
                self._bump(conn)  # type: ignore[attr-defined]
        return bool(done)


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _delegation(row: Any) -> DelegationRecord:
    return DelegationRecord(
        row.id, row.requestor_account_id, row.requestor_workflow_id, row.owner_account_id, row.owner_id,
        row.approver_id, row.state, json.loads(row.document), row.notes, row.rejection_reason, row.token_hash,
        int(row.created_at), int(row.updated_at), int(row.expires_at),
    )


def account_created_at(repo: Any, account_id: str) -> int:
    """When an account was created (the root row of the credential report)."""
    with repo.engine.connect() as conn:
        value = conn.execute(select(t.accounts.c.created_at).where(t.accounts.c.id == account_id)).scalar()
    return int(value or 0)


def policy_attachment_entities(repo: Any, arn: str) -> list[tuple[str, str]]:
    """(entity type, entity id) of everything a managed policy is attached to."""
    c = t.policy_attachments.c
    with repo.engine.connect() as conn:
        rows = conn.execute(select(c.entity_type, c.entity_id).where(c.policy_arn == arn)
                            .order_by(c.entity_type, c.entity_id))
        return [(r.entity_type, r.entity_id) for r in rows]
