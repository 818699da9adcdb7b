"""Access keys' last use is noted in memory and written in batches (service/iam/last_used.py):
one write per flush whatever the number of requests, the newest use winning, nothing lost when the
store refuses a batch, and never an older use over a newer one in the store."""

from __future__ import annotations

from pathlib import Path

from opensts.service.iam.last_used import MAX_PENDING, KeyUseRecorder
from opensts.store.database import open_store
from opensts.store.reads_repository import KeyUse


def test_many_uses_make_one_batch_with_the_newest_use_per_key() -> None:
    batches: list[dict[str, KeyUse]] = []
    recorder = KeyUseRecorder(batches.append, interval=3600)
    for i in range(1000):
        recorder.note(f"AKIA{i % 3}", 100 + i, "sts", "eu-west-1")
    recorder.note("AKIA0", 5000, "iam", "us-east-1")
    recorder.flush_now()
    recorder.flush_now()  # nothing new: no write at all
    assert len(batches) == 1
    assert batches[0]["AKIA0"] == KeyUse(5000, "iam", "us-east-1")
    assert batches[0]["AKIA1"] == KeyUse(100 + 997, "sts", "eu-west-1")


def test_a_refused_batch_is_kept_for_the_next_flush() -> None:
    calls: list[dict[str, KeyUse]] = []

    def flaky(batch: dict[str, KeyUse]) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise OSError("store down")

    recorder = KeyUseRecorder(flaky, interval=3600)
    recorder.note("AKIA1", 10, "sts", "us-east-1")
    recorder.flush_now()
    recorder.note("AKIA2", 20, "iam", "us-east-1")
    recorder.flush_now()
    assert set(calls[1]) == {"AKIA1", "AKIA2"}


def test_no_sink_records_nothing_and_memory_is_bounded() -> None:
    off = KeyUseRecorder(None)
    off.note("AKIA1", 1, "sts", "us-east-1")
    assert off._pending == {}
    batches: list[dict[str, KeyUse]] = []
    bounded = KeyUseRecorder(batches.append, interval=3600)
    bounded._pending = {f"K{i}": (1, "sts", "r") for i in range(MAX_PENDING)}
    bounded.note("ONE-MORE", 2, "sts", "r")
    assert "ONE-MORE" not in bounded._pending


def test_the_store_keeps_the_newest_use(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    generation = repo.generation()
    repo.record_key_use({"AKIA1": KeyUse(200, "sts", "eu-west-1"), "AKIA2": KeyUse(50, "iam", "us-east-1")})
    repo.record_key_use({"AKIA1": KeyUse(100, "iam", "us-east-1")})  # an older use, flushed late by another worker
    assert repo.key_uses(["AKIA1", "AKIA2", "AKIA3"]) == {
        "AKIA1": KeyUse(200, "sts", "eu-west-1"), "AKIA2": KeyUse(50, "iam", "us-east-1")}
    assert repo.generation() == generation  # no cache of any process is dropped for it
