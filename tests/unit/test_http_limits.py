"""The request-head bound of edge/http_limits.py, property-based: the protocol the server runs
(``serve.protocol_class``), fed requests cut into arbitrary pieces through a recording transport.

Properties, over header sets of any size and number, URLs of any length, chunked trailers and
any way of cutting the bytes into reads:
* a request within the limits reaches the app exactly (same URL, headers, body), however cut;
* one past them is refused (431, or 414 for its URL) with ``connection: close``, never reaches
  the app, and the parser was never fed more than the limit of non-body bytes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import event, given, settings
from hypothesis import strategies as st
from uvicorn.server import ServerState

from opensts.edge.serve import protocol_class
from opensts.settings import Settings, StartupError

LIMIT, FIELDS = 4096, 20  # small limits, so that examples cross them often
SETTINGS = Settings(Path("."), max_request_head_bytes=LIMIT, max_header_fields=FIELDS, request_timeout=30.0)


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def serve(request: bytes, cuts: list[int], rounds: int = 5) -> tuple[bytes, list[dict[str, Any]], int]:
    """Feed ``request`` cut at ``cuts``; (what was written back, what the app saw, the most
    non-body bytes the parser had been fed at any point)."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append({"path": scope["raw_path"], "query": scope["query_string"], "headers": list(scope["headers"]),
                     "body": body})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(app, lifespan="off", log_level="critical")
        config.load()
        proto = protocol_class(SETTINGS)(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        transport = Transport()
        proto.connection_made(transport)  # type: ignore[arg-type]
        most = 0
        for start, end in zip([0, *cuts], [*cuts, len(request)]):
            if transport.closing:
                break
            proto.data_received(request[start:end])
            most = max(most, proto._overhead)  # noqa: SLF001
            loop.run_until_complete(asyncio.sleep(0))
        for _ in range(rounds):
            loop.run_until_complete(asyncio.sleep(0))
        proto.connection_lost(None)
        for _ in range(5):  # an app waiting for the body sees the disconnect and ends
            loop.run_until_complete(asyncio.sleep(0))
        return transport.written, seen, most
    finally:
        loop.close()


TOKEN = st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=20)
VALUE = st.builds(lambda c, n: c * n, st.sampled_from("vxyz09-_"), st.integers(0, 3000))
HEADERS = st.lists(st.tuples(TOKEN, VALUE), max_size=30)
URL = st.builds(lambda n: "/?q=" + "u" * n, st.integers(0, 6000))


def request_bytes(url: str, headers: list[tuple[str, str]], body: bytes = b"", trailer: str = "") -> bytes:
    head = f"POST {url} HTTP/1.1\r\nhost: x\r\n" + "".join(f"x-{k}: {v}\r\n" for k, v in headers)
    if trailer:
        chunked = b"%x\r\n%s\r\n0\r\nx-trailer: %s\r\n\r\n" % (len(body), body, trailer.encode())
        return (head + "transfer-encoding: chunked\r\n\r\n").encode() + chunked
    return (head + f"content-length: {len(body)}\r\n\r\n").encode() + body


@settings(max_examples=150, deadline=None)
@given(url=URL, headers=HEADERS, body=st.binary(max_size=9000), data=st.data())
def test_within_the_limits_served_exactly_past_them_refused(url: str, headers: list[tuple[str, str]], body: bytes,
                                                            data: st.DataObject) -> None:
    request = request_bytes(url, headers, body)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(request) - 1), max_size=12)))
    written, seen, most = serve(request, cuts)
    head_raw = request.index(b"\r\n\r\n") + 4
    fields = len(headers) + 2
    counted = len(url) + sum(len(f"x-{k}") + len(v) for k, v in headers) + len("host") + 1 + 14 + len(str(len(body)))
    if head_raw <= LIMIT and fields <= FIELDS:
        event("within the limits")
        assert written.startswith(b"HTTP/1.1 200 "), written[:100]
        assert seen == [{"path": url.split("?")[0].encode(), "query": url.split("?")[1].encode(),
                         "headers": [(b"host", b"x"), *((f"x-{k}".encode(), v.encode()) for k, v in headers),
                                     (b"content-length", str(len(body)).encode())], "body": body}]
    elif counted > LIMIT or fields > FIELDS:
        event("past them: URL" if len(url) > LIMIT else "past them: fields")
        assert seen == []
        status = written[9:12]
        assert status in (b"431", b"414") and b"\r\nconnection: close\r\n" in written, written[:200]
        if len(url) > LIMIT:
            assert status == b"414"
    assert most <= LIMIT


@settings(max_examples=60, deadline=None)
@given(body=st.binary(min_size=1, max_size=3000), trailer=st.builds(lambda n: "t" * n, st.integers(0, 3 * LIMIT)),
       data=st.data())
def test_chunked_trailers_are_bounded_too(body: bytes, trailer: str, data: st.DataObject) -> None:
    request = request_bytes("/", [], body, trailer or "t")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(request) - 1), max_size=12)))
    written, seen, most = serve(request, cuts)
    if len(request) - len(body) <= LIMIT:
        assert written.startswith(b"HTTP/1.1 200 ") and seen and seen[0]["body"] == body
    elif len(trailer) > LIMIT:
        assert written.startswith(b"HTTP/1.1 431 ") and not written.count(b"HTTP/1.1 200")
    assert most <= LIMIT


@settings(max_examples=80, deadline=None)
@given(first_body=st.binary(max_size=5000), url=URL, headers=HEADERS, data=st.data())
def test_pipelined_head_is_bounded_exactly_too(first_body: bytes, url: str, headers: list[tuple[str, str]],
                                               data: st.DataObject) -> None:
    """A second request sent right behind the first (its head may begin in the piece that ends
    the first, where the byte count restarts late): the same verdict as on its own."""
    first, second = request_bytes("/", [], first_body), request_bytes(url, headers)
    request = first + second
    cuts = sorted(data.draw(st.sets(st.integers(1, len(request) - 1), max_size=8)))
    written, seen, most = serve(request, cuts)
    assert written.startswith(b"HTTP/1.1 200 ") and seen[0]["body"] == first_body
    head_raw, fields = len(second), len(headers) + 2
    counted = len(url) + sum(len(f"x-{k}") + len(v) for k, v in headers) + len("host") + 1 + 14 + 1
    if head_raw <= LIMIT and fields <= FIELDS:
        assert written.count(b"HTTP/1.1 200 ") == 2 and len(seen) == 2
    elif counted > LIMIT or fields > FIELDS:
        assert len(seen) == 1 and written.count(b"HTTP/1.1 200 ") == 1
        assert written.split(b"ok", 1)[1][9:12] in (b"431", b"414")
    assert most <= LIMIT


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "86401", ""])
def test_request_timeout_setting_refuses_what_is_not_a_deadline(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OPENSTS_REQUEST_TIMEOUT_SECONDS", value)
    if value == "":  # unset: the default
        assert Settings(Path(".")).request_timeout == 30.0
        return
    with pytest.raises(StartupError, match="OPENSTS_REQUEST_TIMEOUT_SECONDS: expected a number of seconds"):
        Settings(Path("."))


def test_request_timeout_setting_and_limits_reach_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSTS_REQUEST_TIMEOUT_SECONDS", "2.5")
    limits = protocol_class(Settings(Path("."), max_request_head_bytes=1000, max_header_fields=7)).limits
    assert (limits.head_bytes, limits.header_fields, limits.request_timeout) == (1000, 7, 2.5)


@settings(max_examples=40, deadline=None)
@given(bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=60), data=st.data())
def test_many_pipelined_requests_are_all_served_in_order(bodies: list[bytes], data: st.DataObject) -> None:
    """More pipelined requests than may wait at once (MAX_PIPELINED): the rest is held unparsed
    and parsed as answers go out; every request is served, once, in order."""
    request = b"".join(request_bytes(f"/r{i}", [], body) for i, body in enumerate(bodies))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(request) - 1), max_size=6)))
    written, seen, _ = serve(request, cuts, rounds=400)
    assert [s["path"] for s in seen] == [f"/r{i}".encode() for i in range(len(bodies))]
    assert [s["body"] for s in seen] == bodies and written.count(b"HTTP/1.1 200 ") == len(bodies)
