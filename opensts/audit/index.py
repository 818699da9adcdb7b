"""The audit index: the journal logs ingested into SQLite for LookupEvents and delivery.

Ingestion reads each log from the offset it reached last time up to its last complete line (the
zero-filled rest of a segment is not data, see journal.py) and inserts those records in the same
transaction that advances the offset, so every record is indexed exactly once, whoever ingests
(the delivery process, or LookupEvents) and whenever. A log that is fully ingested and finished
(it ends with the end mark, or its writer process is gone) is removed. One ingester at a time
(an exclusive file lock).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from opensts.audit.event_index import (BLOCK_EVENTS, EVENTS_COLUMNS, EVENTS_SCHEMA, event_keys, insert_blocks,
                                      insert_events, pack, run_script)
from opensts.audit.events import extended_request_id_at
from opensts.audit.journal import END_MARK, LOG_GLOB, encode_line, valid_end
from opensts.fastrand import request_id
from opensts.private_files import private_opener, private_sqlite

__all__ = ["SCHEMA", "connect", "index_path", "ingest", "ingest_some", "ingest_lock", "insert_parsed"]

#: ``PRAGMA user_version`` of this layout. 0: the first layout (record JSON as text, a column per
#: attribute), converted in place by ``connect``; 2: events stored alone only (still read: version
#: 3 only adds the blocks table).
VERSION = 3
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,{EVENTS_COLUMNS});
{EVENTS_SCHEMA}
-- Delivery claims contiguous ranges of seq (a batch); each (account, Region) in a batch is one
-- trail file (a part), delivered independently of the others.
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_parts (
    batch_id INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    trail_region TEXT NOT NULL,
    key TEXT,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, account_id, trail_region)
);
CREATE INDEX IF NOT EXISTS ix_parts_pending ON batch_parts (delivered);
CREATE TABLE IF NOT EXISTS ingested (
    log TEXT PRIMARY KEY,
    offset INTEGER NOT NULL
);
-- The access advisor's source (activity.py): each (service, action, entity)'s latest call.
CREATE TABLE IF NOT EXISTS activity (
    account_id TEXT NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    entity TEXT NOT NULL,
    last INTEGER NOT NULL,
    trail_region TEXT NOT NULL,
    PRIMARY KEY (account_id, event_source, event_name, entity)
) WITHOUT ROWID;
"""
_CHUNK = 8 << 20
_log = logging.getLogger("opensts.audit")


def index_path(folder: Path) -> Path:
    return folder / "index.db"


def connect(path: Path, *, prepare: bool = True) -> sqlite3.Connection:
    """A connection to the index; ``prepare``: create the file (0600) and its tables first (an
    index of the layout before is converted, see ``_upgrade``).

    A process that already holds a connection to the file must open more with ``prepare=False``:
    preparing opens and closes the file itself, and closing any descriptor of a file drops every
    POSIX lock the process holds on it — SQLite's included (a corrupt index, seen here)."""
    if prepare:
        private_sqlite(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: the key index's pages, where ingestion inserts
    if prepare:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:
            _prepare(conn)
    else:
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    """Create the tables, or convert an index of the layout before, once (whoever comes first)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 2:
            run_script(conn, EVENTS_SCHEMA)  # the blocks table; every event so far stays as it is
            conn.execute(f"PRAGMA user_version = {VERSION}")
        if conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
            if "event_name" in columns:
                conn.execute("DROP INDEX IF EXISTS ix_events_lookup")
                conn.execute("ALTER TABLE events RENAME TO events_v1")
            run_script(conn, SCHEMA)
            if "event_name" in columns:
                _upgrade(conn)
            conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _upgrade(conn: sqlite3.Connection) -> None:
    """Convert the events of the layout before (same seqs: batches and parts stay valid)."""
    after = -(2**63)
    while True:
        old = conn.execute("SELECT seq, trail_region, account_id, event_time, event_id, event_name, event_source, "
                           "username, access_key_id, read_only, resources, body FROM events_v1 WHERE seq > ? "
                           "ORDER BY seq LIMIT 5000", (after,)).fetchall()
        if not old:
            break
        after = old[-1][0]
        rows = []
        for seq, region, account, when, event_id, name, source, username, key_id, read_only, resources, body in old:
            try:
                parsed = orjson.loads(resources or "[]")
            except orjson.JSONDecodeError:
                parsed = []
            keys = event_keys(account, region, event_id, name, source, username, key_id, bool(read_only), parsed)
            rows.append((seq, region, account, when, keys, pack(body.encode() if type(body) is str else body),
                         _activity(region, account, when, source, name, None, body)))
        _insert(conn, rows)
    conn.execute("DROP TABLE events_v1")


@contextmanager
def ingest_lock(folder: Path, *, blocking: bool = True) -> Iterator[bool]:
    with open(folder / "ingest.lock", "a+", opener=private_opener) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def _row(line: bytes) -> tuple[Any, ...] | None:
    """The row of one journal line for an event stored alone — ``(trail Region, account, epoch
    seconds, lookup keys, packed record, activity)`` — or None (see ``_parse``)."""
    parsed = _parse(line)
    return None if parsed is None else (*parsed[:4], pack(parsed[4]), parsed[5])


def _parse(line: bytes) -> tuple[Any, ...] | None:
    """One journal line (see ``journal.encode_line``) read — ``(trail Region, account, epoch
    seconds, lookup keys, record JSON, activity)`` — or None for a torn or foreign line: never a
    record of ours that a caller was promised."""
    meta, tab, body = line.partition(b"\t")
    try:
        if not tab:  # the format before META (logs left by an older version)
            region, account, when, record = orjson.loads(line)
            return _parse(encode_line(region, account, when, record))
        region, account, when, event_id, name, source, username, key_id, read_only, resources, *rest = \
            orjson.loads(meta)
        entity = rest[:1]
        if event_id is None:  # a deferred record: its identifiers are made now, once (exactly-once ingestion)
            event_id, body = _complete(body, rest[1] if len(rest) > 1 else 0, int(when))
        row = (region, account, int(when), event_id, name, source, username, key_id)
        if not _storable(row):
            return None
        body.decode()  # text, as LookupEvents and the trail files need it (UnicodeDecodeError: skipped)
        keys = event_keys(account, region, event_id, name, source, username, key_id, bool(read_only), resources)
        return (region, account, int(when), keys, body,
                _activity(region, account, int(when), source, name, entity[0] if entity else None, body))
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


#: Where a deferred record's identifiers go. ``events._build_events`` writes ``eventID`` right
#: after ``requestID`` and before ``readOnly``, and STS's ``additionalEventData`` right before
#: ``requestID``; nothing a caller controls follows them (a caller's quote is always escaped, so
#: these bytes cannot come from inside a string), so the last match is the record's own.
_READ_ONLY = b'"readOnly":'
_EVENT_ID = b'"eventID":null,' + _READ_ONLY
_EXTRA = re.compile(rb'"ExtendedRequestId":null,"RequestDetails":\{"endpointType":"[a-z-]*",'
                    rb'"awsServingRegion":"([a-z0-9-]*)"\}\},"requestID":"[^"\\]*",')
_EXTRA_HEAD = b'"ExtendedRequestId":null,'
_EXTRA_REACH = 512  # the extra data, requestID included, is shorter than this


def _complete(body: bytes, when_ms: Any, when: int) -> tuple[str, bytes]:
    """A deferred record (events.build_events) with its eventID and ExtendedRequestId made, in
    their places: spliced into the bytes where they are found exactly where the builder puts them
    (≈ 1 µs), else by parsing and re-encoding the record (same key order: orjson keeps it)."""
    event_id = request_id()
    at = body.rfind(_EVENT_ID)
    if at < 0:
        return _complete_parsed(body, when_ms, when, event_id)
    head = body[:at]
    extra_at = head.rfind(_EXTRA_HEAD, max(0, at - _EXTRA_REACH))
    if extra_at >= 0:
        found = _EXTRA.fullmatch(head, extra_at)
        if found is None:
            return _complete_parsed(body, when_ms, when, event_id)
        ms = when_ms if type(when_ms) is int and when_ms > 0 else when * 1000
        extended = extended_request_id_at(found[1].decode(), ms).encode()
        head = b"".join((head[:extra_at], b'"ExtendedRequestId":"', extended, b'",',
                         head[extra_at + len(_EXTRA_HEAD):]))
    rest = body[at + len(_EVENT_ID) - len(_READ_ONLY):]  # from "readOnly": on
    return event_id, b"".join((head, b'"eventID":"', event_id.encode(), b'",', rest))


def _complete_parsed(body: bytes, when_ms: Any, when: int, event_id: str) -> tuple[str, bytes]:
    record = orjson.loads(body)
    record["eventID"] = event_id
    extra = record.get("additionalEventData")
    if type(extra) is dict and "ExtendedRequestId" in extra and extra["ExtendedRequestId"] is None:
        details = extra.get("RequestDetails") or {}
        ms = when_ms if type(when_ms) is int and when_ms > 0 else when * 1000
        extra["ExtendedRequestId"] = extended_request_id_at(str(details.get("awsServingRegion", "")), ms)
    return event_id, orjson.dumps(record)


def _activity(region: str, account: str, when: int, source: str, name: str, entity: Any,
              body: bytes | str) -> tuple[str, str, str, str, int, str] | None:
    """The access advisor's row of one event: the role behind a session, else the caller's ARN
    (from the record when the journal line predates the entity in META); None without one."""
    if entity is None:
        try:
            ident = orjson.loads(body).get("userIdentity") or {}
            issuer = (ident.get("sessionContext") or {}).get("sessionIssuer") or {}
            entity = issuer["arn"] if issuer.get("arn") is not None else ident.get("arn")
        except (orjson.JSONDecodeError, AttributeError):
            return None
    return (account, source, name, entity, when, region) if type(entity) is str and entity else None


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert numbered rows ``(seq, region, account, when, keys, packed, activity)``."""
    insert_events(conn, (row[:6] for row in rows))
    _latest_activity(conn, [row[6] for row in rows])


def _latest_activity(conn: sqlite3.Connection, activities: list[tuple[str, str, str, str, int, str] | None]) -> None:
    """Record each (account, service, action, entity)'s latest call of these (access advisor)."""
    latest: dict[tuple[str, str, str, str], tuple[str, str, str, str, int, str]] = {}
    for activity in activities:
        if activity is not None:
            seen = latest.get(activity[:4])
            if seen is None or activity[4] >= seen[4]:
                latest[activity[:4]] = activity
    conn.executemany(
        "INSERT INTO activity (account_id, event_source, event_name, entity, last, trail_region) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT DO UPDATE SET trail_region = CASE WHEN excluded.last >= last THEN excluded.trail_region "
        "ELSE trail_region END, last = max(last, excluded.last)", list(latest.values()))


def _storable(row: tuple[Any, ...]) -> bool:
    """The columns SQLite can bind, of the types LookupEvents reads back: a foreign or corrupt line
    must be skipped, not stop ingestion (and with it every LookupEvents) for good."""
    region, account, when, event_id, name, source, username, key_id = row[:8]
    return (all(type(v) is str for v in (region, account, event_id, name, source))
            and all(v is None or type(v) is str for v in (username, key_id)) and -(2**63) <= when < 2**63)


def _alive(log: Path) -> bool:
    try:
        pid = int(log.name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ingest(folder: Path, conn: sqlite3.Connection | None = None) -> int:
    """Index every complete record not indexed yet; returns how many. Takes the ingest lock."""
    return ingest_some(folder, conn)[0]


def ingest_some(folder: Path, conn: sqlite3.Connection | None = None) -> tuple[int, bool]:
    """Index the complete records not indexed yet, at most ``_CHUNK`` bytes of each log:
    (how many, whether some log has more than that waiting)."""
    own = conn is None
    conn = conn or connect(index_path(folder))
    total, more = 0, False
    try:
        with ingest_lock(folder):
            for log in sorted(folder.glob(LOG_GLOB)):
                count, full = _ingest_one(conn, log)
                total, more = total + count, more or full
    finally:
        if own:
            conn.close()
    return total, more


def _ingest_one(conn: sqlite3.Connection, log: Path) -> tuple[int, bool]:
    row = conn.execute("SELECT offset FROM ingested WHERE log = ?", (log.name,)).fetchone()
    offset = row[0] if row else 0
    alive = _alive(log)
    back = min(offset, len(END_MARK))  # re-read the tail of what was ingested: is it the end mark?
    with open(log, "rb") as fh:
        fh.seek(offset - back)
        seen = fh.read(back)
        data = _read_written(fh, _CHUNK)
        end = valid_end(data)
        lines = data[:end].splitlines()
        rows = [r for r in map(_parse, lines) if r is not None]
        skipped = len(lines) - lines.count(END_MARK.strip()) - len(rows)
        if skipped:  # counted, never quoted: a line may hold anything
            _log.warning("skipped %d unreadable journal lines in %s", skipped, log.name)
        if end:
            conn.execute("BEGIN IMMEDIATE")
            insert_parsed(conn, rows)
            conn.execute("INSERT OR REPLACE INTO ingested (log, offset) VALUES (?, ?)", (log.name, offset + end))
            conn.execute("COMMIT")
        finished = not alive or (seen + data[max(0, end - len(END_MARK)):end]).endswith(END_MARK)
        if not (finished and not data[end:].strip(b"\0") and _only_zeros_left(fh)):
            return len(rows), len(data) >= _CHUNK
    log.unlink()  # finished, and everything in it is indexed
    conn.execute("DELETE FROM ingested WHERE log = ?", (log.name,))
    return len(rows), False


def insert_parsed(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert parsed rows ``(region, account, when, keys, record JSON, activity)`` as blocks of one
    account, Region and minute each, numbered on from the next seq. Rows of different trails are
    regrouped (a trail's own order is kept within a minute): LookupEvents and the trail files are
    per trail, and a block of one minute is wholly past the retention at most a minute after its
    first event (the retention drops whole blocks)."""
    trails: dict[tuple[str, str, int], list[tuple[Any, ...]]] = {}
    for row in rows:
        trails.setdefault((row[0], row[1], row[2] // 60), []).append(row)
    blocks, seq = [], _next_seq(conn)
    for trail in trails.values():
        for i in range(0, len(trail), BLOCK_EVENTS):
            chunk = trail[i:i + BLOCK_EVENTS]
            blocks.append((seq, [row[:5] for row in chunk]))
            seq += len(chunk)
    insert_blocks(conn, blocks)
    _latest_activity(conn, [row[5] for row in rows])


def _next_seq(conn: sqlite3.Connection) -> int:
    """The seq the next event gets (never one used before, as AUTOINCREMENT promises)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    top = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    return max(row[0] if row else 0, top or 0) + 1


def _read_written(fh: Any, limit: int, block: int = 256 << 10) -> bytes:
    """What was written from the current position: up to the first NUL (the never-written,
    zero-filled rest of a segment), EOF, or ``limit`` bytes, reading no further than needed.
    The position is left after the bytes read (a NUL found is included in what was read)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = fh.read(min(block, limit - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if b"\0" in chunk:
            break
    return b"".join(parts)


def _only_zeros_left(fh: Any, block: int = 1 << 20) -> bool:
    """True when nothing but NUL bytes remains from the current position to EOF."""
    while True:
        chunk = fh.read(block)
        if not chunk:
            return True
        if chunk.strip(b"\0"):
            return False
