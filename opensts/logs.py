"""The server's log output: the ``opensts.*`` logger hierarchy, as text or as JSON lines.

``text`` (the default) prints what the server always printed — the message alone, warnings and
errors on stderr — and no line per request (a terminal running ``make serve`` stays readable).
``json`` prints one JSON object per line on stderr for every event: each answered request
(``opensts.access``, fields in :data:`ACCESS_FIELDS`), start, stop, worker restarts, delivery
failures and config problems. Every record has ``time``, ``level``, ``logger`` and ``event``
(or ``message``); structured fields come from ``extra={"fields": {...}}``.

No secret is ever passed to a logger: request records carry only the fields below (no
parameters, no headers but the user agent), and the start-up banner's one-time administrator
secret is not logged in json mode (it is in the 0600 credentials file).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["configure", "JsonFormatter", "ACCESS_FIELDS", "event", "json_mode", "FORMATS"]

FORMATS = ("text", "json")

#: The fields of every request record in json mode (docs/OPERATIONS.md).
ACCESS_FIELDS = ("request_id", "api", "action", "status", "error_code", "latency_ms", "endpoint_type", "region",
                 "caller_arn", "source_ip", "user_agent")

_json = False


def json_mode() -> bool:
    return _json


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC, ms), level, logger, event or message,
    the record's ``fields``, and the exception's type (never its traceback: a driver's message
    could quote a statement)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if "event" not in out:
            out["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        return json.dumps(out, separators=(",", ":"), default=str)


class _TextFormatter(logging.Formatter):
    """Today's text output: the message alone (what Python printed before any logging was set up)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record)


def configure(fmt: str = "text", *, access: bool | None = None, stream: Any = None) -> None:
    """Set up the ``opensts`` loggers once, in the parent before it forks (the workers and the
    delivery process inherit it). ``access``: one line per request (default: on in json mode)."""
    global _json
    _json = fmt == "json"
    root = logging.getLogger("opensts")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if _json else _TextFormatter("%(message)s"))
    root.addHandler(handler)
    root.propagate = False
    root.setLevel(logging.INFO if _json else logging.WARNING)
    access_on = _json if access is None else access
    logging.getLogger("opensts.access").setLevel(logging.INFO if access_on else logging.WARNING)
    if access_on and not _json:
        root.setLevel(logging.INFO)
    _quiet_uvicorn()


def _quiet_uvicorn() -> None:
    """uvicorn's own error logger goes through ours in json mode (one format on stderr)."""
    if _json:
        for name in ("uvicorn", "uvicorn.error"):
            lg = logging.getLogger(name)
            lg.handlers = list(logging.getLogger("opensts").handlers)
            lg.propagate = False


def event(logger: logging.Logger, name: str, text: str, level: int = logging.INFO, **fields: Any) -> None:
    """A server event: in json mode ``{"event": name, **fields}``; in text mode ``text`` (printed
    only at warning and above, as before, unless ``text`` is empty)."""
    if _json:
        logger.log(level, text, extra={"fields": {"event": name, **fields}})
    elif text:
        logger.log(level, text)
