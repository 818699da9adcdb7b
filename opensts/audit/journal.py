"""The audit journal: a durable outbox of CloudTrail records, written with group commit.

Every record goes into ``DATA_DIR/audit/journal.db`` (SQLite, WAL, ``synchronous=FULL``: a
commit is on disk when it returns). A call that issues credentials waits for its record's
commit before the credentials leave the server, so ``kill -9`` at any moment never leaves
issued credentials without their record. One writer thread per process drains everything
queued since its last commit into one transaction, so under load many records share one fsync.
Other records are queued without waiting. Delivery to the trails (``delivery.py``) and
LookupEvents read from here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Journal", "SCHEMA"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trail_region TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    username TEXT,
    access_key_id TEXT,
    read_only INTEGER,
    resources TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_events_lookup ON events (account_id, trail_region, seq);
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
"""
_MAX_BATCH = 2000


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _row(trail_region: str, account: str, record: dict[str, Any], when: int) -> tuple[Any, ...]:
    ident = record.get("userIdentity") or {}
    username = ident.get("userName") or (ident.get("arn") or "").rsplit("/", 1)[-1] or None
    resources = record.get("resources")
    return (trail_region, account, when, record["eventID"], record["eventName"], record["eventSource"], username,
            ident.get("accessKeyId"), int(bool(record.get("readOnly"))),
            orjson.dumps(resources).decode() if resources else "[]", orjson.dumps(record).decode())


class Journal:
    """Append records durably; ``await journal.write(events, durable=True)`` returns after fsync."""

    def __init__(self, folder: Path, *, writer: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / "journal.db"
        conn = connect(self.path)
        conn.executescript(SCHEMA)
        conn.close()
        if not writer:
            return
        self._queue: queue.SimpleQueue[tuple[list[tuple[Any, ...]], concurrent.futures.Future[None] | None]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._writer, name="audit-journal", daemon=True)
        self._thread.start()

    def submit(self, events: list[tuple[str, str, dict[str, Any]]], durable: bool,
               when: int = 0) -> concurrent.futures.Future[None] | None:
        rows = [_row(region, account, record, when) for region, account, record in events]
        future: concurrent.futures.Future[None] | None = concurrent.futures.Future() if durable else None
        self._queue.put((rows, future))
        return future

    async def write(self, events: list[tuple[str, str, dict[str, Any]]], *, durable: bool, when: int = 0) -> None:
        future = self.submit(events, durable, when)
        if future is not None:
            await asyncio.wrap_future(future)

    def _writer(self) -> None:
        conn = connect(self.path)
        while True:
            items = [self._queue.get()]
            while len(items) < _MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [row for batch, _ in items for row in batch]
            durable = any(future is not None for _, future in items)
            try:
                # Only batches that carry a credential-issuing call's record pay for an fsync.
                conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO events (trail_region, account_id, event_time, event_id, event_name, event_source, "
                    "username, access_key_id, read_only, resources, body) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:  # the records are not durable: fail the waiting calls
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                for _, future in items:
                    if future is not None:
                        future.set_exception(exc)
                continue
            for _, future in items:
                if future is not None:
                    future.set_result(None)
