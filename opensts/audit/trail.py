"""The audit trail of one server process: journal (durable outbox) + delivery to trails.

``record(call)`` is what the edge calls after every recognised request; credential-issuing
calls are awaited until their records are durable (see journal.py), others are not.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import orjson

from opensts.audit.delivery import RETENTION_SECONDS, Delivery
from opensts.audit.event_index import MAX_INDEX_BYTES
from opensts.audit.events import Call, build_events, encodable
from opensts.audit.journal import DEFAULT_DURABILITY, Journal
from opensts.audit.lookup import JournalIndex, LookupSource, TrailIndex
from opensts.audit.stores import trail_stores
from opensts.audit.trail_reader import TrailReader, lookup_index_path
from opensts.node import NodeRole
from opensts.node_id import node_id
from opensts.private_files import private_dir
from opensts.regions.rules import ISSUING_ACTIONS

__all__ = ["AuditTrail", "trail_folder", "run_delivery", "make_delivery", "lookup_source"]

log = logging.getLogger("opensts.audit")


#: The delivery process's niceness (config ``[audit] delivery_nice``). Under saturating load it
#: gets a share of the CPU by its weight (655 at 2, against 1024 per busy worker and per load
#: thread: ≈ 0.28 of two cores here), more than delivering what the workers journal needs (≈ 15 µs
#: a record: ≈ 0.2 cores at 11,000 GetCallerIdentity/s), so the backlog stays bounded under
#: steady peak load (bench/scale_audit.py journal: 25–68 k, no trend, over 30 s). At 4 (≈ 0.19)
#: it fell slowly behind at that rate; at 10 (≈ 0.05) it fell behind fast. What it does not
#: need goes to the workers: bursts still go to them first.
DELIVERY_NICE = 2


def trail_folder(data_dir: Path) -> Path:
    return data_dir / "trail"


def _audit(config: Any) -> dict[str, Any]:
    return getattr(config, "audit", None) or {}


def make_delivery(data_dir: Path, config: Any, folder: Path) -> Delivery:
    audit = _audit(config)
    default, per_region = trail_stores(data_dir, audit)
    delivery = Delivery(folder, default, per_region, float(audit.get("interval", 2.0)), node=node_id(data_dir))
    delivery.retention, delivery.max_bytes = index_bounds(audit)
    return delivery


def index_bounds(audit: dict[str, Any]) -> tuple[float, int]:
    """(retention seconds, byte cap) of the audit indexes, from ``[audit] index_retention_days``
    and ``index_max_mb``."""
    days = float(audit.get("index_retention_days", RETENTION_SECONDS / 86400))
    return days * 86400, int(float(audit.get("index_max_mb", MAX_INDEX_BYTES >> 20)) * (1 << 20))


def lookup_source(data_dir: Path, node: NodeRole | None) -> LookupSource:
    """Where LookupEvents reads, decided once from the node's role: a single server its own
    journal; a node of Region R the trail of R, from every node (kept by ``run_delivery``)."""
    folder = data_dir / "audit"
    if node is None or node.region is None:
        return JournalIndex(folder)
    return TrailIndex(lookup_index_path(folder))


def _start_reader(data_dir: Path, config: Any, folder: Path, region: str) -> None:
    """A fleet node's trail reader, in a thread of the delivery process (its own store client)."""
    audit = _audit(config)
    default, per_region = trail_stores(data_dir, audit)
    retention, max_bytes = index_bounds(audit)
    reader = TrailReader(per_region.get(region, default), region, lookup_index_path(folder), retention=retention)
    reader.max_bytes = max_bytes
    interval = float(audit.get("interval", 2.0))
    threading.Thread(target=reader.run_forever, args=(interval,), name="audit-trail-reader", daemon=True).start()


def run_delivery(data_dir: Path, config: Any, node: NodeRole | None = None,
                 stop: threading.Event | None = None) -> None:
    """The delivery process's main loop (returns after its last round once ``stop`` is set); on
    a fleet node also the reader of its Region's trail."""
    import os

    os.nice(int(_audit(config).get("delivery_nice", DELIVERY_NICE)))
    folder = private_dir(data_dir / "audit")
    delivery = make_delivery(data_dir, config, folder)
    if node is not None and node.region is not None:
        _start_reader(data_dir, config, folder, node.region)
    delivery.run_forever(stop)


class AuditTrail:
    """The per-worker side: records into the journal. Delivery runs in its own process
    (``run_delivery``, started by ``opensts serve``)."""

    def __init__(self, data_dir: Path, config: Any = None, node: NodeRole | None = None) -> None:
        audit = _audit(config)
        self.journal = Journal(data_dir / "audit", durability=audit.get("durability", DEFAULT_DURABILITY))
        self.lookup_source = lookup_source(data_dir, node)

    async def record(self, call: Call) -> None:
        events = build_events(call, deferred=True)  # eventID etc. made by ingestion (events.py)
        durable = call.service == "sts" and call.info.action in ISSUING_ACTIONS and not call.error_code
        epoch = call.info.epoch
        try:
            await self.journal.write(events, durable=durable, when=int(epoch), when_ms=int(epoch * 1000))
        except orjson.JSONEncodeError:  # raised before anything is written: write it made encodable
            safe = [(region, account, encodable(record)) for region, account, record in events]
            await self.journal.write(safe, durable=durable, when=int(epoch), when_ms=int(epoch * 1000))
