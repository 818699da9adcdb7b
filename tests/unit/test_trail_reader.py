"""The trail reader of a fleet node: trail files of every node, read incrementally into the lookup
index (new files only, bounded per scan, late files by the full scan), events exactly once and
newest first through LookupEvents' own query. Folder stores, and S3 through moto's server."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opensts.audit.delivery import Delivery, object_key
from opensts.audit.journal import Journal
from opensts.audit.lookup import TrailIndex, lookup_events
from opensts.audit.stores import FolderStore, S3Store, TrailStore
from opensts.audit.trail_reader import TrailReader, connect_lookup
from tests.trail_s3 import S3Server, start_s3, stop_s3

ACCOUNT = "111122223333"


def _record(event_id: str, when: int, region: str = "us-west-2") -> tuple[str, str, dict[str, Any]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    return (region, ACCOUNT, {"eventVersion": "1.11", "eventTime": stamp, "eventID": event_id,
                              "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",
                              "awsRegion": region, "userIdentity": {"userName": "admin"}, "requestID": event_id})


class Counting:
    """A real store, with its gets and listings counted (what a scan costs)."""

    def __init__(self, store: TrailStore) -> None:
        self.store, self.gets, self.listed = store, 0, 0

    def put(self, key: str, data: bytes) -> None:
        self.store.put(key, data)

    def get(self, key: str) -> bytes:
        self.gets += 1
        return self.store.get(key)

    def children(self, prefix: str) -> list[str]:
        return self.store.children(prefix)

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        for key in self.store.list(prefix, start_after):
            self.listed += 1
            yield key


def _node(tmp: Path, name: str, store: TrailStore) -> tuple[Journal, Delivery]:
    """One node's journal and delivery into the shared store (its own node id)."""
    journal = Journal(tmp / name / "audit")
    return journal, Delivery(journal.folder, store, node=name)


def _deliver(node: tuple[Journal, Delivery], records: list[tuple[str, str, dict[str, Any]]], when: int) -> None:
    journal, delivery = node
    asyncio.run(journal.write(records, durable=True, when=when))
    assert delivery.deliver_once() == len(records)


def _ids(path: Path, **params: Any) -> list[str]:
    return [e["EventId"] for e in lookup_events(TrailIndex(path), ACCOUNT, "us-west-2", {"MaxResults": 50, **params})["Events"]]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = start_s3()
    yield server
    stop_s3(server)


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TrailStore:
    if request.param == "folder":
        return FolderStore(tmp_path / "trail")
    server: S3Server = request.getfixturevalue("s3")
    bucket = f"trail-{tmp_path.name[-20:].lower().replace('_', '-')}"
    server.client().create_bucket(Bucket=bucket)
    return S3Store(prefix="org/trails", **server.store_args(bucket))


def test_every_nodes_files_once_newest_first_and_only_new_files_read(tmp_path: Path, store: TrailStore) -> None:
    now = int(time.time())
    counted = Counting(store)
    a, b = _node(tmp_path, "nodeaaaa", counted), _node(tmp_path, "nodebbbb", counted)
    _deliver(a, [_record("a1", now - 50), _record("a2", now - 30)], now - 30)
    _deliver(b, [_record("b1", now - 40), _record("b2", now - 20)], now - 20)
    _deliver(a, [_record("a3", now - 60, region="us-east-1")], now - 10)  # another Region's trail
    reader = TrailReader(counted, "us-west-2", tmp_path / "lookup.db")
    assert reader.scan() == 4 and counted.gets == 2  # both nodes' batch 1: two files, not one overwritten
    assert _ids(tmp_path / "lookup.db") == ["b2", "a2", "b1", "a1"]  # by eventTime, whoever delivered
    counted.gets = 0
    assert reader.scan() == 0 and counted.gets == 0  # nothing new: nothing read again
    _deliver(b, [_record("b3", now - 5)], now - 5)
    assert reader.scan() == 1 and counted.gets == 1
    assert _ids(tmp_path / "lookup.db", MaxResults=2) == ["b3", "b2"]


def test_an_event_in_two_files_counts_once(tmp_path: Path) -> None:
    now = int(time.time())
    store = FolderStore(tmp_path / "trail")
    body = gzip.compress(json.dumps({"Records": [_record("same", now)[2], _record("other", now - 1)[2]]}).encode())
    store.put(object_key(ACCOUNT, "us-west-2", "nodeaaaa", 1, now), body)
    store.put(object_key(ACCOUNT, "us-west-2", "nodebbbb", 7, now), body)  # e.g. a node's data folder cloned
    reader = TrailReader(store, "us-west-2", tmp_path / "lookup.db")
    assert reader.scan() == 2
    assert _ids(tmp_path / "lookup.db") == ["same", "other"]


def test_a_scan_reads_a_bounded_number_of_files_and_catches_up(tmp_path: Path) -> None:
    now = int(time.time())
    counted = Counting(FolderStore(tmp_path / "trail"))
    node = _node(tmp_path, "nodeaaaa", counted)
    for i in range(7):
        _deliver(node, [_record(f"e{i}", now - 100 + i)], now - 100 + i)
    reader = TrailReader(counted, "us-west-2", tmp_path / "lookup.db", max_objects=3)
    assert [reader.scan() for _ in range(4)] == [3, 3, 1, 0]
    assert counted.gets == 7
    assert _ids(tmp_path / "lookup.db") == [f"e{i}" for i in reversed(range(7))]


def test_recent_scans_list_only_the_window_and_late_files_come_with_the_full_scan(tmp_path: Path) -> None:
    now = int(time.time())
    clock = [float(now)]
    counted = Counting(FolderStore(tmp_path / "trail"))
    node = _node(tmp_path, "nodeaaaa", counted)
    for i in range(5):  # an old day's files: listed by the first (full) scan only
        _deliver(node, [_record(f"old{i}", now - 3 * 86400 + i)], now - 3 * 86400 + i)
    reader = TrailReader(counted, "us-west-2", tmp_path / "lookup.db", window=900, full_every=600,
                         clock=lambda: clock[0])
    assert reader.scan() == 5
    counted.listed = 0
    _deliver(node, [_record("now", now)], now)
    _deliver(node, [_record("late", now - 3600)], now - 3600)  # a store back after an hour: named an hour ago
    clock[0] += 2
    assert reader.scan() == 1 and counted.listed == 1  # the window: today's newest file, nothing older
    assert "late" not in _ids(tmp_path / "lookup.db")
    clock[0] += 600
    assert reader.scan() == 1  # the full scan finds it
    assert _ids(tmp_path / "lookup.db")[:2] == ["now", "late"]


def test_unreadable_files_and_records_are_skipped_not_fatal(tmp_path: Path) -> None:
    now = int(time.time())
    store = FolderStore(tmp_path / "trail")
    store.put(object_key(ACCOUNT, "us-west-2", "nodeaaaa", 1, now), b"not gzip")
    store.put(object_key(ACCOUNT, "us-west-2", "nodeaaaa", 2, now),
              gzip.compress(json.dumps({"Records": [{"eventID": "no-time"}, 5, _record("good", now)[2]]}).encode()))
    store.put(f"AWSLogs/{ACCOUNT}/CloudTrail/us-west-2/notes.txt", b"a foreign file")
    reader = TrailReader(store, "us-west-2", tmp_path / "lookup.db")
    assert reader.scan() == 1 and reader.scan() == 0
    assert _ids(tmp_path / "lookup.db") == ["good"]
    conn = connect_lookup(tmp_path / "lookup.db")
    assert conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0] == 2  # remembered: not re-read every scan


def test_a_file_gone_between_listing_and_reading_is_skipped_and_the_scan_goes_on(tmp_path: Path) -> None:
    now = int(time.time())
    class Vanishing(Counting):
        """The real folder store, whose first file is deleted right after it was listed."""

        def get(self, key: str) -> bytes:
            if key.endswith("00000001.json.gz"):
                (tmp_path / "trail" / key).unlink(missing_ok=True)
            return super().get(key)

    store = Vanishing(FolderStore(tmp_path / "trail"))
    node = _node(tmp_path, "nodeaaaa", store)
    _deliver(node, [_record("gone", now - 2)], now - 2)
    _deliver(node, [_record("kept", now - 1)], now - 1)
    reader = TrailReader(store, "us-west-2", tmp_path / "lookup.db")
    assert reader.scan() == 1 and _ids(tmp_path / "lookup.db") == ["kept"]
    assert reader.scan() == 0


def test_after_an_outage_the_scans_reach_back_to_its_start(tmp_path: Path) -> None:
    """The store is lost for an hour; when a store answers again, the other nodes' outboxes arrive
    in it named for the outage's minutes: found by the next scans, not only the next full one."""
    now = int(time.time())
    server = start_s3()
    try:
        server.client().create_bucket(Bucket="trail")
        start = now - 7200  # two hours ago: the outage, an hour, is over by now
        clock = [float(start)]
        store = S3Store(**server.store_args("trail"))
        node = _node(tmp_path, "nodeaaaa", store)
        reader = TrailReader(store, "us-west-2", tmp_path / "lookup.db", window=900, full_every=10**9,
                             clock=lambda: clock[0])
        _deliver(node, [_record("before", start - 5)], start - 5)
        assert reader.scan() == 1
        stop_s3(server)
        for step in (2, 3600):
            clock[0] += step
            with pytest.raises(Exception):  # noqa: B017 - whatever boto3 says when nothing listens
                reader.scan()
        server = start_s3(server.port)
        server.client().create_bucket(Bucket="trail")
        _deliver(node, [_record("during", start + 60)], start + 60)  # an hour late
        clock[0] += 5
        assert reader.scan() == 1
        assert _ids(tmp_path / "lookup.db") == ["during", "before"]
        clock[0] += 300
        assert reader.scan() == 0
    finally:
        stop_s3(server)
