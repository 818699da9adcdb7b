"""The events of an audit index, stored small and found by what LookupEvents filters on.

Both indexes LookupEvents reads — a server's journal index (index.py) and a fleet node's trail
index (trail_reader.py) — keep their events in the same three tables, written and read here:

* ``events(seq, trail_region, account_id, event_time, keys, body)``: one row per event. ``keys`` are
  the event's lookup keys (below; the second is always its EventId's), kept so that dropping an
  event drops its keys without reading its record. ``body`` is empty for an event stored in a block
  (the journal index's way), else its own record (``pack``; a fleet node's lookup index, and events
  indexed before blocks).
* ``event_blocks(first_seq, last_seq, body)``: the records of events ``first_seq`` … ``last_seq``
  (consecutive, one account, Region and minute), compressed together (``pack_block``: raw deflate of the
  JSON lines with a preset dictionary of the words every record repeats). Packing a block of up to
  ``BLOCK_EVENTS`` records costs a fraction of a µs per record where packing each alone cost
  ≈ 10 µs, and ≈ 1.5 KB of JSON takes ≈ 0.1 KB.
* ``event_keys(k, seq)`` (a covering primary key, no row id): a key is a 64-bit hash of (account,
  trail Region, attribute, value) for every LookupAttribute AWS has — EventId, EventName, ReadOnly,
  Username, EventSource, AccessKeyId, ResourceType, ResourceName — plus one for "every event of the
  account in this Region". ``seq`` names an event (EventId keys; events not in a block) or a block
  (its first seq: "some event of this block has the key"; the block's events' own ``keys`` tell
  which). A block's repeated values — its account's every-event key, the user, the event name — are
  one row for the block, not one per event: writing an event costs one key row (its EventId), where
  it cost seven. A filter is one range of this index read newest first (``find``), so its cost is the
  page asked for, not the table; a value nothing has finds nothing at once.
* ``event_minutes(minute, first_seq, last_seq)``: the seq range of each minute's events, so a
  time range becomes a seq range of the same index (``seq_range``); seq order is ingestion order,
  within seconds of time order, and the exact time test is applied to the rows found.

A hash can collide (2⁻⁶⁴): ``matches`` checks each event found against the filter, and the
account and Region are compared in SQL. Bounded (``bound``): events older than the retention and,
past the size cap, the oldest events are dropped, oldest first, a slice per transaction.
"""

from __future__ import annotations

from bisect import bisect_right
from hashlib import blake2b as _blake2b
import sqlite3
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from isal import isal_zlib

__all__ = ["EVENTS_SCHEMA", "pack", "unpack", "pack_block", "unpack_block", "lookup_key", "event_keys",
           "insert_events", "insert_blocks", "find", "Bodies", "stored_records", "seq_range", "drop_events",
           "bound", "matches", "ALL_EVENTS", "used_bytes", "EVENTS_COLUMNS", "MAX_INDEX_BYTES", "BLOCK_EVENTS",
           "run_script"]

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_keys (
    k INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (k, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_minutes (
    minute INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event_blocks (
    first_seq INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""
#: The events columns after ``seq`` (each index declares ``seq`` its own way).
EVENTS_COLUMNS = """
    trail_region TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    keys BLOB NOT NULL,
    body BLOB NOT NULL
"""
#: Default cap of an index file (config ``[audit] index_max_mb``).
MAX_INDEX_BYTES = 1024 << 20
ALL_EVENTS = ""  # the attribute of the key every event of an (account, Region) has

# The preset dictionary of ``pack`` (version 1). Never change it: records packed with it are read
# with it. A new dictionary is a new version byte, and ``unpack`` keeps reading version 1.
_ZDICT_V1 = (
    b'"eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256",'
    b'"clientProvidedHostHeader":"sts.amazonaws.com"},"sharedEventID":"","errorCode":"AccessDenied","errorMessage":'
    b'"User: arn:aws:iam::is not authorized to perform: sts:AssumeRole on resource: '
    b'"requestParameters":{"roleArn":"arn:aws:iam::role/","roleSessionName":"","durationSeconds":3600,'
    b'"policyArns":[{"arn":"arn:aws:iam::aws:policy/"}],"tags":[{"key":"","value":""}],"externalId":"",'
    b'"serialNumber":"arn:aws:iam::mfa/","sourceIdentity":""},"userName":"","roleName":"","policyName":"",'
    b'"userAgent":"aws-cli/2 Python/3 Linux/6 exe/x86_64 prompt/off command/sts.get-caller-identity",'
    b'"responseElements":{"role":{"path":"/","roleName":"","roleId":"AROA","arn":"arn:aws:iam::role/",'
    b'"createDate":", 2026, :00:00 PM","maxSessionDuration":3600}},"readOnly":false,'
    b'"eventSource":"iam.amazonaws.com","eventName":"GetCallerIdentity",'
    b'{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","principalId":"AROA:","arn":'
    b'"arn:aws:sts::111122223333:assumed-role/","accountId":"111122223333","accessKeyId":"ASIA","sessionContext":'
    b'{"attributes":{"creationDate":"2026-12-01T00:00:00Z","mfaAuthenticated":"false"},"sessionIssuer":'
    b'{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::111122223333:role/","accountId":"111122223333",'
    b'"userName":""},"webIdFederationData":{}}},"eventTime":"2026-12-01T00:00:00Z",'
    b'"eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1",'
    b'"sourceIPAddress":"127.0.0.1","userAgent":"Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux# '
    b'md/arch#x86_64 lang/python#3.11 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.44.8",'
    b'"requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/","roleSessionName":""},'
    b'"responseElements":{"credentials":{"accessKeyId":"ASIA","expiration":"Dec 1, 2026, 0:00:00 PM"},'
    b'"assumedRoleUser":{"assumedRoleId":"AROA:","arn":"arn:aws:sts::111122223333:assumed-role/"},'
    b'"sessionTokenSize":576,"sessionTokenUtilization":15},"additionalEventData":{"ExtendedRequestId":'
    b'"MTp1cy1lYXN0LTE6UzoxNzk2","RequestDetails":{"endpointType":"regional","awsServingRegion":"us-east-1"}},'
    b'"requestID":"","eventID":"","readOnly":true,"resources":[{"accountId":"111122223333","type":'
    b'"AWS::IAM::Role","ARN":"arn:aws:iam::111122223333:role/"}],"eventType":"AwsApiCall","managementEvent":true,'
    b'"recipientAccountId":"111122223333","eventCategory":"Management"}'
    b'{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":'
    b'"arn:aws:iam::111122223333:user/admin","accountId":"111122223333","accessKeyId":"AKIA","userName":"admin"},'
    b'"eventTime":"2026-12-01T00:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity",'
    b'"awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1","userAgent":"Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 '
    b'os/linux# md/arch#x86_64 lang/python#3.11 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.44.8",'
    b'"requestParameters":null,"responseElements":null,"additionalEventData":{"ExtendedRequestId":'
    b'"MTp1cy1lYXN0LTE6UzoxNzk2","RequestDetails":{"endpointType":"regional","awsServingRegion":"us-east-1"}},'
    b'"requestID":"","eventID":"","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,'
    b'"recipientAccountId":"111122223333","eventCategory":"Management"}'
)
_V1 = b"\x01"
_V2 = b"\x02"  # a block: ``pack_block``
#: Records per block at most: a block is read whole by LookupEvents for any of its events
#: (≈ 200 KB of JSON inflated in well under a millisecond), and its shared keys are one row each.
BLOCK_EVENTS = 128
_LEVEL = 1  # ISA-L's level 1: ≈ 10 µs a record, within a few bytes of its best


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a schema script statement by statement inside the caller's transaction
    (``executescript`` would commit it first)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def pack(body: bytes) -> bytes:
    """A record's JSON as stored: version byte + raw deflate with the preset dictionary."""
    packer = isal_zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=_ZDICT_V1)
    return _V1 + packer.compress(body) + packer.flush()


def pack_block(bodies: Sequence[bytes]) -> bytes:
    """The records of a block as stored: version byte + raw deflate (preset dictionary) of the JSON
    lines (a record's JSON never holds a raw newline)."""
    packer = isal_zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=_ZDICT_V1)
    return _V2 + packer.compress(b"\n".join(bodies)) + packer.flush()


def unpack_block(stored: bytes) -> list[bytes]:
    """The records of a stored block, in seq order (ValueError or zlib.error when it is not one)."""
    if stored[:1] != _V2:
        raise ValueError("not a block")
    unpacker = zlib.decompressobj(-15, zdict=_ZDICT_V1)
    return (unpacker.decompress(stored[1:]) + unpacker.flush()).split(b"\n")


def unpack(stored: bytes | str) -> bytes:
    """The record's JSON of a stored body (``pack``'s, or a plain JSON text of an older index)."""
    if type(stored) is str:
        return stored.encode()
    if stored[:1] == _V1:
        unpacker = zlib.decompressobj(-15, zdict=_ZDICT_V1)
        return unpacker.decompress(stored[1:]) + unpacker.flush()
    return bytes(stored)


def _hash(data: bytes) -> int:
    return int.from_bytes(_blake2b(data, digest_size=8).digest(), "little", signed=True)


def lookup_key(account: str, region: str, attribute: str, value: str) -> int:
    """The index key of one LookupAttribute value (``ALL_EVENTS``: every event) of an account's
    trail in a Region: BLAKE2b-64 of ``account NUL region NUL attribute NUL value`` (accounts,
    Regions and attribute names never hold a NUL, so the value is the unambiguous rest)."""
    return _hash(f"{account}\0{region}\0{attribute}\0{value}".encode(errors="surrogatepass"))


_KNOWN: dict[str, int] = {}  # key text → key, for the values every event repeats (bounded)
_KNOWN_MAX = 100_000


def _cached(text: str) -> int:
    key = _KNOWN.get(text)
    if key is None:
        key = _hash(text.encode(errors="surrogatepass"))
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.clear()
        _KNOWN[text] = key
    return key


def event_keys(account: str, region: str, event_id: str, name: str, source: str, username: str | None,
               key_id: str | None, read_only: bool, resources: Any) -> list[int]:
    """Every lookup key of one event (distinct): the every-event key first, its EventId's second.
    Only the eventID is new with every event: the other keys are remembered per combination of
    values (a hash is ~1 µs, a dict look-up a tenth of that)."""
    found: tuple[tuple[str | None, str | None], ...] = ()
    if type(resources) is list and resources:
        found = tuple((r.get("type") if type(r.get("type")) is str else None,
                       r.get("ARN") if type(r.get("ARN")) is str else None) for r in resources if type(r) is dict)
    memo = (account, region, name, source, username if type(username) is str else None,
            key_id if type(key_id) is str else None, bool(read_only), found)
    shared = _SHARED.get(memo)
    if shared is None:
        shared = _shared_keys(*memo)
        if len(_SHARED) >= _KNOWN_MAX:
            _SHARED.clear()
        _SHARED[memo] = shared
    own = _hash(f"{account}\0{region}\0EventId\0{event_id}".encode(errors="surrogatepass"))
    return list(dict.fromkeys((shared[0], own, *shared[1:])))


_SHARED: dict[tuple[Any, ...], tuple[int, ...]] = {}  # values → their keys (bounded)


def _shared_keys(account: str, region: str, name: str, source: str, username: str | None, key_id: str | None,
                 read_only: bool, resources: tuple[tuple[str | None, str | None], ...]) -> tuple[int, ...]:
    scope = f"{account}\0{region}\0"
    keys = [_cached(scope + "\0"), _cached(f"{scope}EventName\0{name}"), _cached(f"{scope}EventSource\0{source}"),
            _cached(f"{scope}ReadOnly\0{'true' if read_only else 'false'}")]
    if username:
        keys.append(_cached(f"{scope}Username\0{username}"))
    if key_id:
        keys.append(_cached(f"{scope}AccessKeyId\0{key_id}"))
    for kind, arn in resources:
        if kind is not None:
            keys.append(_cached(f"{scope}ResourceType\0{kind}"))
        if arn is not None:
            keys.append(_cached(f"{scope}ResourceName\0{arn}"))
    return tuple(keys)


def _keys_blob(keys: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(keys)}q", *keys)


def _blob_keys(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 8}q", blob)


def insert_events(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, str, int, list[int], bytes]]) -> None:
    """Insert events stored alone ``(seq, trail Region, account, epoch seconds, keys, packed body)``,
    every key of each, and their minutes, inside the caller's transaction (a fleet node's lookup
    index, whose events arrive out of order, file by file)."""
    events, keys, minutes = [], [], {}
    for seq, region, account, when, event_keys_, body in rows:
        events.append((seq, region, account, when, _keys_blob(event_keys_), body))
        keys.extend((k, seq) for k in event_keys_)
        _add_minute(minutes, when // 60, seq)
    conn.executemany("INSERT INTO events (seq, trail_region, account_id, event_time, keys, body) VALUES (?,?,?,?,?,?)",
                     events)
    conn.executemany("INSERT OR IGNORE INTO event_keys (k, seq) VALUES (?, ?)", keys)
    _insert_minutes(conn, minutes)


def insert_blocks(conn: sqlite3.Connection,
                  blocks: Iterable[tuple[int, Sequence[tuple[str, str, int, list[int], bytes]]]]) -> None:
    """Insert blocks ``(first seq, [(trail Region, account, epoch seconds, keys, record JSON), …])``
    — each block's events numbered from its first seq on, one account and Region per block — with
    their events' rows, one EventId key row per event, the block's other keys once, and their
    minutes, inside the caller's transaction."""
    events, keys, packed, minutes = [], [], [], {}
    for first, block in blocks:
        shared: dict[int, None] = {}
        for seq, (region, account, when, event_keys_, _body) in enumerate(block, first):
            events.append((seq, region, account, when, _keys_blob(event_keys_), _IN_BLOCK))
            keys.append((event_keys_[1], seq))
            shared[event_keys_[0]] = None
            shared.update(dict.fromkeys(event_keys_[2:]))
            _add_minute(minutes, when // 60, seq)
        keys.extend((k, first) for k in shared)
        packed.append((first, first + len(block) - 1, pack_block([row[4] for row in block])))
    conn.executemany("INSERT INTO events (seq, trail_region, account_id, event_time, keys, body) VALUES (?,?,?,?,?,?)",
                     events)
    conn.executemany("INSERT INTO event_blocks (first_seq, last_seq, body) VALUES (?, ?, ?)", packed)
    conn.executemany("INSERT OR IGNORE INTO event_keys (k, seq) VALUES (?, ?)", keys)
    _insert_minutes(conn, minutes)


def _add_minute(minutes: dict[int, tuple[int, int]], minute: int, seq: int) -> None:
    seen = minutes.get(minute)
    minutes[minute] = (seq, seq) if seen is None else (min(seen[0], seq), max(seen[1], seq))


def _insert_minutes(conn: sqlite3.Connection, minutes: dict[int, tuple[int, int]]) -> None:
    conn.executemany(
        "INSERT INTO event_minutes (minute, first_seq, last_seq) VALUES (?, ?, ?) ON CONFLICT (minute) DO UPDATE "
        "SET first_seq = min(first_seq, excluded.first_seq), last_seq = max(last_seq, excluded.last_seq)",
        [(m, lo, hi) for m, (lo, hi) in minutes.items()])


def block_of(conn: sqlite3.Connection, seq: int) -> tuple[int, int] | None:
    """(first, last seq) of the block holding event ``seq``, or None (an event stored alone)."""
    row = conn.execute("SELECT first_seq, last_seq FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC "
                       "LIMIT 1", (seq,)).fetchone()
    return (row[0], row[1]) if row is not None and row[1] >= seq else None


class Bodies:
    """The record JSON of stored events, read in seq order (either way): each block is read and
    inflated once for all of its events, not once per event."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._first, self._last, self._records = 0, -1, []  # type: tuple[int, int, list[bytes]]

    def get(self, seq: int, body: bytes | str) -> bytes:
        """Event ``seq``'s record (``body``: its events row's); ValueError/zlib.error if unreadable."""
        if body:
            return unpack(body)
        if not self._first <= seq <= self._last:
            row = self._conn.execute("SELECT first_seq, last_seq, body FROM event_blocks WHERE first_seq <= ? "
                                     "ORDER BY first_seq DESC LIMIT 1", (seq,)).fetchone()
            if row is None or row[1] < seq:
                raise ValueError("no block holds this event")
            self._records = unpack_block(row[2])
            self._first, self._last = row[0], row[1]
        index = seq - self._first
        if index >= len(self._records):
            raise ValueError("short block")
        return self._records[index]


_IN_BLOCK = b""  # an events row's body when its record is in a block (the column predates blocks: NOT NULL)


def stored_records(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
    """Every event's (seq, record JSON), in seq order: the whole index (tools and tests; not for
    a request, whose reads go through ``find``)."""
    bodies = Bodies(conn)
    return [(seq, bodies.get(seq, body)) for seq, body in conn.execute("SELECT seq, body FROM events ORDER BY seq")]


_CANDIDATES = 64  # key rows read at a time by ``find``


def find(conn: sqlite3.Connection, key: int, account: str, region: str, start: int, end: int, before: int,
         limit: int) -> list[tuple[int, bytes | str]]:
    """Up to ``limit`` (seq, events row's body: empty for an event in a block) of the events with ``key`` of ``account``'s trail in
    ``region``, with eventTime in [start, end] and seq below ``before``, newest first: the key's
    rows read backwards ``_CANDIDATES`` at a time, each an event or a block whose events are tested
    against their own keys. Blocks never overlap, so the order is seq order."""
    span = seq_range(conn, start, end)
    if span is None:
        return []
    low, high = span[0], min(span[1], before - 1)
    held = block_of(conn, low)
    if held is not None:
        low = held[0]  # the block holding the range's first event starts before it
    found: list[tuple[int, bytes | str]] = []
    while high >= low:
        starts = conn.execute("SELECT seq FROM event_keys WHERE k = ? AND seq BETWEEN ? AND ? ORDER BY seq DESC "
                              "LIMIT ?", (key, low, high, _CANDIDATES)).fetchall()
        for (first,) in starts:
            block = conn.execute("SELECT last_seq FROM event_blocks WHERE first_seq = ?", (first,)).fetchone()
            top = min(block[0], span[1], before - 1) if block is not None else first
            for seq, blob, body in conn.execute(
                    "SELECT seq, keys, body FROM events WHERE seq BETWEEN ? AND ? AND account_id = ? AND "
                    "trail_region = ? AND event_time BETWEEN ? AND ? ORDER BY seq DESC",
                    (first, top, account, region, start, end)):
                if body or key in _blob_keys(blob):
                    found.append((seq, body))
                    if len(found) >= limit:
                        return found
        if len(starts) < _CANDIDATES:
            break
        high = starts[-1][0] - 1
    return found


def seq_range(conn: sqlite3.Connection, start: int, end: int) -> tuple[int, int] | None:
    """The seq range holding every event of [start, end] (epoch seconds; a superset: the time test
    is still applied to each row), or None when no event is that old or new."""
    low, high = conn.execute("SELECT MIN(minute), MAX(minute) FROM event_minutes").fetchone()
    if low is None:
        return None
    first, last = start // 60, end // 60
    if first <= low and last >= high:
        return (-(2**63), 2**63 - 1)  # the whole index: no need to add up its minutes
    lo, hi = conn.execute("SELECT MIN(first_seq), MAX(last_seq) FROM event_minutes WHERE minute BETWEEN ? AND ?",
                          (first, last)).fetchone()
    return None if lo is None else (lo, hi)


def drop_events(conn: sqlite3.Connection, first: int, last: int) -> int:
    """Drop the events with seq in [first, last] — whole blocks: ``bound`` cuts at block ends —
    their keys and blocks, in the caller's transaction."""
    rows = conn.execute("SELECT seq, keys, length(body) = 0 FROM events WHERE seq BETWEEN ? AND ?",
                        (first, last)).fetchall()
    starts = [f for (f,) in conn.execute("SELECT first_seq FROM event_blocks WHERE first_seq BETWEEN ? AND ? "
                                         "ORDER BY first_seq", (first, last))]
    doomed: dict[tuple[int, int], None] = {}
    for seq, blob, in_block in rows:
        keys = _blob_keys(blob)
        if not in_block or not starts:
            doomed.update(dict.fromkeys((k, seq) for k in keys))
            continue
        block = starts[max(0, bisect_right(starts, seq) - 1)]
        for i, k in enumerate(keys):
            doomed[(k, seq) if i == 1 else (k, block)] = None
    conn.executemany("DELETE FROM event_keys WHERE k = ? AND seq = ?", list(doomed))
    conn.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first, last))
    conn.execute("DELETE FROM event_blocks WHERE first_seq BETWEEN ? AND ?", (first, last))
    return len(rows)


def _block_end(conn: sqlite3.Connection, last: int, limit: int) -> int:
    """``last`` moved to a block end (a block is dropped whole or not at all): the end of its
    block when that is within ``limit``, else the end of the block before."""
    held = block_of(conn, last)
    if held is None or held[1] == last:
        return last
    return held[1] if held[1] <= limit else held[0] - 1


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the index file in use (free pages, reused before the file grows, not counted)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])


_SLICE = 5000  # events dropped per transaction: writers (ingestion) wait at most one slice


def bound(conn: sqlite3.Connection, *, droppable: int, older_than: int, max_bytes: int) -> int:
    """Drop, oldest first, events up to seq ``droppable`` (what delivery no longer needs) that are
    older than ``older_than`` (epoch seconds: the retention) and, when the index uses more than
    ``max_bytes``, as many more of the oldest as bring it to 90 % of that (freed pages are reused
    before the file grows). Returns how many were dropped.

    The events to drop for the cap are estimated from the bytes per event, which the index's
    other tables make too low: measured again after each pass, at most ``_PASSES``."""
    dropped = 0
    for _ in range(_PASSES):
        used = used_bytes(conn)
        over = 0
        if used > max_bytes:  # the events that make the excess, at the index's bytes per event
            count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            over = max(1, count * (used - int(max_bytes * 0.9)) // used) if count else 0
        gone = _bound_once(conn, droppable, older_than, over)
        dropped += gone
        if not over or not gone:
            break
    return dropped


_PASSES = 4


def _bound_once(conn: sqlite3.Connection, droppable: int, older_than: int, over: int) -> int:
    """One pass of ``bound``: the retention's events, or ``over`` of the oldest."""
    dropped = 0
    while True:
        oldest = conn.execute("SELECT seq FROM events ORDER BY seq LIMIT 1").fetchone()
        if oldest is None or oldest[0] > droppable:
            break
        first = last = oldest[0]
        if dropped < over:  # the next slice of the oldest events (seqs need not be dense)
            nth = conn.execute("SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT 1 OFFSET ?",
                               (droppable, min(over - dropped, _SLICE) - 1)).fetchone()
            last = nth[0] if nth is not None else droppable
        else:  # the retention: the oldest run of events older than it
            last = first - 1
            for seq, when in conn.execute("SELECT seq, event_time FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq "
                                          "LIMIT ?", (first, droppable, _SLICE)):
                if when >= older_than:
                    break
                last = seq
            if last < first:
                break
        # past the cap, whole blocks of the oldest (up to what delivery no longer needs); for the
        # retention, only blocks wholly older than it (a block straddling it waits, at most a minute)
        last = _block_end(conn, last, droppable if dropped < over else last)
        if last < first:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            dropped += max(1, drop_events(conn, first, last))
            conn.execute("DELETE FROM event_minutes WHERE last_seq <= ?", (last,))
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return dropped


def matches(event: dict[str, Any], attribute: str | None, value: str) -> bool:
    """Whether a LookupEvents event (as lookup.py renders it) has the filtered value (hashes can collide)."""
    if attribute is None:
        return True
    if attribute == "ReadOnly":
        return bool(event["ReadOnly"] == ("true" if value.lower() == "true" else "false"))
    if attribute in ("ResourceType", "ResourceName"):
        return any(r.get(attribute) == value for r in event["Resources"])
    return bool(event.get(attribute) == value)
