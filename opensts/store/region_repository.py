"""Per-account Region state in the store (mixed into SqlRepository)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from opensts.store import tables as t

_KEEP = object()  # leave this column as it is

__all__ = ["RegionRepositoryMixin"]


class RegionRepositoryMixin:
    engine: Any

    def _write(self, *statements: object) -> None:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def locked(self, parent: Any, key: Any) -> Any:  # pragma: no cover - provided by SqlRepository
        raise NotImplementedError

    def account_regions(self, account_id: str) -> dict[str, tuple[str | None, bool | None]]:
        """region → (opt-in status or None, STS active flag or None) for rows the account changed."""
        c = t.account_regions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.account_regions).where(c.account_id == account_id)).all()
        return {r.region: (r.opt_status, None if r.sts_active is None else bool(r.sts_active)) for r in rows}

    def _put_region(self, account_id: str, region: str, opt_status: Any = _KEEP, sts_active: Any = _KEEP) -> None:
        """Replace the (account, Region) row, keeping the column not given — read and written under
        the account's row lock, so concurrent changes of the two columns are both kept."""
        c = t.account_regions.c
        where = (c.account_id == account_id, c.region == region)
        with self.locked(t.accounts, account_id) as conn:
            row = conn.execute(select(t.account_regions).where(*where)).first()
            if opt_status is _KEEP:
                opt_status = row.opt_status if row else None
            if sts_active is _KEEP:
                sts_active = None if row is None or row.sts_active is None else bool(row.sts_active)
            conn.execute(delete(t.account_regions).where(*where))
            conn.execute(insert(t.account_regions).values(
                account_id=account_id, region=region, opt_status=opt_status,
                sts_active=None if sts_active is None else int(sts_active),
            ))

    def set_region_opt_status(self, account_id: str, region: str, status: str) -> None:
        self._put_region(account_id, region, opt_status=status)

    def set_sts_active(self, account_id: str, region: str, active: bool) -> None:
        self._put_region(account_id, region, sts_active=None if active else False)
