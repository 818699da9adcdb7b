"""Delivery from the journal: parts per (account, Region), exactly once, retries, pruning."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

from opensts.audit.delivery import Delivery, FolderStore, S3Store
from opensts.audit.event_index import stored_records
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
    left = [json.loads(body)["eventID"] for _seq, body in stored_records(connect(index_path(journal.folder)))]
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


def test_a_parts_name_is_fixed_before_its_first_write(tmp_path: Path) -> None:
    """A part that failed keeps its name: written after a restart (even under another node id, or
    after a crash between writing and marking) it is the same object, never a second copy."""
    journal = Journal(tmp_path / "audit")
    _write(journal, [_record(1)], int(time.time()))  # us-east-1
    down = tmp_path / "east"
    down.write_text("blocked")
    assert Delivery(journal.folder, FolderStore(down), node="nodeaaaa").deliver_once() == 0
    down.unlink()
    again = Delivery(journal.folder, FolderStore(down), node="nodebbbb")  # the process after a restart
    assert again.deliver_once() == 1
    [path] = down.rglob("*.json.gz")
    assert path.name.endswith("_nodeaaaa00000001.json.gz")
    conn = connect(index_path(journal.folder))
    conn.execute("UPDATE batch_parts SET delivered = 0")  # as if killed before marking it delivered
    assert again.deliver_once() == 1
    assert [p.name for p in down.rglob("*.json.gz")] == [path.name]


def test_two_nodes_batches_never_overwrite_each_other(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "trail")
    for name in ("nodeaaaa", "nodebbbb"):
        journal = Journal(tmp_path / name)
        _write(journal, [_record(i) for i in range(4)], int(time.time()))
        assert Delivery(journal.folder, store, node=name).deliver_once() == 4
    assert len(list((tmp_path / "trail").rglob("*.json.gz"))) == 4  # 2 nodes × 2 Regions, all batch 1
    assert len(_delivered(tmp_path / "trail")) == 8


def test_a_store_that_hangs_delays_only_its_own_region(tmp_path: Path) -> None:
    """us-east-1's store accepts connections and never answers: eu-west-1's records still arrive
    at once, and the hung delivery ends within the S3 store's timeouts."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        hung = S3Store("trail", endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}", region_name="us-east-1",
                       aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x",
                       timeouts={"connect_timeout": 1, "read_timeout": 1, "retries": {"total_max_attempts": 2}})
        journal = Journal(tmp_path / "audit")
        _write(journal, [_record(i) for i in range(6)], int(time.time()))
        delivery = Delivery(journal.folder, FolderStore(tmp_path / "west"), {"us-east-1": hung})
        conn = connect(index_path(journal.folder))
        started = time.monotonic()
        delivery._round(conn, wait=False)  # noqa: SLF001 - one round as run_forever does it
        while len(_delivered(tmp_path / "west")) < 3 and time.monotonic() - started < 5:
            time.sleep(0.05)
        assert len(_delivered(tmp_path / "west")) == 3 and time.monotonic() - started < 5
        assert not delivery._running["us-east-1"].done()  # noqa: SLF001 - still waiting for the silent store
        delivery._round(conn, wait=False)  # noqa: SLF001 - a round meanwhile does not queue a second attempt
        assert delivery._running["us-east-1"].result(timeout=30) == 0  # noqa: SLF001 - gave up: timeouts
        assert delivery._backoff["us-east-1"] > time.monotonic()  # noqa: SLF001
        pending = conn.execute("SELECT COUNT(*) FROM batch_parts WHERE delivered = 0").fetchone()[0]
        assert pending == 1
    finally:
        silent.close()


def test_node_id_is_made_once_and_kept(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from opensts.node_id import node_id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: node_id(tmp_path), range(16)))
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-z]{8}", ids.pop())
    assert node_id(tmp_path) == (tmp_path / "node-id").read_text().strip()
    assert (tmp_path / "node-id").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["node-id"]  # no temporary file left
    (tmp_path / "node-id").write_text("garbage!")
    assert re.fullmatch(r"[0-9a-z]{8}", node_id(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    assert node_id(tmp_path / "elsewhere") != node_id(tmp_path)


def test_a_long_outage_is_caught_up_in_one_round_oldest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "audit")
    down = tmp_path / "east"
    down.write_text("blocked")
    delivery = Delivery(journal.folder, FolderStore(tmp_path / "west"), {"us-east-1": FolderStore(down)})
    for i in range(60):  # a batch per round, each waiting (more than PARTS_PER_ROUND)
        _write(journal, [("us-east-1", "111122223333", _record(i)[2])], int(time.time()))
        delivery.deliver_once()
    down.unlink()
    delivery._backoff.clear()  # noqa: SLF001 - skip the back-off wait in a unit test
    assert delivery.deliver_once() == 60
    assert sorted(r["eventID"] for r in _delivered(down)) == sorted(f"id-{i}" for i in range(60))
    assert len(list(down.rglob("*.json.gz"))) == 60


def test_a_backlog_is_delivered_without_waiting_for_rounds(tmp_path: Path) -> None:
    """Issue 19: one 5,000-record batch per round capped delivery at ≈ 2,300 records/s. A backlog
    of several batches is delivered at full speed: well within one interval (30 s here; the old
    loop slept an interval before its first round)."""
    import threading

    from opensts.audit.journal import encode_line

    folder = tmp_path / "audit"
    Journal(folder)  # makes the folder, private
    count = 30_000  # two batches
    base = _record(0)[2]
    lines = b"".join(encode_line("us-east-1", "111122223333", int(time.time()), dict(base, eventID=f"id-{i}"))
                     for i in range(count))
    (folder / "log-1-1-000000.jsonl").write_bytes(lines)  # a dead writer's log (pid 1 is not ours)
    delivery = Delivery(folder, FolderStore(tmp_path / "trail"), interval=30.0)
    stop = threading.Event()
    runner = threading.Thread(target=delivery.run_forever, args=(stop,), daemon=True)
    started = time.monotonic()
    runner.start()
    try:
        while len(ids := [r["eventID"] for r in _delivered(tmp_path / "trail")]) < count:
            assert time.monotonic() - started < 20, f"{len(ids)} of {count} delivered"
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert sorted(ids) == sorted(f"id-{i}" for i in range(count))
