"""CloudTrail's LookupEvents over the audit journal: the caller's account, the Region's trail
(the global endpoint's and IAM's events are in us-east-1's), newest first, one attribute filter,
a time range and pagination — as ``aws cloudtrail lookup-events`` expects.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from opensts.audit.index import connect, index_path, ingest

__all__ = ["lookup_events", "LookupError_", "ATTRIBUTES"]

ATTRIBUTES = {
    "EventId": "event_id",
    "EventName": "event_name",
    "ReadOnly": "read_only",
    "Username": "username",
    "EventSource": "event_source",
    "AccessKeyId": "access_key_id",
    "ResourceType": None,
    "ResourceName": None,
}
_DEFAULT_WINDOW = 90 * 24 * 3600


class LookupError_(Exception):  # noqa: N801 - distinct from the builtin LookupError
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": seq}).encode()).decode()


def _from_token(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["before"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LookupError_("InvalidNextTokenException", "Invalid NextToken.") from exc


def lookup_events(folder: Path, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
    """Newest first; records still in the journal logs are indexed first, so a call is visible
    as soon as it returned."""
    where, args = ["account_id = ?", "trail_region = ?"], [account, region]
    now = time.time()
    start, end = params.get("StartTime", now - _DEFAULT_WINDOW), params.get("EndTime", now)
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or start > end:
        raise LookupError_("InvalidTimeRangeException", "Start time must be earlier than end time.")
    where += ["+event_time >= ?", "+event_time <= ?"]
    args += [int(start), int(end)]
    attrs = params.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise LookupError_("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    for attr in attrs:
        key, value = attr.get("AttributeKey"), attr.get("AttributeValue")
        if key not in ATTRIBUTES or not isinstance(value, str):
            raise LookupError_("InvalidLookupAttributesException", f"Invalid lookup attribute key: {key}")
        column = ATTRIBUTES[key]
        if column == "read_only":
            where.append("read_only = ?")
            args.append(1 if value.lower() == "true" else 0)
        elif column:
            where.append(f"{column} = ?")
            args.append(value)
        else:
            field = "type" if key == "ResourceType" else "ARN"
            where.append("resources LIKE ?")
            args.append(f'%"{field}":{json.dumps(value)}%')
    size = params.get("MaxResults", 50)
    if not isinstance(size, int) or not 1 <= size <= 50:
        raise LookupError_("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    if params.get("NextToken"):
        where.append("seq < ?")
        args.append(_from_token(str(params["NextToken"])))
    sql = f"SELECT seq, body FROM events WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?"  # noqa: S608 - fixed columns
    conn = connect(index_path(folder))
    try:
        ingest(folder, conn)
        rows = conn.execute(sql, [*args, size + 1]).fetchall()
    except sqlite3.Error as exc:
        raise LookupError_("InternalFailure", "The trail could not be read.") from exc
    finally:
        conn.close()
    out: dict[str, Any] = {"Events": [_event(json.loads(body)) for _, body in rows[:size]]}
    if len(rows) > size:
        out["NextToken"] = _token(rows[size - 1][0])
    return out


def _event(record: dict[str, Any]) -> dict[str, Any]:
    ident = record.get("userIdentity") or {}
    from datetime import datetime, timezone

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
