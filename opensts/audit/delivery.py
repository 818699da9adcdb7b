"""Delivery from the journal to the trails, asynchronously and exactly once.

Files are written as CloudTrail delivers them: gzip JSON ``{"Records": [...]}`` at
``AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz``
in the Region's trail store — a folder (default ``DATA_DIR/trail``), or an S3-compatible bucket.

Exactly once, even across crashes and a store that is down:
1. the records after the last batch are first *claimed* as a numbered batch — a fixed seq
   range — with one part per (account, Region) in it (one transaction), so a part's content never
   changes afterwards;
2. each part is written under a name derived from its batch number (an overwrite is harmless);
3. the part is marked delivered. A crash between 2 and 3 rewrites the same file with the same
   content. A store that fails keeps its batches pending; they are retried with back-off and
   arrive when it returns. One process delivers at a time (an exclusive file lock).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from isal import igzip

from opensts.audit.index import connect, index_path, ingest
from opensts.private_files import FILE_MODE, private_dir, private_opener

__all__ = ["TrailStore", "FolderStore", "S3Store", "Delivery"]

log = logging.getLogger("opensts.audit")
_BATCH = 5000
RETENTION_SECONDS = 90 * 24 * 3600  # what LookupEvents can see, as on AWS


class TrailStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        private_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb", opener=private_opener) as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # a .tmp left by an older version may be wider
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)


class S3Store:
    """Any S3-compatible bucket, through boto3 (imported only when configured)."""

    def __init__(self, bucket: str, prefix: str = "", **client_args: Any) -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", **client_args)

    def put(self, key: str, data: bytes) -> None:
        full = f"{self.prefix}/{key}" if self.prefix else key
        self.client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType="application/json",
                               ContentEncoding="gzip")


def object_key(account: str, region: str, batch_id: int, first_time: int) -> str:
    when = datetime.fromtimestamp(first_time, tz=timezone.utc)
    unique = hashlib.sha256(f"{account}/{region}/{batch_id}".encode()).hexdigest()[:16]
    name = f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
    return f"AWSLogs/{account}/CloudTrail/{region}/{when:%Y/%m/%d}/{name}"


class Delivery:
    def __init__(self, folder: Path, default: TrailStore, per_region: Mapping[str, TrailStore] | None = None,
                 interval: float = 1.0) -> None:
        self._folder = folder
        self._path = index_path(folder)
        self._default = default
        self._stores = dict(per_region or {})
        self._interval = interval
        self._backoff: dict[str, float] = {}  # Region → monotonic time before which not to retry
        self._delay: dict[str, float] = {}
        self._pruned_at = 0.0
        self.retention = RETENTION_SECONDS
        self._lock_path = folder / "delivery.lock"

    def store_for(self, region: str) -> TrailStore:
        return self._stores.get(region, self._default)

    def run_forever(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                self.deliver_once()
            except Exception:  # noqa: BLE001 - keep delivering; the next round retries
                log.exception("audit delivery round failed")

    def deliver_once(self) -> int:
        """Claim and deliver pending records; returns how many records were delivered."""
        with open(self._lock_path, "a+", opener=private_opener) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is delivering
            conn = connect(self._path)
            try:
                ingest(self._folder, conn)
                self._claim(conn)
                delivered = self._deliver_claimed(conn)
                self._prune(conn)
                return delivered
            finally:
                conn.close()

    def _prune(self, conn: Any) -> None:
        """Forget delivered records older than the retention (LookupEvents' 90 days), once an hour."""
        now = time.time()
        if now - self._pruned_at < 3600:
            return
        self._pruned_at = now
        pending = conn.execute(
            "SELECT MIN(b.first_seq) FROM batch_parts p JOIN batches b ON b.id = p.batch_id WHERE p.delivered = 0"
        ).fetchone()[0]
        claimed = conn.execute("SELECT COALESCE(MAX(last_seq), 0) FROM batches").fetchone()[0]
        safe = (pending - 1) if pending is not None else claimed
        conn.execute("DELETE FROM events WHERE seq <= ? AND event_time < ?", (safe, int(now - self.retention)))

    def _claim(self, conn: Any) -> None:
        """Claim the records after the last batch into a new batch: a fixed seq range, and
        one part per (account, Region) in it."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute("SELECT COALESCE(MAX(last_seq), 0) FROM batches").fetchone()[0]
            top = conn.execute("SELECT MAX(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
                               (last, _BATCH)).fetchone()[0]
            if top is None:
                conn.execute("COMMIT")
                return
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

    def _deliver_claimed(self, conn: Any) -> int:
        delivered = 0
        now = time.monotonic()
        parts = conn.execute(
            "SELECT p.batch_id, p.account_id, p.trail_region, b.first_seq, b.last_seq FROM batch_parts p "
            "JOIN batches b ON b.id = p.batch_id WHERE p.delivered = 0 ORDER BY p.batch_id"
        ).fetchall()
        for batch, account, region, first, last in parts:
            if self._backoff.get(region, 0) > now:
                continue
            rows = conn.execute(
                "SELECT event_time, body FROM events WHERE seq BETWEEN ? AND ? AND account_id = ? AND trail_region = ? "
                "ORDER BY seq",
                (first, last, account, region),
            ).fetchall()
            key = object_key(account, region, batch, rows[0][0] if rows else 0)
            payload = b'{"Records":[' + b",".join(r[1].encode() for r in rows) + b"]}"
            try:
                self.store_for(region).put(key, igzip.compress(payload, 2, mtime=0))  # ISA-L: ~10x zlib's speed
            except Exception as exc:  # noqa: BLE001 - the store is down: keep the part, retry later
                delay = min(30.0, max(1.0, self._delay.get(region, 0.5) * 2))
                self._delay[region] = delay
                self._backoff[region] = now + delay
                log.warning("trail store for %s unavailable (%s); %d records wait", region, type(exc).__name__, len(rows))
                continue
            self._delay.pop(region, None)
            conn.execute(
                "UPDATE batch_parts SET delivered = 1, key = ? WHERE batch_id = ? AND account_id = ? AND trail_region = ?",
                (key, batch, account, region),
            )
            delivered += len(rows)
        return delivered


def read_records(data: bytes) -> list[dict[str, Any]]:
    return list(json.loads(gzip.decompress(data))["Records"])
