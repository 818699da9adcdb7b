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
import json
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

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
    body TEXT NOT NULL,
    batch INTEGER,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_events_lookup ON events (account_id, trail_region, event_time);
CREATE INDEX IF NOT EXISTS ix_events_pending ON events (delivered, batch);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    trail_region TEXT NOT NULL,
    key TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
"""
_MAX_BATCH = 2000


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _row(trail_region: str, account: str, record: dict[str, Any]) -> tuple[Any, ...]:
    ident = record.get("userIdentity") or {}
    from datetime import datetime

    when = int(datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").timestamp()) if record.get("eventTime") else 0
    username = ident.get("userName") or (ident.get("arn") or "").rsplit("/", 1)[-1] or None
    resources = json.dumps(record.get("resources") or [])
    return (trail_region, account, when, record["eventID"], record["eventName"], record["eventSource"], username,
            ident.get("accessKeyId"), int(bool(record.get("readOnly"))), resources,
            json.dumps(record, separators=(",", ":")))


class Journal:
    """Append records durably; ``await journal.write(events, durable=True)`` returns after fsync."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / "journal.db"
        conn = connect(self.path)
        conn.executescript(SCHEMA)
        conn.close()
        self._queue: queue.SimpleQueue[tuple[list[tuple[Any, ...]], concurrent.futures.Future[None] | None]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._writer, name="audit-journal", daemon=True)
        self._thread.start()

    def submit(self, events: list[tuple[str, str, dict[str, Any]]], durable: bool) -> concurrent.futures.Future[None] | None:
        rows = [_row(region, account, record) for region, account, record in events]
        future: concurrent.futures.Future[None] | None = concurrent.futures.Future() if durable else None
        self._queue.put((rows, future))
        return future

    async def write(self, events: list[tuple[str, str, dict[str, Any]]], *, durable: bool) -> None:
        future = self.submit(events, durable)
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
            try:
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
