"""The journal's zero-filled segments: rotation, end marks, exactly-once indexing, clean-up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from opensts.audit.event_index import stored_records
from opensts.audit.index import connect, index_path, ingest
from opensts.audit.journal import END_MARK, LOG_GLOB, Journal, valid_end


def _event(i: int, pad: int = 0) -> tuple[str, str, dict[str, Any]]:
    record = {"eventID": f"id-{i}", "eventName": "AssumeRole", "eventSource": "sts.amazonaws.com",
              "userIdentity": {}, "pad": "x" * pad}
    return ("us-east-1", "111122223333", record)


def _indexed(folder: Path) -> list[str]:
    conn = connect(index_path(folder))
    return [orjson.loads(body)["eventID"] for _seq, body in stored_records(conn)]


def test_valid_end_stops_at_the_zero_filled_rest() -> None:
    assert valid_end(b'["a"]\n["b"]\n' + bytes(10)) == 12
    assert valid_end(b'["a"]\n["b' + bytes(10)) == 6  # a line still being written
    assert valid_end(bytes(10)) == 0
    assert valid_end(b'["a"]\n') == 6


@pytest.mark.parametrize("durability", ["disk", "process"])
def test_segments_rotate_and_every_record_is_indexed_exactly_once(tmp_path: Path, durability: str) -> None:
    folder = tmp_path / "audit"
    journal = Journal(folder, segment_bytes=4096, durability=durability)

    async def run() -> None:
        for i in range(60):
            await journal.write([_event(i, pad=150)], durable=i % 3 == 0)
            if i % 7 == 0:
                ingest(folder)  # the indexer runs while segments are being written and rotated

    asyncio.run(run())
    logs = sorted(folder.glob(LOG_GLOB))
    assert max(int(p.stem.rsplit("-", 1)[1]) for p in logs) >= 3, "60 × ~250 bytes span several 4 KiB segments"
    assert all(p.stat().st_size == 4096 for p in logs)  # zero-filled to full size up front
    ingest(folder)
    assert _indexed(folder) == [f"id-{i}" for i in range(60)]
    # finished segments (end mark, fully indexed) are gone; the live one and the prepared one stay
    left = sorted(folder.glob(LOG_GLOB))
    assert len(left) <= 2
    for log in left:
        data = log.read_bytes()
        assert END_MARK not in data[: valid_end(data)]
    ingest(folder)
    assert len(_indexed(folder)) == 60  # nothing indexed twice


@pytest.mark.parametrize("durability", ["disk", "process"])
def test_a_record_larger_than_a_segment_gets_its_own(tmp_path: Path, durability: str) -> None:
    folder = tmp_path / "audit"
    journal = Journal(folder, segment_bytes=2048, durability=durability)

    async def run() -> None:
        await journal.write([_event(1)], durable=True)
        await journal.write([_event(2, pad=10_000)], durable=True)
        await journal.write([_event(3)], durable=True)

    asyncio.run(run())
    ingest(folder)
    assert _indexed(folder) == ["id-1", "id-2", "id-3"]


def test_durable_write_fails_when_the_disk_does(tmp_path: Path, monkeypatch: Any) -> None:
    folder = tmp_path / "audit"
    journal = Journal(folder, durability="disk")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    async def run() -> None:
        await journal.write([_event(1)], durable=True)
        monkeypatch.setattr(os, "fdatasync", broken)
        try:
            await journal.write([_event(2)], durable=True)
        except OSError as exc:
            return str(exc)
        return None

    assert "Input/output error" in (asyncio.run(run()) or "")


def test_process_durability_never_syncs(tmp_path: Path, monkeypatch: Any) -> None:
    """Not per record, not on rotation, not when preparing a segment."""
    folder = tmp_path / "audit"
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)
    monkeypatch.setattr(os, "fsync", synced.append)
    journal = Journal(folder, segment_bytes=4096, durability="process")

    async def run() -> None:
        for i in range(40):
            await journal.write([_event(i, pad=150)], durable=True)

    asyncio.run(run())
    assert synced == []  # in the kernel (survives kill -9), not waited for on disk
    logs = sorted(folder.glob(LOG_GLOB))
    assert len(logs) >= 3 and all(p.stat().st_size == 4096 for p in logs)
    ingest(folder)
    assert _indexed(folder) == [f"id-{i}" for i in range(40)]


def test_disk_durability_syncs_segments_before_use(tmp_path: Path, monkeypatch: Any) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    Journal(tmp_path / "audit", durability="disk")._start()
    assert len(synced) == 2  # the zero-filled segment and its directory entry


def test_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Journal(tmp_path, durability="maybe")


def test_logs_left_by_the_previous_format_are_still_indexed(tmp_path: Path) -> None:
    """Before segments, a line was ``[region, account, when, record]`` in ``log-PID-MS.jsonl``;
    a data folder upgraded in place must still index (and then remove) such a log."""
    import orjson

    folder = tmp_path / "audit"
    folder.mkdir()
    region, account, record = _event(7)
    old = folder / "log-999999-1.jsonl"  # its writer is long gone
    old.write_bytes(orjson.dumps([region, account, 1, record]) + b"\n")
    assert ingest(folder) == 1
    assert _indexed(folder) == ["id-7"]
    assert not old.exists()


def test_identifiers_are_made_once_by_ingestion_not_on_the_request_path(tmp_path: Path) -> None:
    """Issue 19's hot path: the journal holds the record with eventID and ExtendedRequestId left
    null; ingestion (exactly once) makes them, in their places, and they never change after."""
    import base64
    import re
    import uuid
    from datetime import datetime, timezone

    from opensts.audit.events import Call
    from opensts.audit.trail import AuditTrail
    from opensts.auth.principals import Caller
    from opensts.service.context import RequestInfo

    caller = Caller("IAMUser", "111122223333", "arn:aws:iam::111122223333:user/admin", "AIDAEXAMPLE", "admin",
                    "AKIAIOSFODNN7EXAMPLE")
    now = datetime(2026, 12, 4, 12, 0, 0, 123000, tzinfo=timezone.utc)
    info = RequestInfo("req-1", "GetCallerIdentity", now, caller, "eu-west-1", "eu-west-1")
    trail = AuditTrail(tmp_path)
    asyncio.run(trail.record(Call("sts", info, {}, {"Account": "111122223333"})))
    folder = trail.journal.folder
    raw = b"".join(p.read_bytes() for p in folder.glob(LOG_GLOB))
    written = orjson.loads(raw[: valid_end(raw)].split(b"\t", 1)[1])
    assert written["eventID"] is None and written["additionalEventData"]["ExtendedRequestId"] is None
    ingest(folder)
    conn = connect(index_path(folder))
    ((_seq, body),) = stored_records(conn)
    record = orjson.loads(body)
    assert list(record) == list(written)  # same fields, same order
    assert uuid.UUID(record["eventID"]).version == 4
    decoded = base64.b64decode(record["additionalEventData"]["ExtendedRequestId"]).decode()
    assert re.fullmatch(rf"1:eu-west-1:S:{int(now.timestamp() * 1000)}:R:[A-Za-z0-9]{{8}}", decoded)
    assert {k: v for k, v in record.items() if k not in ("eventID", "additionalEventData")} == \
        {k: v for k, v in written.items() if k not in ("eventID", "additionalEventData")}
    assert ingest(folder) == 0 and stored_records(conn) == [(_seq, body)]  # made once
