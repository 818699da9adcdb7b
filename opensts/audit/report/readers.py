"""Finding log files and streaming CloudTrail records out of them in bounded memory.

Accepted inputs, each plain or gzip (detected by magic bytes, not by name), files or folders walked
recursively: CloudTrail delivery files ``{"Records": [...]}``, JSON arrays of records, a single record
(possibly pretty-printed), JSON lines, and concatenated JSON values.  Anything else (YAML, Markdown,
corrupt gzip) is skipped with a warning — never a crash.

Why a hand-written splitter instead of ``orjson.loads`` of the whole file: a multi-GB export must run
in bounded memory, and most events in a trail are not STS.  The Records array is cut at
``},{"<first key>":`` (AWS always writes ``eventVersion`` first), and a piece is parsed only when it
contains ``sts.amazonaws.com``; other pieces are just counted (``"eventSource"`` occurrences).  A
piece that does not parse (key order differs, or a nested object happens to look like a boundary)
falls back to :func:`_exact_split`, which tries every ``},{`` boundary and lets orjson confirm it —
a JSON value has exactly one end, so the first prefix that parses is the element.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

try:  # ISA-L inflates gzip ~2x faster than zlib: the report's first bottleneck (bench/RESULTS.md ("Audit report throughput"))
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - optional speed-up
    _inflate = zlib  # type: ignore[assignment]

from opensts.audit.report.classify import REGIONAL, fast_regional, regional_time_at
from opensts.audit.report.record import decode_record

__all__ = ["ReadStats", "iter_files", "read_records", "STS_MARK"]

STS_MARK = b"sts.amazonaws.com"
_EVENT_SOURCE = b'"eventSource"'
READ_SIZE = 1 << 20  # compressed bytes per read
MAX_OUT = 16 << 20  # decompressed bytes per step (bounds memory whatever the compression ratio)
MAX_CARRY = 64 << 20  # an unsplittable tail larger than this is cut exactly
DOC_CAP = 512 << 20  # largest non-streamable document (single pretty-printed value) read whole
_WS = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_RECORDS_PREFIX = re.compile(rb'\{\s*"Records"\s*:\s*\[')
_FIRST_KEY = re.compile(rb'\s*\{\s*("(?:[^"\\]|\\.)*")\s*:')
_CANDIDATE = re.compile(rb"\}\s*,\s*(\{)")
_NON_WS = re.compile(rb"[^ \t\r\n]")
_SKIP_NAMES = (".tmp", ".part", ".partial", "~")


@dataclass
class ReadStats:
    """What the readers saw besides records; summed across files and processes."""

    files: int = 0
    bytes_read: int = 0  # on-disk bytes (compressed when gzip)
    bytes_raw: int = 0  # decompressed bytes
    bad_records: int = 0  # pieces that were not valid JSON
    skipped: int = 0  # events dropped by the pre-filter (not STS)
    not_records: int = 0  # JSON objects with no eventSource (digest files, wrappers …)
    unreadable: int = 0
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: "ReadStats") -> None:
        self.files += other.files
        self.bytes_read += other.bytes_read
        self.bytes_raw += other.bytes_raw
        self.bad_records += other.bad_records
        self.skipped += other.skipped
        self.not_records += other.not_records
        self.unreadable += other.unreadable
        self.warnings.extend(other.warnings)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every file under ``paths`` (folders walked recursively, sorted; hidden and temp files skipped)."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith(_SKIP_NAMES):
                        continue
                    yield Path(root) / name
        else:
            yield p


class _Unreadable(Exception):
    """The file is not something we can read; the message is the warning."""


def _chunks(fh: Any, stats: ReadStats, on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    """Decompressed chunks of a plain or gzip (possibly multi-member) file."""
    data = fh.read(READ_SIZE)
    gz = data[:2] == b"\x1f\x8b"
    dec = _inflate.decompressobj(31) if gz else None
    while data:
        stats.bytes_read += len(data)
        if on_bytes:
            on_bytes(len(data))
        if dec is None:
            stats.bytes_raw += len(data)
            yield data
        else:
            pending = data
            while pending:
                try:
                    out = dec.decompress(pending, MAX_OUT)
                except (zlib.error, _inflate.error) as exc:
                    raise _Unreadable(f"corrupt gzip data ({exc})") from None
                if out:
                    stats.bytes_raw += len(out)
                    yield out
                if dec.unconsumed_tail:
                    pending = dec.unconsumed_tail
                elif dec.eof and dec.unused_data.lstrip(b"\0"):  # next gzip member
                    pending = dec.unused_data.lstrip(b"\0")
                    dec = _inflate.decompressobj(31)
                else:
                    pending = b""
        data = fh.read(READ_SIZE)
    if dec is not None and not dec.eof:
        raise _Unreadable("truncated gzip file")


def read_records(path: Path, stats: ReadStats, on_bytes: Callable[[int], None] | None = None,
                 sink: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """Parsed JSON objects of ``path`` that may be STS events (others are only counted in ``stats``).

    The caller still checks ``eventSource``: the pre-filter is a substring test.  Regional STS
    events recognised without parsing (:func:`classify.fast_regional`) come as ``("regional", [time, …])``
    inside a batch.  With ``sink``, the events of a CloudTrail Records array (nearly everything) go
    to ``sink`` one at a time as each is parsed, and only the rest is yielded: counting a record
    while its objects are still in the CPU's cache, instead of after the whole file is parsed,
    measured a third less time on a trail of global-endpoint events (bench/RESULTS.md).
    """
    stats.files += 1
    try:
        with open(path, "rb") as fh:
            yield from _parse(_chunks(fh, stats, on_bytes), stats, sink)
    except _Unreadable as exc:
        stats.unreadable += 1
        stats.warnings.append(f"{path}: skipped: {exc}")
    except OSError as exc:
        stats.unreadable += 1
        stats.warnings.append(f"{path}: skipped: {exc.strerror or exc}")


def _parse(chunks: Iterator[bytes], stats: ReadStats, sink: Callable[[Any], None] | None = None) -> Iterator[Any]:
    buf = b""
    for chunk in chunks:  # gather enough to see the shape
        buf += chunk
        if len(buf) >= 8192:
            break
    m = _NON_WS.search(buf)
    if m is None:
        buf += b"".join(chunks)
        m = _NON_WS.search(buf)
        if m is None:
            return  # empty file: nothing to say
    off = m.start()
    if buf.startswith(_BOM, off):
        m = _NON_WS.search(buf, off + 3)
        if m is None:
            return
        off = m.start()
    first = buf[off:off + 1]
    if first == b"[":
        yield from _array(buf, off + 1, chunks, stats, closing=b"]", sink=sink)
    elif first == b"{":
        if _is_json_lines(buf, off):
            yield from _json_lines(buf[off:], chunks, stats, sink)
        elif (m := _RECORDS_PREFIX.match(buf, off)) is not None:
            yield from _array(buf, m.end(), chunks, stats, closing=b"]}", sink=sink)
        else:
            yield from _document(buf[off:], chunks, stats)
    else:
        raise _Unreadable("not JSON (expected a CloudTrail log: JSON object, array or JSON lines)")


def _is_json_lines(buf: bytes, off: int) -> bool:
    """True when the first line is a whole JSON object and something follows it."""
    nl = buf.find(b"\n", off)
    if nl < 0 or _NON_WS.search(buf, nl) is None:
        return False
    try:
        return isinstance(orjson.loads(buf[off:nl]), dict)
    except orjson.JSONDecodeError:
        return False


def _piece(seg: bytes, stats: ReadStats, put: Callable[[Any], None]) -> None:
    """One array element (usually): parse it — handing it to ``put`` — only if it can be an STS event.

    A call rather than a yield: one generator hop per event was a tenth of the run time.
    """
    if STS_MARK not in seg:
        n = seg.count(_EVENT_SOURCE)
        if n:
            stats.skipped += n
        elif seg.strip():
            stats.not_records += 1
        return
    when = fast_regional(seg)
    if when is not None:
        put((REGIONAL, [when]))
        return
    _parse_piece(seg, stats, put)


def _parse_piece(seg: bytes, stats: ReadStats, put: Callable[[Any], None]) -> None:
    """Parse a piece that may be an STS event; a piece holding several elements (key order
    differs, or a nested object looked like a boundary) is cut exactly."""
    try:
        record = orjson.loads(seg)
    except orjson.JSONDecodeError:
        items, rest = _exact_split(seg)
        for item in items:
            put(item)
        if rest.strip():
            stats.bad_records += 1
        return
    put(record)  # outside the try: the sink's own errors are not parse errors


def _exact_split(data: bytes) -> tuple[list[Any], bytes]:
    """Complete ``{…}`` elements at the front of ``data`` (comma-separated) and the unparsed rest."""
    out: list[Any] = []
    start = 0
    pos = 0
    while True:
        m = _CANDIDATE.search(data, pos)
        if m is None:
            break
        try:
            out.append(orjson.loads(data[start:m.start() + 1]))
        except orjson.JSONDecodeError:
            pos = m.start() + 1
            continue
        start = pos = m.start(1)
    tail = data[start:]
    try:
        out.append(orjson.loads(tail))
        return out, b""
    except orjson.JSONDecodeError:
        return out, tail


def _array(body: bytes, base: int, chunks: Iterator[bytes], stats: ReadStats, closing: bytes,
           sink: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """Elements of a JSON array whose opening ``[`` ends at ``body[base]``; ``closing`` ends the document.

    Fast path: AWS writes records compactly with the same first key, so the array is cut at
    ``},{"eventVersion":`` with ``bytes.find`` (C speed), and only the pieces around a
    ``sts.amazonaws.com`` are looked at; the rest is counted in one pass.  Offsets instead of
    slices: a delivery file is one chunk, and copying it several times cost a fifth of the run.
    Other layouts (pretty-printed, keys in other orders) take the regex path.
    """
    m = _FIRST_KEY.match(body, base)
    while m is None and len(body) - base < 65536:  # need the first element's first key
        nxt = next(chunks, None)
        if nxt is None:
            break
        body = body[base:] + nxt
        base = 0
        m = _FIRST_KEY.match(body, base)
    if m is not None:
        key = m.group(1)
        sep = b"},{" + key + b":"
        split = re.compile(rb"\}\s*,\s*(\{)\s*" + re.escape(key) + rb"\s*:")
    else:
        sep = b""
        split = _CANDIDATE
    ws = _NON_WS.search(body, base)
    carry, base = body, (ws.start() if ws else len(body))
    at_eof = False
    while not at_eof:
        nxt = next(chunks, None)
        if nxt is None:
            at_eof = True
        else:
            carry = carry[base:] + nxt
            base = 0
        batch: list[Any] = []
        put = sink or batch.append
        if sep and (cut := carry.rfind(sep, base)) >= 0:
            skipped = carry.count(_EVENT_SOURCE, base, cut)
            times: list[str] = []
            pos = carry.find(STS_MARK, base, cut)
            while pos >= 0:
                begin = carry.rfind(sep, base, pos)
                begin = base if begin < 0 else begin + 2  # at the element's "{"
                end = carry.find(sep, pos) + 1  # <= cut + 1, since the mark is before cut
                when = regional_time_at(carry, begin, end)
                if when is not None:  # exactly one eventSource, regional: counted, not parsed
                    skipped -= 1
                    times.append(when)
                else:
                    seg = carry[begin:end]
                    record = decode_record(seg)  # only the fields the report reads (record.py)
                    if record is not None:  # one record, one eventSource (counting them cost a tenth)
                        skipped -= 1
                        put(record)
                    else:  # another shape, or several elements glued (key order differs)
                        skipped -= seg.count(_EVENT_SOURCE)
                        _parse_piece(seg, stats, put)
                pos = carry.find(STS_MARK, end, cut)
            stats.skipped += skipped
            if times:
                put((REGIONAL, times))
            base = cut + 2
        else:
            for sm in split.finditer(carry, base):
                _piece(carry[base:sm.start() + 1], stats, put)
                base = sm.start(1)
        if batch:
            yield batch
        if len(carry) - base > MAX_CARRY and not at_eof:
            items, rest = _exact_split(carry[base:])
            carry, base = rest, 0
            if items:
                yield items
    tail = carry[base:].rstrip(_WS)
    end = _strip_closing(tail, closing)
    if end is None:
        stats.bad_records += 1
        stats.warnings.append("a JSON array ends early (truncated file?): its last element was skipped")
        items, _ = _exact_split(tail)
        yield from items
        return
    if end.strip():
        batch = []
        _piece(end, stats, sink or batch.append)
        if batch:
            yield batch


def _strip_closing(tail: bytes, closing: bytes) -> bytes | None:
    """``tail`` without the closing ``]`` (or ``]}``) and whitespace; None if they are missing."""
    for ch in reversed(closing):
        if not tail.endswith(bytes([ch])):
            return None
        tail = tail[:-1].rstrip(_WS)
    return tail


def _json_lines(buf: bytes, chunks: Iterator[bytes], stats: ReadStats,
                sink: Callable[[Any], None] | None = None) -> Iterator[Any]:
    carry = buf
    at_eof = False
    while not at_eof:
        nxt = next(chunks, None)
        if nxt is None:
            at_eof = True
            lines = carry.split(b"\n")
            carry = b""
        else:
            carry += nxt
            lines = carry.split(b"\n")
            carry = lines.pop()
        batch: list[Any] = []
        put = sink or batch.append
        times: list[str] = []  # regional events of this chunk, counted without parsing, in bulk
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if line.startswith(b'{"Records"'):
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    stats.bad_records += 1
                continue
            if STS_MARK not in line:
                if _EVENT_SOURCE in line:
                    stats.skipped += 1
                else:
                    stats.not_records += 1
                continue
            when = fast_regional(line)
            if when is not None:
                times.append(when)
                continue
            record = decode_record(line)
            if record is None:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    stats.bad_records += 1
                    continue
            put(record)
        if times:
            put((REGIONAL, times))
        if batch:
            yield batch


def _document(buf: bytes, chunks: Iterator[bytes], stats: ReadStats) -> Iterator[Any]:
    """A single (possibly pretty-printed) value, or concatenated values: read whole, up to DOC_CAP."""
    parts = [buf]
    size = len(buf)
    for chunk in chunks:
        size += len(chunk)
        if size > DOC_CAP:
            raise _Unreadable(f"a single JSON value larger than {DOC_CAP >> 20} MB that is not a Records array")
        parts.append(chunk)
    data = b"".join(parts)
    try:
        yield orjson.loads(data)
        return
    except orjson.JSONDecodeError:
        pass
    try:  # concatenated values, e.g. pretty-printed records one after another
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8 JSON") from None
    decoder = json.JSONDecoder()
    pos, n = 0, len(text)
    values = 0
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if values == 0:
                raise _Unreadable(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
            stats.bad_records += 1
            break
        values += 1
        yield value
