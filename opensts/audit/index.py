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
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from opensts.audit.event_index import EVENTS_COLUMNS, EVENTS_SCHEMA, event_keys, insert_events, pack, run_script
from opensts.audit.events import extended_request_id_at
from opensts.audit.journal import END_MARK, LOG_GLOB, encode_line, valid_end
from opensts.fastrand import request_id
from opensts.private_files import private_opener, private_sqlite

__all__ = ["SCHEMA", "connect", "index_path", "ingest", "ingest_lock"]

#: ``PRAGMA user_version`` of this layout. 0: the layout before (record JSON as text, a column per
#: attribute), converted in place by ``connect``.
VERSION = 2
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
    """The index row of one journal line (see ``journal.encode_line``) — ``(trail Region,
    account, epoch seconds, lookup keys, packed record, activity)`` — or None for a torn or
    foreign line: never a record of ours that a caller was promised."""
    meta, tab, body = line.partition(b"\t")
    try:
        if not tab:  # the format before META (logs left by an older version)
            region, account, when, record = orjson.loads(line)
            return _row(encode_line(region, account, when, record))
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
        return (region, account, int(when), keys, pack(body),
                _activity(region, account, int(when), source, name, entity[0] if entity else None, body))
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


def _complete(body: bytes, when_ms: Any, when: int) -> tuple[str, bytes]:
    """A deferred record (events.build_events) with its eventID and ExtendedRequestId made, in
    their places (same key order: orjson keeps it)."""
    record = orjson.loads(body)
    event_id = record["eventID"] = request_id()
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
    latest: dict[tuple[str, str, str, str], tuple[str, str, str, str, int, str]] = {}
    for row in rows:
        activity = row[6]
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
    own = conn is None
    conn = conn or connect(index_path(folder))
    total = 0
    try:
        with ingest_lock(folder):
            for log in sorted(folder.glob(LOG_GLOB)):
                total += _ingest_one(conn, log)
    finally:
        if own:
            conn.close()
    return total


def _ingest_one(conn: sqlite3.Connection, log: Path) -> int:
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
        rows = [r for r in map(_row, lines) if r is not None]
        skipped = len(lines) - lines.count(END_MARK.strip()) - len(rows)
        if skipped:  # counted, never quoted: a line may hold anything
            _log.warning("skipped %d unreadable journal lines in %s", skipped, log.name)
        if end:
            conn.execute("BEGIN IMMEDIATE")
            _insert(conn, [(seq, *row) for seq, row in enumerate(rows, _next_seq(conn))])
            conn.execute("INSERT OR REPLACE INTO ingested (log, offset) VALUES (?, ?)", (log.name, offset + end))
            conn.execute("COMMIT")
        finished = not alive or (seen + data[max(0, end - len(END_MARK)):end]).endswith(END_MARK)
        if not (finished and not data[end:].strip(b"\0") and _only_zeros_left(fh)):
            return len(rows)
    log.unlink()  # finished, and everything in it is indexed
    conn.execute("DELETE FROM ingested WHERE log = ?", (log.name,))
    return len(rows)


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
