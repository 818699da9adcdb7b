"""The audit trail of one server process: journal (durable outbox) + delivery to trails.

``record(call)`` is what the edge calls after every recognised request; credential-issuing
calls are awaited until their records are durable (see journal.py), others are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from opensts.audit.delivery import Delivery, FolderStore, S3Store, TrailStore
from opensts.audit.events import Call, build_events, encodable
from opensts.audit.journal import DEFAULT_DURABILITY, Journal
from opensts.private_files import private_dir
from opensts.regions.rules import ISSUING_ACTIONS

__all__ = ["AuditTrail", "trail_folder", "run_delivery", "make_delivery"]


def trail_folder(data_dir: Path) -> Path:
    return data_dir / "trail"


def make_delivery(data_dir: Path, config: Any, folder: Path) -> Delivery:
    audit = getattr(config, "audit", None) or {}
    default: TrailStore = FolderStore(Path(audit.get("folder") or trail_folder(data_dir)))
    if audit.get("s3"):
        s3 = dict(audit["s3"])
        default = S3Store(s3.pop("bucket"), s3.pop("prefix", ""), **s3)
    per_region = {r: FolderStore(Path(p)) for r, p in (audit.get("region_folders") or {}).items()}
    return Delivery(folder, default, per_region, float(audit.get("interval", 2.0)))


def run_delivery(data_dir: Path, config: Any) -> None:
    """The delivery process's main loop (never returns)."""
    import os

    os.nice(10)  # under load the workers come first; delivery catches up when they are idle
    folder = private_dir(data_dir / "audit")
    make_delivery(data_dir, config, folder).run_forever()


class AuditTrail:
    """The per-worker side: records into the journal. Delivery runs in its own process
    (``run_delivery``, started by ``opensts serve``)."""

    def __init__(self, data_dir: Path, config: Any = None) -> None:
        audit = getattr(config, "audit", None) or {}
        self.journal = Journal(data_dir / "audit", durability=audit.get("durability", DEFAULT_DURABILITY))

    async def record(self, call: Call) -> None:
        events = build_events(call)
        durable = call.service == "sts" and call.info.action in ISSUING_ACTIONS and not call.error_code
        try:
            await self.journal.write(events, durable=durable, when=int(call.info.epoch))
        except orjson.JSONEncodeError:  # raised before anything is written: write it made encodable
            safe = [(region, account, encodable(record)) for region, account, record in events]
            await self.journal.write(safe, durable=durable, when=int(call.info.epoch))
