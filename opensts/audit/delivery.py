"""Delivery from the journal to the trails, asynchronously and exactly once.

Files are written as CloudTrail delivers them: gzip JSON ``{"Records": [...]}`` at
``AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz``
in the trail store of the record's trail Region (stores.py: a folder, default ``DATA_DIR/trail``,
or an S3-compatible bucket). UNIQUE is 16 characters of ``0-9a-z``: this node's id (node_id.py)
and the batch number, so that the nodes of a fleet delivering into one store never overwrite each
other's files.

Exactly once, even across crashes (kill -9 included) and a store that is down:
1. the records after the last batch are first *claimed* as a numbered batch — a fixed seq
   range — with one part per (account, Region) in it (one transaction), so a part's content never
   changes afterwards; the index's pending parts are the durable outbox;
2. each part's key is fixed (kept in the part) before it is written, so a retry — after a restart
   too — writes the same object (an overwrite is harmless);
3. the part is marked delivered. A crash between 2 and 3 rewrites the same file with the same
   content. A store that fails keeps its parts pending; they are retried with back-off (1 s
   doubling to ``MAX_BACKOFF``) and arrive when it returns. One process delivers at a time (an
   exclusive file lock).

Each Region's parts are delivered by their own thread (a lane), one at a time, oldest first, read
from the index ``PARTS_PER_ROUND`` at a time: a store that hangs (S3 calls time out within seconds,
stores.py) delays only its own Region, and the waiting records stay on disk, in the index, never
in memory (one part's records at a time: at most ``_BATCH``).
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import gzip
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from isal import igzip

from opensts import metrics
from opensts.audit.backlog import BacklogGauge
from opensts.audit.event_index import MAX_INDEX_BYTES, Bodies, bound
from opensts.audit.index import connect, index_path, ingest_some
from opensts.audit.stores import FolderStore, S3Store, TrailStore
from opensts.node_id import ALPHABET
from opensts.private_files import private_opener

__all__ = ["TrailStore", "FolderStore", "S3Store", "Delivery", "object_key", "MAX_BACKOFF"]

log = logging.getLogger("opensts.audit")
#: Records claimed into one batch (a part — one trail file — per account and Region in it): large
#: enough that files, fsyncs and index round trips are few under load (a part of 20,000 typical
#: records is ≈ 30 MB of JSON, ≈ 2 MB gzip'ed, built in memory one part at a time).
_BATCH = 20_000
#: Batches claimed per round at most: a backlog is claimed (cheap, in the index) well ahead of
#: the lanes, which deliver it without waiting for the next round.
_CLAIMS_PER_ROUND = 8
RETENTION_SECONDS = 90 * 24 * 3600  # what LookupEvents can see, as on AWS
PRUNE_EVERY = 60.0  # seconds between two bounds of the index
#: Longest wait between two attempts on a store that is down (seconds): a returning store gets
#: the records that waited within this (plus a delivery round).
MAX_BACKOFF = 8.0
PARTS_PER_ROUND = 50  # pending parts read from the index at a time
_MAX_PARTS = 5000  # parts one Region's lane delivers before the next round takes over
_LANES = 16  # Regions delivered to at the same time


def _base36(n: int, width: int) -> str:
    digits = ""
    while n:
        n, d = divmod(n, 36)
        digits = ALPHABET[d] + digits
    return digits.rjust(width, "0")


def object_key(account: str, region: str, node: str, batch_id: int, first_time: int) -> str:
    """The trail file of one part: named for the minute of its first record, unique by node and batch."""
    when = datetime.fromtimestamp(first_time, tz=timezone.utc)
    name = f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{node}{_base36(batch_id, 16 - len(node))}.json.gz"
    return f"AWSLogs/{account}/CloudTrail/{region}/{when:%Y/%m/%d}/{name}"


class Delivery:
    """The delivery loop of one data folder. ``node``: this node's id (node_id.py), in every key."""

    def __init__(self, folder: Path, default: TrailStore, per_region: Mapping[str, TrailStore] | None = None,
                 interval: float = 1.0, node: str = "00000000") -> None:
        self._folder = folder
        self._path = index_path(folder)
        self._default = default
        self._stores = dict(per_region or {})
        self._interval = interval
        self._node = node
        self._backoff: dict[str, float] = {}  # Region → monotonic time before which not to retry
        self._delay: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # Region → attempts failed since its store last answered
        self._running: dict[str, concurrent.futures.Future[int]] = {}  # Region → its delivery in progress
        self._queued = False  # the last round left a Region's parts to its running lane
        self._lanes = concurrent.futures.ThreadPoolExecutor(_LANES, thread_name_prefix="audit-deliver")
        self._pruned_at = 0.0
        self.retention = RETENTION_SECONDS
        self.max_bytes = MAX_INDEX_BYTES
        self._lock_path = folder / "delivery.lock"
        self._backlog = BacklogGauge()  # opensts_audit_delivery_backlog_* (audit/backlog.py)

    def store_for(self, region: str) -> TrailStore:
        return self._stores.get(region, self._default)

    @contextmanager
    def _exclusive(self, *, blocking: bool) -> Iterator[bool]:
        with open(self._lock_path, "a+", opener=private_opener) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False  # another process is delivering
                return
            yield True

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Deliver, holding the delivery lock for good (a second server on the same data folder
        waits here). A round takes everything journaled since the last one, one transaction
        and one trail file per account and Region, then the process waits ``interval``: under
        steady load a round's batch is the interval's records, so its index writes and files
        are few and large (a round every few milliseconds, as the load found them, cost the
        index a transaction, and the trail a file, per handful of records: most of the
        process's CPU). While a backlog is more than a round takes (a log's chunk, or the
        claims' cap, was reached), the next round starts at once: delivery is never capped by
        the interval. Rounds do not wait for a slow store (its lane backs off alone). Once
        ``stop`` is set (the server stops), one last round, waited for: what the journal holds is
        indexed, and delivered if the stores take it (else it waits in the outbox)."""
        stop = stop or threading.Event()
        with self._exclusive(blocking=True):
            conn = connect(self._path)
            while not stop.is_set():
                try:
                    busy = self._round(conn, wait=False)
                except Exception:  # noqa: BLE001 - keep delivering; the next round retries
                    log.exception("audit delivery round failed")
                    busy = False
                self._pause(busy, stop)
            self._round(conn, wait=True)

    def _pause(self, busy: bool, stop: threading.Event) -> None:
        """Between rounds: none after a round that left a backlog (taken at full speed); until a
        lane finishes (at most ``interval``) when a Region's parts wait for its running lane;
        else ``interval`` — or until ``stop`` is set."""
        if busy:
            time.sleep(0.005)  # yield the GIL to the lanes for a moment
            return
        running = [f for f in self._running.values() if not f.done()]
        if running and self._queued:
            concurrent.futures.wait(running, timeout=self._interval, return_when=concurrent.futures.FIRST_COMPLETED)
        else:
            stop.wait(self._interval)

    def deliver_once(self) -> int:
        """One round, waited for: claim and deliver pending records; returns how many records were delivered."""
        with self._exclusive(blocking=False) as mine:
            if not mine:
                return 0
            conn = connect(self._path)
            try:
                return self._round(conn, wait=True)
            finally:
                conn.close()

    def _round(self, conn: sqlite3.Connection, *, wait: bool) -> int:
        """Ingest, claim, and start each Region's delivery that is not running or backing off.
        Returns the records delivered (``wait``), else 1 when more is waiting than the round
        took (start the next round at once), 0 when it took everything."""
        _found, more = ingest_some(self._folder, conn)
        for _ in range(_CLAIMS_PER_ROUND):
            claimed = self._claim(conn)
            if claimed < _BATCH:
                break
        else:
            more = True
        self._backlog.measure(conn)
        now = time.monotonic()
        started = []
        self._queued = False
        for (region,) in conn.execute("SELECT DISTINCT trail_region FROM batch_parts WHERE delivered = 0").fetchall():
            running = self._running.get(region)
            if running is not None and not running.done():
                self._queued = True  # its parts wait for its lane: the next round when a lane ends
                continue
            if self._backoff.get(region, 0) > now:
                continue
            self._running[region] = self._lanes.submit(self._deliver_region, region)
            started.append(self._running[region])
        self._prune(conn)
        return sum(f.result() for f in started) if wait else int(more)

    def _prune(self, conn: Any) -> None:
        """Bound the index (``PRUNE_EVERY`` seconds apart): delivered records older than the
        retention, and past ``max_bytes`` the oldest delivered ones, are dropped (event_index.bound).
        Records not delivered yet are never dropped: they are the outbox."""
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        pending = conn.execute(
            "SELECT MIN(b.first_seq) FROM batch_parts p JOIN batches b ON b.id = p.batch_id WHERE p.delivered = 0"
        ).fetchone()[0]
        claimed = conn.execute("SELECT COALESCE(MAX(last_seq), 0) FROM batches").fetchone()[0]
        safe = (pending - 1) if pending is not None else claimed
        oldest = int(now - self.retention)
        dropped = bound(conn, droppable=safe, older_than=oldest, max_bytes=self.max_bytes)
        conn.execute("DELETE FROM activity WHERE last < ?", (oldest,))
        # delivered batches wholly before the oldest record left (the newest batch stays: claims follow it)
        first = conn.execute("SELECT MIN(seq) FROM events").fetchone()[0]
        conn.execute("DELETE FROM batch_parts WHERE delivered = 1 AND batch_id IN (SELECT id FROM batches WHERE "
                     "last_seq < ? AND id < (SELECT MAX(id) FROM batches))", (first if first is not None else safe + 1,))
        conn.execute("DELETE FROM batches WHERE id < (SELECT MAX(id) FROM batches) AND last_seq < ? AND id NOT IN "
                     "(SELECT batch_id FROM batch_parts)", (first if first is not None else safe + 1,))
        if dropped:
            log.info("audit index bounded: %d oldest records dropped", dropped)

    def _claim(self, conn: Any) -> int:
        """Claim the records after the last batch into a new batch: a fixed seq range, and
        one part per (account, Region) in it. Returns how many records it claimed."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute("SELECT COALESCE(MAX(last_seq), 0) FROM batches").fetchone()[0]
            top = conn.execute("SELECT MAX(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
                               (last, _BATCH)).fetchone()[0]
            if top is None:
                conn.execute("COMMIT")
                return 0
            batch = conn.execute("INSERT INTO batches (first_seq, last_seq) VALUES (?, ?)", (last + 1, top)).lastrowid
            conn.execute(
                "INSERT INTO batch_parts (batch_id, account_id, trail_region) SELECT DISTINCT ?, account_id, "
                "trail_region FROM events WHERE seq BETWEEN ? AND ?",
                (batch, last + 1, top),
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        return int(top - last)

    def _deliver_region(self, region: str) -> int:
        """Deliver one Region's pending parts, oldest first, ``PARTS_PER_ROUND`` read at a time
        (at most ``_MAX_PARTS`` per call), until none is left or its store fails (then back off).
        Runs in the Region's lane, with its own connection (opened without preparing the file:
        the round's connection is open, see ``index.connect``)."""
        conn = connect(self._path, prepare=False)
        delivered = 0
        try:
            for _ in range(_MAX_PARTS // PARTS_PER_ROUND):
                parts = conn.execute(
                    "SELECT p.batch_id, p.account_id, p.key, b.first_seq, b.last_seq FROM batch_parts p "
                    "JOIN batches b ON b.id = p.batch_id WHERE p.delivered = 0 AND p.trail_region = ? "
                    "ORDER BY p.batch_id LIMIT ?", (region, PARTS_PER_ROUND)
                ).fetchall()
                for batch, account, key, first, last in parts:
                    count = self._deliver_part(conn, region, batch, account, key, first, last)
                    if count is None:
                        return delivered
                    delivered += count
                if len(parts) < PARTS_PER_ROUND:
                    break
        finally:
            conn.close()
        return delivered

    def _deliver_part(self, conn: sqlite3.Connection, region: str, batch: int, account: str, key: str | None,
                      first: int, last: int) -> int | None:
        """Write one part; its record count, or None when the store failed (the part stays pending)."""
        where = (batch, account, region)
        rows = conn.execute(
            "SELECT seq, event_time, body FROM events WHERE seq BETWEEN ? AND ? AND account_id = ? "
            "AND trail_region = ? ORDER BY seq",
            (first, last, account, region),
        ).fetchall()
        if key is None:  # fixed before the first attempt: every retry writes the same object
            key = object_key(account, region, self._node, batch, rows[0][1] if rows else 0)
            conn.execute("UPDATE batch_parts SET key = ? WHERE batch_id = ? AND account_id = ? AND trail_region = ?",
                         (key, *where))
        bodies = Bodies(conn)  # a part's events are whole blocks of its own trail: each block read once
        payload = b'{"Records":[' + b",".join(bodies.get(seq, body) for seq, _when, body in rows) + b"]}"
        try:
            self.store_for(region).put(key, igzip.compress(payload, 2, mtime=0))  # ISA-L: ~10x zlib's speed
        except Exception as exc:  # noqa: BLE001 - the store is down: keep the part, retry later
            self._failed(region, exc)
            return None
        if self._failures.pop(region, 0):
            log.warning("trail store for %s is back; delivering the records that waited", region)
        self._delay.pop(region, None)
        conn.execute("UPDATE batch_parts SET delivered = 1 WHERE batch_id = ? AND account_id = ? AND trail_region = ?",
                     where)
        return len(rows)

    def _failed(self, region: str, exc: Exception) -> None:
        delay = min(MAX_BACKOFF, max(1.0, self._delay.get(region, 0.5) * 2))
        self._delay[region] = delay
        self._backoff[region] = time.monotonic() + delay
        failures = self._failures[region] = self._failures.get(region, 0) + 1
        metrics.delivery_failure(region)
        if failures == 1 or failures % 100 == 0:  # said once per outage (and now and then), not per retry
            log.warning("trail store for %s unavailable (%s, %d attempts); its records wait in the outbox",
                        region, type(exc).__name__, failures)


def read_records(data: bytes) -> list[dict[str, Any]]:
    return list(json.loads(gzip.decompress(data))["Records"])
