"""Corrupted CloudTrail files never crash the report: every byte-level mutation of a valid delivery
file or JSON-lines export (a flipped, inserted or deleted byte, a cut) is read, counted or skipped
as bad, never raised.

The readers take three ways through a Records array (regional events counted in place, records
decoded with msgspec, everything else parsed with orjson and cut exactly); a mutation can send any
record down any of them."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.audit.report import readers
from opensts.audit.report.aggregate import Aggregate

from .conftest import event, known_set

EVENTS, _ = known_set()
RECORDS = EVENTS + [event(etype="regional", when="2025-09-01T11:00:00Z"), event(etype="global", session="z")]
DOC = orjson.dumps({"Records": RECORDS})
LINES = b"\n".join(orjson.dumps(r) for r in RECORDS) + b"\n"


def _report(data: bytes) -> tuple[Aggregate, readers.ReadStats]:
    agg, stats = Aggregate(track_unknown=True), readers.ReadStats()
    for obj in readers._parse(iter([data]), stats, agg.add):
        agg.add(obj)
    return agg, stats


mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "cut"]), st.integers(0, len(DOC) - 1),
                     st.binary(min_size=1, max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([DOC, LINES]), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_delivery_files_never_crash_the_report(doc: bytes, mutations: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(doc)
    for kind, at, payload in mutations:
        at = min(at, len(data) - 1)
        if kind == "flip":
            data[at] ^= payload[0] or 1
        elif kind == "insert":
            data[at:at] = payload
        elif kind == "delete":
            del data[at:at + len(payload)]
        else:
            del data[at:]
        if not data:
            data = bytearray(b"{")
    try:
        agg, stats = _report(bytes(data))
    except readers._Unreadable:  # "not JSON" etc.: the caller turns it into a warning
        return
    assert sum(agg.totals.values()) <= len(RECORDS) + 2  # a mutation may split a record, not invent many


def test_an_intact_file_counts_every_record_whichever_way_it_was_read() -> None:
    agg, stats = _report(DOC)
    lines, _ = _report(LINES)
    assert agg.totals == lines.totals
    assert sum(agg.totals.values()) + agg.skipped + stats.skipped == len(RECORDS)
    assert stats.bad_records == 0
