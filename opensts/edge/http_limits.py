"""Bounds on what one HTTP client can make a worker hold, or wait for, before the ASGI app runs.

Why a protocol subclass: uvicorn's httptools protocol gives the app a request only once its head
is complete, and reads a body for as long as the client keeps sending it, so neither bound can
live in the app.  Without them:

* a request head had no size limit.  httptools joins the pieces of a header value as they arrive
  (``bytes += piece`` per read, in its Cython parser), and uvicorn joins those of the URL the same
  way (``on_url``): a single 256 MiB header was accepted, costing quadratic copying and ~1.4x its
  size in memory.  The pieces never reach us one by one (``on_header`` sees the joined header), so
  the bound is on the bytes *fed to the parser*: at most ``head_bytes`` of a head, then at most
  ``head_bytes`` of a chunked body's framing and trailer fields (the bytes fed less those
  ``on_body`` reports), past which the client gets 431 (414 for a URL) and the connection is
  closed (a lingering close, so that the client reads the answer).  Pieces fed are at most that
  size, so a count that restarts in the middle of one (where a head ends, or where a pipelined
  head begins) misses at most one piece; so the number of header and trailer fields is bounded, a
  pipelined head is also measured exactly once parsed, and trailer fields once the body ends.
* a client sending its head or body slowly (slowloris), or a body shorter than its
  Content-Length, held the connection and its buffers forever: uvicorn's ``timeout_keep_alive``
  runs only *between* requests, and a new connection that sends nothing had no timer at all.  Now
  each request must arrive whole (head and body) within ``request_timeout`` seconds of its first
  byte (of the connection, for the first one); else 408 (when no response is under way) and the
  connection is closed, so the app waiting for the body sees a disconnect.  A request that arrives
  in one read (nearly all) arms no timer.

The refusals are plain HTTP (as uvicorn's own 400 for an unparsable request): the service the
request was for is not known before its head is read.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, NoReturn

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from opensts.frozen import frozen
from opensts.settings import Settings

__all__ = ["HttpLimits", "LimitedHttpToolsProtocol"]

MAX_PIPELINED = 16  # parsed requests waiting for the answer to an earlier one on their connection
PIPELINED_PIECE = 1024  # bytes fed to the parser at a time while reading ahead of an answer
HEAD_PIECE = 4096  # bytes fed to the parser at a time while a head is open
LINGER_SECONDS = 2.0  # after a refusal, at most this long draining what the client still sends
LINGER_IDLE_SECONDS = 0.5  # ... and closed as soon as it sent nothing for this long


@frozen
class HttpLimits:
    """The bounds of one server (from ``Settings``, which holds the defaults)."""

    head_bytes: int  # per request, bytes that are not body: request line, header fields, chunk framing, trailers
    header_fields: int
    request_timeout: float  # seconds from a request's first byte to its last

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(settings.max_request_head_bytes, settings.max_header_fields, settings.request_timeout)


class _Refused(Exception):
    """Raised from a parser callback to stop the parser; the response is in ``status``/``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and a per-request deadline.

    Subclasses bind ``limits`` (``edge/serve.py``: ``protocol_class``); one instance per connection."""

    limits: ClassVar[HttpLimits]

    _in_head = True  # the head of the current request is not complete
    _overhead = 0  # bytes of the current head (then: of its body's framing) fed to the parser, less body bytes
    _ended_in_piece = False  # a request ended in the piece being fed
    _late_count = False  # the current head began in the piece that ended the previous request
    _head_fields = 0  # header fields of the current request, without trailer fields
    _message_open = False  # between on_message_begin and on_message_complete
    _refusal: _Refused | None = None  # raised by a parser callback, answered by send_400_response
    _pending: _Refused | None = None  # to answer once the responses to earlier requests are out
    _lingering = False  # refused: reading only to discard, until the client closes
    _linger_until = _last_read = 0.0
    _started: float | None = None  # loop time of the first byte of the request being received
    # Received, not parsed yet: MAX_PIPELINED requests already wait for the answer to an earlier
    # one.  uvicorn queued every pipelined request of a read (~2 KiB each, for as little as 18
    # bytes received) and resumed reading after each answer: 4 MiB of pipelined requests took
    # 190 MiB.  A head is fed HEAD_PIECE bytes at a time (one piece for nearly every request),
    # and while reading ahead of an answer PIPELINED_PIECE at a time, and nothing while
    # MAX_PIPELINED wait: at most 4096/18 + 1024/18 + 16 ≈ 300 queued (~0.6 MiB) per connection.
    _held = b""
    _deadline: asyncio.TimerHandle | None = None

    # -- the deadline ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._started = self.loop.time()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None and self._started is not None:
            self._deadline = self.loop.call_at(self._started + self.limits.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        self._started = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        """The request did not arrive whole in time: 408 if a request began and no response is
        under way (a silent close otherwise: an idle new connection, junk between requests)."""
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_flight():  # waiting for our answer to an earlier request (reading is paused meanwhile)
            self._started = self.loop.time()
            self._arm()
            return
        if self._message_open and (self._in_head or not self.cycle.response_started):
            self._write_plain(408, "Request not received in time.")
        self.transport.close()

    # -- feeding the parser ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused: discarded (see _refuse)
            self._last_read = self.loop.time()
            return
        if self._held:
            data, self._held = self._held + data, b""
        if self._started is None:
            self._started = self.loop.time()
        while data and not self._lingering and not self.transport.is_closing():
            if len(self.pipeline) >= MAX_PIPELINED:  # see _held
                self._held = data
                self.flow.pause_reading()
                break
            room = self.limits.head_bytes - self._overhead
            if room <= 0:
                self._refuse(self._too_large())
                return
            room = min(room, PIPELINED_PIECE if self._in_flight() else HEAD_PIECE if self._in_head else room)  # see _held
            piece, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            self._overhead += len(piece)  # until on_body says which of them were body
            self._ended_in_piece = False
            super().data_received(piece)
            if self._overhead < 0:  # the head ended in this piece and body bytes followed it
                self._overhead = 0
        if self._started is not None and not self._lingering and not self.transport.is_closing():
            self._arm()  # the request is still incomplete after this read

    def _too_large(self) -> _Refused:
        """414 when the bytes fed so far are (nearly) all URL, else 431."""
        if not self._in_head:
            return _Refused(431, "Request trailer fields or chunk framing too large.")
        if self._message_open and len(self.url) + 16 >= self._overhead:  # 16: the method and spaces
            return _Refused(414, "Request URI too long.")
        return _Refused(431, "Request header fields too large.")

    def on_body(self, body: bytes) -> None:
        self._overhead -= len(body)
        super().on_body(body)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_open = True
        self._late_count = self._ended_in_piece
        if self._started is None:  # pipelined: it began in the read that ended the previous one
            self._started = self.loop.time()

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.limits.head_bytes:
            self._stop(414, "Request URI too long.")
        super().on_url(url)

    def on_headers_complete(self) -> None:
        """The number of header fields; and their size exactly when the byte count started late
        (``on_header`` is not overridden: a call per field cost ~1 µs per request)."""
        headers = self.headers
        if len(headers) > self.limits.header_fields or (
            self._late_count and len(self.url) + sum(len(n) + len(v) for n, v in headers) > self.limits.head_bytes
        ):
            self._stop(431, "Request header fields too large.")
        self._in_head, self._overhead = False, 0  # from here: chunk framing and trailers
        self._head_fields = len(headers)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        headers = self.headers
        if len(headers) > self._head_fields and (  # chunked trailer fields, appended to the headers
            len(headers) > self.limits.header_fields
            or sum(len(n) + len(v) for n, v in headers[self._head_fields:]) > self.limits.head_bytes
        ):
            self._stop(431, "Request trailer fields too large.")
        self._ended_in_piece = True
        self._message_open = False
        self._in_head, self._overhead = True, 0
        self._disarm()
        super().on_message_complete()

    # -- refusing ----------------------------------------------------------------------------
    def _stop(self, status: int, reason: str) -> NoReturn:
        """From a parser callback: the parser stops (uvicorn then calls ``send_400_response``)."""
        self._refusal = _Refused(status, reason)
        raise self._refusal

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error (400); a refusal raised by ``_stop`` is one."""
        refusal, self._refusal = self._refusal, None
        self._refuse(refusal or _Refused(400, msg))

    def _refuse(self, refusal: _Refused) -> None:
        """Stop reading requests; answer now, or once the responses to earlier (pipelined)
        requests are out (``on_response_complete``), or not at all if this request was answered
        already (e.g. 413 while its body still arrives); then close."""
        self._lingering = True  # nothing more is fed to the parser
        self._disarm()
        if self._in_flight():
            self._pending = refusal
        elif self._in_head or not self.cycle or not self.cycle.response_started:
            self._answer_and_close(refusal)
        else:
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next pipelined request, if one is queued
        if self._held and not self.transport.is_closing():
            self.data_received(b"")  # parse on, now that there is room in the pipeline
        if self._pending is not None and not self._in_flight() and not self.transport.is_closing():
            refusal, self._pending = self._pending, None
            self._answer_and_close(refusal)

    def _in_flight(self) -> bool:
        """Whether a response to an earlier request is still to be written."""
        cycle = self.cycle
        if cycle is None:
            return False
        if self.pipeline:
            return True
        return not cycle.response_complete if self._in_head else False

    def _answer_and_close(self, refusal: _Refused) -> None:
        """Answer, then a lingering close: closing a socket with unread data makes the kernel
        reset the connection, and a client still sending its (oversized) request would get
        "connection reset" instead of our answer.  So, as nginx's ``lingering_close``: the read
        side is drained and discarded until the client closes or pauses, for ``LINGER_SECONDS``
        at most."""
        self._write_plain(refusal.status, refusal.reason)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_until = self.loop.time() + LINGER_SECONDS
        self._last_read = self.loop.time()
        self.loop.call_later(LINGER_IDLE_SECONDS, self._linger_check)

    def _linger_check(self) -> None:
        now = self.loop.time()
        if now >= self._linger_until or now - self._last_read >= LINGER_IDLE_SECONDS:
            self.transport.close()
        else:
            self.loop.call_later(LINGER_IDLE_SECONDS / 2, self._linger_check)

    def _write_plain(self, status: int, reason: str) -> None:
        """A plain-text response with ``connection: close``."""
        body = reason.encode("ascii")
        head = [STATUS_LINE[status]]
        head += [b"%s: %s\r\n" % pair for pair in self.server_state.default_headers]
        head.append(b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
