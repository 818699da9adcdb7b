"""What the service layer knows about a request: no HTTP, no XML, just facts.

The edge fills a ``RequestInfo`` (who, when, from where, through which endpoint) and the
service reads it. Later issues add to it (Region model, audit) without touching handlers'
signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opensts.auth.principals import Caller

__all__ = ["RequestInfo"]


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    action: str
    now: datetime  # tz-aware UTC, the server clock for this request
    caller: Caller | None  # None for unsigned requests (federation actions)
    signing_region: str | None = None  # the credential scope's Region
    serving_region: str = "us-east-1"  # the Region that serves the request
    endpoint_type: str = "regional"  # global | regional
    host: str = ""
    source_ip: str = ""
    user_agent: str = ""
    secure_transport: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def epoch(self) -> float:
        return self.now.timestamp()
