"""CloudTrail's LookupEvents over the audit journal: the caller's account, the Region's trail
(the global endpoint's and IAM's events are in us-east-1's), newest first, one attribute filter,
a time range and pagination — as ``aws cloudtrail lookup-events`` expects.

Where the events come from is a *source*, chosen once when a server starts (``audit/trail.py``):
a single server reads its own journal's index (``JournalIndex``: every call visible as soon as it
returned); a fleet node reads its Region's trail, every node's files, as the delivery process
copied them into the lookup index (``TrailIndex``, see trail_reader.py). Both have the same
``events`` columns and ``seq`` order (newest last), so the query below is the same.

Parameters arrive checked against botocore's model (``edge/cloudtrail_api.py``); what is left here
is LookupEvents' own rules. Attribute values match exactly (no SQL wildcards), and a record in the
index that cannot be read back is skipped, never fatal to the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sqlite3
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import orjson

from opensts.audit.event_index import ALL_EVENTS, Bodies, find, lookup_key, matches
from opensts.audit.index import connect, index_path, ingest
from opensts.audit.trail_reader import connect_lookup
from opensts.protocol.json_input import decode_json

log = logging.getLogger("opensts.audit")

__all__ = ["lookup_events", "LookupError_", "ATTRIBUTES", "LookupSource", "JournalIndex", "TrailIndex"]


class LookupSource(Protocol):
    def open(self) -> sqlite3.Connection:
        """A connection to an index with the ``events`` table, up to date as this source promises."""
        ...


class JournalIndex:
    """A single server's own journal: what is still in the logs is indexed first, so a call is
    visible as soon as it returned."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self) -> sqlite3.Connection:
        conn = connect(index_path(self.folder))
        try:
            ingest(self.folder, conn)
        except BaseException:
            conn.close()
            raise
        return conn


class TrailIndex:
    """A fleet node's view of its Region's trail, kept up to date by the delivery process's
    ``TrailReader`` (events appear within its scan interval of their delivery)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> sqlite3.Connection:
        return connect_lookup(self.path)

#: LookupEvents' attributes (botocore's LookupAttributeKey): each is a key of event_index.py.
ATTRIBUTES = ("EventId", "EventName", "ReadOnly", "Username", "EventSource", "AccessKeyId", "ResourceType",
              "ResourceName")
_DEFAULT_WINDOW = 90 * 24 * 3600
_MAX_SEQ = 2**63 - 1  # SQLite's INTEGER
_MAX_TOKEN_CHARS = 1000
_reported: set[int] = set()  # seqs of unreadable records already logged (bounded)


class LookupError_(Exception):  # noqa: N801 - distinct from the builtin LookupError
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": seq}).encode()).decode()


def _from_token(token: str) -> int:
    """The ``seq`` a NextToken of ours names; InvalidNextTokenException for anything else."""
    try:
        if len(token) > _MAX_TOKEN_CHARS:
            raise ValueError("too long")
        seq = decode_json(base64.urlsafe_b64decode(token.encode("ascii")))["before"]
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
        raise LookupError_("InvalidNextTokenException", "Invalid NextToken.") from exc
    if type(seq) is not int or not 0 <= seq <= _MAX_SEQ:
        raise LookupError_("InvalidNextTokenException", "Invalid NextToken.")
    return seq


def lookup_events(source: LookupSource, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
    """The account's events in ``region``'s trail, newest first, from ``source``: one range of
    the key index (event_index.py) — the filter's, or every event's — read backwards within the
    seq range of the time range, so the cost is the page, not the trail."""
    now = time.time()
    start, end = params.get("StartTime", now - _DEFAULT_WINDOW), params.get("EndTime", now)
    if start > end:
        raise LookupError_("InvalidTimeRangeException", "Start time must be earlier than end time.")
    attrs = params.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise LookupError_("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    attribute, value = (attrs[0]["AttributeKey"], attrs[0]["AttributeValue"]) if attrs else (None, "")
    key = lookup_key(account, region, *_attribute_key(attribute, value))
    size = params.get("MaxResults", 50)
    before = _from_token(params["NextToken"]) if params.get("NextToken") else _MAX_SEQ
    try:
        conn = source.open()
    except sqlite3.Error as exc:
        raise LookupError_("InternalFailure", "The trail could not be read.") from exc
    try:
        rows = find(conn, key, account, region, int(start), int(end), before, size + 1)
        bodies = Bodies(conn)
        events = [_readable(seq, bodies, body) for seq, body in rows[:size]]
    except sqlite3.Error as exc:
        raise LookupError_("InternalFailure", "The trail could not be read.") from exc
    finally:
        conn.close()
    out: dict[str, Any] = {"Events": [e for e in events if e is not None and matches(e, attribute, value)]}
    if len(rows) > size:
        out["NextToken"] = _token(rows[size - 1][0])
    return out


def _attribute_key(attribute: str | None, value: str) -> tuple[str, str]:
    """The (attribute, value) of the index key a filter reads: an exact match, never a pattern."""
    if attribute is None:
        return ALL_EVENTS, ""
    if attribute not in ATTRIBUTES:
        raise KeyError(attribute)
    if attribute == "ReadOnly":
        return attribute, "true" if value.lower() == "true" else "false"
    return attribute, value


def _readable(seq: int, bodies: Bodies, body: bytes | str) -> dict[str, Any] | None:
    """The event of one indexed record, or None (logged once per record, without its content)
    when the record cannot be read back: one bad record must not hide the rest of the trail."""
    try:
        return _event(orjson.loads(bodies.get(seq, body)))  # CloudTrailEvent stays json.dumps: ASCII-escaped
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, zlib.error):
        if seq not in _reported and len(_reported) < 10_000:
            _reported.add(seq)
            log.warning("skipped an unreadable audit record (index seq %d)", seq)
        return None


def _event(record: dict[str, Any]) -> dict[str, Any]:
    ident = record.get("userIdentity") or {}
    when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    event: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "true" if record.get("readOnly") else "false",
        "EventTime": when,
        "EventSource": record["eventSource"],
        "Resources": [{"ResourceType": r.get("type"), "ResourceName": r.get("ARN")} for r in record.get("resources") or []],
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if ident.get("accessKeyId"):
        event["AccessKeyId"] = ident["accessKeyId"]
    username = ident.get("userName") or (ident.get("arn") or "").rsplit("/", 1)[-1]
    if username:
        event["Username"] = username
    return event
