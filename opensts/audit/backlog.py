"""What waits to be delivered, per trail Region: the delivery process's metrics
(``opensts_audit_delivery_backlog_records`` and ``..._oldest_age_seconds``).

Read from the audit index (``audit/index.py``): records in batch parts not yet delivered, plus
records indexed but not yet claimed into a batch. Measured at most every ``EVERY`` seconds (the
count is a scan of what waits: cheap when the store keeps up, and not repeated every round when a
store has been down for hours).
"""

from __future__ import annotations

import sqlite3
import time

from opensts import metrics

__all__ = ["BacklogGauge"]

EVERY = 5.0

_PENDING = (
    "SELECT p.trail_region, COUNT(e.seq), MIN(e.event_time) FROM batch_parts p JOIN batches b ON b.id = p.batch_id "
    "JOIN events e ON e.seq BETWEEN b.first_seq AND b.last_seq AND e.account_id = p.account_id "
    "AND e.trail_region = p.trail_region WHERE p.delivered = 0 GROUP BY p.trail_region"
)
_UNCLAIMED = (
    "SELECT trail_region, COUNT(*), MIN(event_time) FROM events "
    "WHERE seq > (SELECT COALESCE(MAX(last_seq), 0) FROM batches) GROUP BY trail_region"
)


class BacklogGauge:
    """Sets the backlog gauges of every trail Region seen (a Region whose backlog emptied reads 0)."""

    def __init__(self) -> None:
        from opensts.regions.catalog import default_catalog

        self._regions: set[str] = set()
        self._at = 0.0
        metrics.known_regions(r.name for r in default_catalog().regions())

    def measure(self, conn: sqlite3.Connection, *, force: bool = False) -> dict[str, tuple[int, float]]:
        """{trail Region: (records waiting, age in seconds of the oldest)} — also set as the gauges."""
        now = time.monotonic()
        if not metrics.enabled() or (not force and now - self._at < EVERY):
            return {}
        self._at = now
        waiting: dict[str, list[float]] = {}
        for query in (_PENDING, _UNCLAIMED):
            for region, count, oldest in conn.execute(query).fetchall():
                entry = waiting.setdefault(region, [0, float("inf")])
                entry[0] += count
                if oldest is not None:
                    entry[1] = min(entry[1], oldest / 1000 if oldest > 1e11 else oldest)  # ms or s
        wall = time.time()
        result = {r: (int(c), (wall - o) if o != float("inf") else 0.0) for r, (c, o) in waiting.items()}
        for region in self._regions | set(result):
            count, age = result.get(region, (0, 0.0))
            metrics.delivery_backlog(region, count, age)
        self._regions |= set(result)
        return result
