"""Per-account Region state in the store (mixed into SqlRepository)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from opensts.store import tables as t

__all__ = ["RegionRepositoryMixin"]


class RegionRepositoryMixin:
    engine: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def account_regions(self, account_id: str) -> dict[str, tuple[str | None, bool | None]]:
        """region → (opt-in status or None, STS active flag or None) for rows the account changed."""
        c = t.account_regions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.account_regions).where(c.account_id == account_id)).all()
        return {r.region: (r.opt_status, None if r.sts_active is None else bool(r.sts_active)) for r in rows}

    def _put_region(self, account_id: str, region: str, opt_status: str | None, sts_active: bool | None) -> None:
        c = t.account_regions.c
        self._write(
            delete(t.account_regions).where(c.account_id == account_id, c.region == region),
            insert(t.account_regions).values(
                account_id=account_id, region=region, opt_status=opt_status,
                sts_active=None if sts_active is None else int(sts_active),
            ),
        )

    def set_region_opt_status(self, account_id: str, region: str, status: str) -> None:
        _, active = self.account_regions(account_id).get(region, (None, None))
        self._put_region(account_id, region, status, active)

    def set_sts_active(self, account_id: str, region: str, active: bool) -> None:
        status, _ = self.account_regions(account_id).get(region, (None, None))
        self._put_region(account_id, region, status, None if active else False)
