"""The one place a finished request is seen: it feeds the metrics and the access log.

The ASGI app fills a :class:`Outcome` while it serves (the API and the ``RequestInfo`` once the
action is known, the AWS error code on a refusal) and calls :func:`finished` once, when the
answer is ready. Everything a metric or a log line says about a request comes from here, so the
two never disagree. Why not middleware: the API, action, endpoint type and serving Region are
known only inside the pipelines; the outcome object carries them out without changing every
pipeline's return value.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opensts import metrics

__all__ = ["Outcome", "finished"]

access_log = logging.getLogger("opensts.access")


class Outcome:
    """What is known about one request as it is served (filled in by the edge)."""

    __slots__ = ("started", "request_id", "api", "action", "code", "info", "source_ip", "user_agent",
                 "relayed")

    def __init__(self, request_id: str) -> None:
        self.started = time.perf_counter()
        self.request_id = request_id
        self.api = ""  # "" until known: then the error envelope's API is used
        self.action = "unknown"
        self.code = ""
        self.info: Any = None  # service.context.RequestInfo once the action is known
        self.source_ip = ""
        self.user_agent = ""
        self.relayed = False  # answered by the control worker (edge/control_relay.py), which counts it

    def from_call(self, call: Any) -> None:
        """The API and ``RequestInfo`` of an audited call (success or refusal)."""
        if call is not None:
            self.api = call.service
            self.info = call.info
            if call.error_code:
                self.code = call.error_code


_muted = False  # the worker's warm-up requests (edge/warmup.py): nobody's calls, neither counted nor logged


@contextmanager
def muted() -> Iterator[None]:
    """While a worker warms up before listening: its synthetic requests are not counted or logged."""
    global _muted
    _muted = True
    try:
        yield
    finally:
        _muted = False


def finished(outcome: Outcome, status: int) -> None:
    """Count and (when the access log is on) log one answered request. Label values are the
    API, the model's action name (``unknown`` when the request named none we serve), status,
    error code, endpoint type and serving Region — never caller data."""
    if _muted:
        return
    seconds = time.perf_counter() - outcome.started
    info = outcome.info
    action = info.action if info is not None else outcome.action
    etype = info.endpoint_type if info is not None else ""
    region = info.serving_region if info is not None else ""
    metrics.request_done(outcome.api, action, status, outcome.code, etype, region, seconds)
    if access_log.isEnabledFor(logging.INFO):
        _log(outcome, status, action, etype, region, seconds)


def _log(outcome: Outcome, status: int, action: str, etype: str, region: str, seconds: float) -> None:
    info = outcome.info
    caller = getattr(info, "caller", None) if info is not None else None
    fields = {
        "event": "request",
        "request_id": outcome.request_id,
        "api": outcome.api,
        "action": action,
        "status": status,
        "error_code": outcome.code or None,
        "latency_ms": round(seconds * 1000, 3),
        "endpoint_type": etype or None,
        "region": region or None,
        "caller_arn": getattr(caller, "arn", None),
        "source_ip": (info.source_ip if info is not None and info.source_ip else outcome.source_ip) or None,
        "user_agent": ((info.user_agent if info is not None else "") or outcome.user_agent[:1024]) or None,
    }
    access_log.info("%s %s %s %s %d %s %.1fms", outcome.request_id, outcome.api, action, fields["caller_arn"] or "-",
                    status, outcome.code or "-", seconds * 1000, extra={"fields": fields})
