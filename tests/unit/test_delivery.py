"""Delivery from the journal: parts per (account, Region), exactly once, retries, pruning."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

from opensts.audit.delivery import Delivery, FolderStore
from opensts.audit.index import connect, index_path, ingest
from opensts.audit.journal import Journal


def _record(i: int, account: str = "111122223333") -> tuple[str, str, dict[str, Any]]:
    record = {"eventVersion": "1.11", "eventTime": "2026-11-26T12:00:00Z", "eventID": f"id-{i}",
              "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com", "userIdentity": {},
              "requestID": f"r-{i}"}
    return ("us-east-1" if i % 2 else "eu-west-1", account, record)


def _write(journal: Journal, events: list[tuple[str, str, dict[str, Any]]], when: int) -> None:
    asyncio.run(journal.write(events, durable=True, when=when))


def _delivered(folder: Path) -> list[dict[str, Any]]:
    return [r for p in sorted(folder.rglob("*.json.gz")) for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]


def test_each_record_is_delivered_once_per_region_folder(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "audit")
    _write(journal, [_record(i) for i in range(10)], int(time.time()))
    east_down = tmp_path / "east"
    east_down.write_text("blocked")
    west = tmp_path / "west"
    delivery = Delivery(journal.folder, FolderStore(west), {"us-east-1": FolderStore(east_down)})
    assert delivery.deliver_once() == 5  # eu-west-1 arrives although us-east-1's store is down
    east_down.unlink()
    delivery._backoff.clear()  # noqa: SLF001 - skip the back-off wait in a unit test
    assert delivery.deliver_once() == 5
    assert delivery.deliver_once() == 0
    ids = [r["eventID"] for r in _delivered(west) + _delivered(east_down)]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(10))


def test_prune_keeps_undelivered_and_recent_records(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "audit")
    old = int(time.time()) - 100 * 24 * 3600
    _write(journal, [_record(i) for i in range(4)], old)
    delivery = Delivery(journal.folder, FolderStore(tmp_path / "trail"))
    delivery.deliver_once()
    _write(journal, [_record(i) for i in range(4, 6)], old)  # old, but not delivered yet
    ingest(journal.folder)  # indexed, not yet claimed
    delivery._pruned_at = 0  # noqa: SLF001
    delivery._prune(connect(index_path(journal.folder)))  # noqa: SLF001
    left = [r[0] for r in connect(index_path(journal.folder)).execute("SELECT event_id FROM events ORDER BY seq")]
    assert left == ["id-4", "id-5"]


def test_logs_of_dead_writers_are_removed_once_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    dead = folder / "log-999999-1.jsonl"  # no such process
    from opensts.audit.journal import encode_line

    region, account, record = _record(1)
    dead.write_bytes(encode_line(region, account, 1, record) + b'["torn')
    assert ingest(folder) == 1
    assert dead.exists()  # a torn tail: kept, never indexed
    dead.write_bytes(encode_line(region, account, 1, record))
    connect(index_path(folder)).execute("DELETE FROM ingested")
    assert ingest(folder) == 1 and not dead.exists()
