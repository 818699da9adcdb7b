"""A fleet node's view of its Region's trail: the trail store read, incrementally, into a local index.

On a node of Region R, LookupEvents answers from R's *trail* — the files every node of every Region
delivered into R's trail store — not from this node's own journal. ``TrailReader`` runs in the
delivery process (never on the request path) and copies new trail files into the lookup index
(``DATA_DIR/audit/lookup.db``: the journal index's ``events`` columns, so ``lookup.py`` reads both
the same way):

* **exactly once**: a file's events and the file's key are committed in one transaction; events are
  unique by eventID (a file written twice, or the same record in two files, counts once).
* **newest first**: ``seq`` is ``eventTime`` (seconds) × 2²⁴ plus a counter within that second, so
  LookupEvents' ``ORDER BY seq DESC`` is time order whatever order the files arrive in.
* **bounded work per scan** (every ``interval`` seconds): one listing of the accounts
  (``AWSLogs/``), then per account only the files named for the last ``WINDOW`` seconds (the key
  names the minute of a file's first record: an S3 ``StartAfter`` in today's — and, after
  midnight, yesterday's — date folder); at most ``MAX_OBJECTS`` files are read. Every
  ``FULL_SCAN_EVERY`` seconds (and at start) the whole store is listed once instead, for files
  delivered late: a store back from an outage longer than ``WINDOW``, a node whose clock is off.
  A scan that hit ``MAX_OBJECTS`` is followed by another full one until it catches up. When the
  store answers again after an outage, the scans of the next ``AFTER_OUTAGE`` seconds reach back
  to the outage's start (the other nodes' outboxes arrive then, named for when they were written).
  Keys already read are remembered in the index (not re-read); they and the events are forgotten
  after the retention (90 days, LookupEvents' reach).

So a file appears in LookupEvents within ``interval`` (+ reading it) of being delivered, and a late
file within ``FULL_SCAN_EVERY``.
"""

from __future__ import annotations

import gzip
import logging
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from opensts.audit.event_index import (EVENTS_COLUMNS, EVENTS_SCHEMA, MAX_INDEX_BYTES, bound, insert_events,
                                      lookup_key, run_script)
from opensts.audit.index import _row
from opensts.audit.journal import encode_line
from opensts.audit.stores import ObjectError, TrailStore
from opensts.private_files import private_sqlite

__all__ = ["TrailReader", "connect_lookup", "lookup_index_path", "WINDOW", "FULL_SCAN_EVERY", "MAX_OBJECTS",
           "AFTER_OUTAGE"]

log = logging.getLogger("opensts.audit")

WINDOW = 15 * 60
AFTER_OUTAGE = 120  # seconds after the store returns during which the window reaches back to the outage's start
FULL_SCAN_EVERY = 10 * 60
MAX_OBJECTS = 500
RETENTION_SECONDS = 90 * 24 * 3600
_SECOND = 1 << 24  # seq values per second of eventTime
_CHUNK = 500  # keys checked against the index at once

#: ``PRAGMA user_version`` of this layout; a lookup index of another is dropped and read again
#: from the trail store (it holds nothing else), except version 2, which only lacks the (here
#: unused) blocks table that LookupEvents' query reads.
LOOKUP_VERSION = 3
LOOKUP_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,{EVENTS_COLUMNS});
{EVENTS_SCHEMA}
-- trail files read (their events are in events), by the minute their name gives
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    key_time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_objects_time ON objects (key_time);
"""
_NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json\.gz")


def lookup_index_path(audit_folder: Path) -> Path:
    return audit_folder / "lookup.db"


def connect_lookup(path: Path) -> sqlite3.Connection:
    private_sqlite(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    if conn.execute("PRAGMA user_version").fetchone()[0] != LOOKUP_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 2:
                run_script(conn, EVENTS_SCHEMA)
                conn.execute(f"PRAGMA user_version = {LOOKUP_VERSION}")
            if conn.execute("PRAGMA user_version").fetchone()[0] != LOOKUP_VERSION:
                for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                    conn.execute(f'DROP TABLE "{table}"')  # noqa: S608 - names of the file's own tables
                run_script(conn, LOOKUP_SCHEMA)
                conn.execute(f"PRAGMA user_version = {LOOKUP_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn


def _key_time(key: str) -> int | None:
    """Epoch seconds of the minute a trail file's name gives; None for a name that is not a trail file's."""
    match = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return int(datetime.strptime(match[3], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc).timestamp())


class TrailReader:
    """Reads Region ``region``'s trail ``store`` into the lookup index at ``path``."""

    def __init__(self, store: TrailStore, region: str, path: Path, *, window: float = WINDOW,
                 full_every: float = FULL_SCAN_EVERY, max_objects: int = MAX_OBJECTS,
                 retention: float = RETENTION_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.store, self.region, self.path = store, region, path
        self.window, self.full_every, self.max_objects = window, full_every, max_objects
        self.retention, self.clock = retention, clock
        self.max_bytes = MAX_INDEX_BYTES
        self._full_at: float | None = None  # clock() of the last full scan
        self._catching_up = False
        self._failing = False
        self._down_since: float | None = None  # clock() of the first failed scan of an outage
        self._reach: tuple[float, float] | None = None  # after an outage: (list from, until when)
        self._pruned_at = 0.0
        self._unreadable: set[str] = set()

    def run_forever(self, interval: float) -> None:
        conn = connect_lookup(self.path)
        while True:
            try:
                self.scan(conn)
                if self._failing:
                    log.warning("trail store of %s readable again", self.region)
                self._failing = False
            except Exception as exc:  # noqa: BLE001 - the store is down: LookupEvents shows what was read
                if not self._failing:
                    log.warning("cannot read the trail store of %s (%s); retrying", self.region, type(exc).__name__)
                self._failing = True
            time.sleep(interval)

    def scan(self, conn: sqlite3.Connection | None = None, *, full: bool | None = None) -> int:
        """One scan (full when due, or when ``full``); returns how many new events were indexed."""
        own = conn is None
        conn = conn or connect_lookup(self.path)
        try:
            now = self.clock()
            if full is None:
                full = self._catching_up or self._full_at is None or now - self._full_at >= self.full_every
            if self._down_since is not None:  # coming back: other nodes deliver what waited, named back then
                self._reach = (self._down_since - self.window, now + AFTER_OUTAGE)
            try:
                added, read = self._read_new(conn, self._listed(now, full), now)
            except Exception:
                self._down_since = self._down_since or now
                raise
            self._down_since = None
            if full:
                self._full_at = now
            self._catching_up = read >= self.max_objects
            self._prune(conn, now)
            return added
        finally:
            if own:
                conn.close()

    def _listed(self, now: float, full: bool) -> Iterator[str]:
        """Keys to consider: the whole Region's trail, or the files named for the last ``window``."""
        for account in self.store.children("AWSLogs/"):
            if not re.fullmatch(r"\d{12}", account):
                continue
            base = f"AWSLogs/{account}/CloudTrail/{self.region}/"
            if full:
                yield from self.store.list(base)
                continue
            start = now - self.window
            if self._reach is not None and now < self._reach[1]:
                start = min(start, self._reach[0])
            since = datetime.fromtimestamp(start, tz=timezone.utc)
            day = since.date()
            while day <= datetime.fromtimestamp(now, tz=timezone.utc).date():
                prefix = f"{base}{day:%Y/%m/%d}/"
                after = f"{prefix}{account}_CloudTrail_{self.region}_{since:%Y%m%dT%H%MZ}" if day == since.date() else ""
                yield from self.store.list(prefix, after)
                day += timedelta(days=1)

    def _read_new(self, conn: sqlite3.Connection, keys: Iterable[str], now: float) -> tuple[int, int]:
        """Read the keys not read yet (at most ``max_objects``): (events added, files read)."""
        added = read = 0
        oldest = now - self.retention
        listed = iter(keys)
        while read < self.max_objects:
            batch = list(islice(listed, _CHUNK))
            if not batch:
                break
            chunk = [(k, t) for k in batch if (t := _key_time(k)) is not None and t >= oldest]
            known = _known(conn, [k for k, _t in chunk]) if chunk else set()
            for key, when in chunk:
                if key in known:
                    continue
                if read >= self.max_objects:
                    break
                added += self._read_one(conn, key, when)
                read += 1
        return added, read

    def _read_one(self, conn: sqlite3.Connection, key: str, when: int) -> int:
        """Index one file's events and remember its key, in one transaction."""
        try:
            data = self.store.get(key)  # a store error propagates: the scan ends, the key is not remembered
        except ObjectError as exc:  # this file only: skipped (tried again next time), the scan goes on
            if key not in self._unreadable and len(self._unreadable) < 10_000:  # said once, not every scan
                self._unreadable.add(key)
                log.warning("cannot read trail file %s (%s)", key, exc)
            return 0
        account = key.split("/")[1]
        rows = list(_rows(key, data, account, self.region))
        conn.execute("BEGIN IMMEDIATE")
        try:
            added = sum(_insert(conn, row) for row in rows)
            conn.execute("INSERT OR IGNORE INTO objects (key, key_time) VALUES (?, ?)", (key, when))
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        return added

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        """Forget events and keys older than the retention, once an hour."""
        if now - self._pruned_at < 3600:
            return
        self._pruned_at = now
        oldest = int(now - self.retention)
        bound(conn, droppable=2**63 - 1, older_than=oldest, max_bytes=self.max_bytes)
        conn.execute("DELETE FROM objects WHERE key_time < ?", (oldest - 86400,))


def _known(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    marks = ",".join("?" * len(keys))
    return {k for (k,) in conn.execute(f"SELECT key FROM objects WHERE key IN ({marks})", keys)}  # noqa: S608


def _rows(key: str, data: bytes, account: str, region: str) -> Iterator[tuple[Any, ...]]:
    """The index rows of one trail file's records (as the journal index makes them); a file or
    record that cannot be read is skipped and counted, never fatal to the scan."""
    try:
        records = orjson.loads(gzip.decompress(data))["Records"]
        if not isinstance(records, list):
            raise TypeError("Records is not a list")
    except (OSError, EOFError, zlib.error, orjson.JSONDecodeError, KeyError, TypeError):
        log.warning("skipped an unreadable trail file %s", key)
        return
    skipped = 0
    for record in records:
        row = _record_row(record, account, region)
        if row is None:
            skipped += 1
        else:
            yield row
    if skipped:
        log.warning("skipped %d unreadable records in trail file %s", skipped, key)


def _record_row(record: Any, account: str, region: str) -> tuple[Any, ...] | None:
    """``(index row, eventID)`` of one delivered record, or None."""
    try:
        when = int(datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
        row = _row(encode_line(region, account, when, record).rstrip(b"\n"))
    except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONEncodeError):
        return None
    return None if row is None else (row, record["eventID"])


def _insert(conn: sqlite3.Connection, found: tuple[Any, ...]) -> int:
    """Insert one event unless its eventID is indexed already (in its account's trail); 1 if inserted."""
    row, event_id = found
    region, account, when, keys, packed = row[:5]
    if conn.execute("SELECT 1 FROM event_keys WHERE k = ? LIMIT 1",
                    (lookup_key(account, region, "EventId", event_id),)).fetchone():
        return 0
    base = max(int(when), 0) * _SECOND
    top = conn.execute("SELECT MAX(seq) FROM events WHERE seq >= ? AND seq < ?", (base, base + _SECOND)).fetchone()[0]
    seq = base if top is None else top + 1
    if seq >= base + _SECOND:
        return 0  # 16 million events in one second of one trail: beyond any use
    insert_events(conn, [(seq, region, account, when, keys, packed)])
    return 1
