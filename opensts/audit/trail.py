"""The audit trail of one server process: journal (durable outbox) + delivery to trails.

``record(call)`` is what the edge calls after every recognised request; credential-issuing
calls are awaited until their records are durable (see journal.py), others are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opensts.audit.delivery import Delivery, FolderStore, S3Store, TrailStore
from opensts.audit.events import Call, build_events
from opensts.audit.journal import Journal
from opensts.regions.rules import ISSUING_ACTIONS

__all__ = ["AuditTrail", "trail_folder"]


def trail_folder(data_dir: Path) -> Path:
    return data_dir / "trail"


class AuditTrail:
    def __init__(self, data_dir: Path, config: Any = None, *, deliver: bool = True) -> None:
        self.journal = Journal(data_dir / "audit")
        audit = getattr(config, "audit", None) or {}
        default: TrailStore = FolderStore(Path(audit.get("folder") or trail_folder(data_dir)))
        if audit.get("s3"):
            s3 = dict(audit["s3"])
            default = S3Store(s3.pop("bucket"), s3.pop("prefix", ""), **s3)
        per_region = {r: FolderStore(Path(p)) for r, p in (audit.get("region_folders") or {}).items()}
        self.delivery = Delivery(self.journal.path, default, per_region, float(audit.get("interval", 1.0)))
        if deliver:
            self.delivery.start()

    async def record(self, call: Call) -> None:
        events = build_events(call)
        durable = call.service == "sts" and call.info.action in ISSUING_ACTIONS and not call.error_code
        await self.journal.write(events, durable=durable)
