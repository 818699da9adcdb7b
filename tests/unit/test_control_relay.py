"""The relay between a worker and the control worker (edge/control_relay.py), in-process.

(1) A relayed request reaches the control worker's app exactly as the worker received it: for
any method, path, query, header list (latin-1 text, repeated and mixed-case names), body bytes,
client address, local address, scheme and TLS facts, the scope ``decode`` builds gives the same
``Request`` the worker built (property-based). (2) The cache tokens a write touched come back
whole, and anything unreadable or too large comes back as "everything" (never as nothing). (3)
The worker's client speaks HTTP/1.1 to a real uvicorn on a Unix socket: keep-alive connections
are reused, a closed one is replaced, a control worker that is not there yet is waited for (a
bounded time), and one that never comes is ServiceUnavailable — never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.edge import control_relay as relay
from opensts.edge.asgi import _request
from opensts.edge.body import read_body
from opensts.edge.pipeline import Request
from opensts.protocol.errors import ServiceUnavailable
from opensts.store.changes import EVERYTHING

_latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=20)


@st.composite
def requests(draw: Any) -> Request:
    headers = draw(st.lists(st.tuples(_token, _latin1), max_size=8))
    tls = draw(st.none() | st.fixed_dictionaries({"version": _latin1, "cipher": _latin1}))
    local = draw(st.none() | st.tuples(st.sampled_from(["127.0.0.1", "::1", "10.0.0.7"]), st.integers(0, 65535)))
    return Request(draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])),
                   "/" + draw(_latin1).replace("?", ""), draw(st.binary(max_size=60)).replace(b"\x00", b""),
                   headers, draw(st.binary(max_size=300)), draw(st.sampled_from(["127.0.0.1", "203.0.113.9", "::1", ""])),
                   local, draw(st.booleans()), tls)


@settings(max_examples=300, deadline=None)
@given(requests())
def test_a_relayed_request_is_the_request_the_worker_received(req: Request) -> None:
    req.query = bytes(b for b in req.query if b < 128)  # a query string as ASGI gives it (bytes of the URL)
    scope, body = relay.decode(relay.encode(req))
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    lookup = {k.lower(): v for k, v in reversed(headers)}
    again = _request(scope, headers, lookup, body)
    for field in ("method", "raw_path", "query", "headers", "body", "client_ip", "secure", "tls"):
        assert getattr(again, field) == getattr(req, field), field
    assert again.local == req.local
    assert scope["opensts.relayed"] is True


@given(st.sets(st.tuples(_token, _token), max_size=relay.MAX_TOUCHED))
def test_touched_tokens_come_back_whole(tokens: set[tuple[str, str]]) -> None:
    assert relay.decode_tokens(relay.encode_tokens(tokens)) == (tokens or set())


def test_too_many_or_unreadable_tokens_mean_everything() -> None:
    many = {("role", f"AROA{i}") for i in range(relay.MAX_TOUCHED + 1)}
    assert relay.decode_tokens(relay.encode_tokens(many)) == {EVERYTHING}
    assert relay.decode_tokens(relay.encode_tokens({("role", "x"), EVERYTHING})) == {EVERYTHING}
    for garbage in ("", "[", "{}", "[1]", '[["a"]]', "null", '"x"', "[[1,2,3]]"):
        assert relay.decode_tokens(garbage) == {EVERYTHING}, garbage


# -- the client against a real uvicorn on a Unix socket ------------------------------------------
class _Echo:
    """The control worker's side: answers each request with its body's length."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        answer = str(len(await read_body(receive, 1 << 30))).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/xml"), (b"content-length", str(len(answer)).encode()),
            (b"x-amzn-requestid", b"rid-1"), (relay.TOUCHED_HEADER.encode(), b'[["role","AROA1"]]')]})
        await send({"type": "http.response.body", "body": answer})


class _State:
    def __init__(self) -> None:
        self.dropped: list[set[tuple[str, str]]] = []

    def drop_touched(self, tokens: set[tuple[str, str]]) -> None:
        self.dropped.append(tokens)


def _serve(path: str, app: Any) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, uds=path, log_level="warning", lifespan="off", loop="asyncio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return server, thread


def _request_for(body: bytes) -> Request:
    return Request("POST", "/", b"", [("host", "iam.amazonaws.com")], body, "127.0.0.1", ("127.0.0.1", 8600), False)


def _accepted(path: str) -> int:
    """Connections made to ``path`` so far that are still open (server side), from /proc/net/unix."""
    return sum(1 for line in Path("/proc/net/unix").read_text().splitlines()[1:]
               if line.endswith(" " + path) and line.split()[5] == "03")


def test_the_relay_reuses_its_connections_and_relays_the_answer(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    app = _Echo()
    server, thread = _serve(path, app)
    state = _State()
    client = relay.ControlRelay(path, state)

    async def calls() -> list[tuple[int, bytes, bytes, dict[str, str]]]:
        return [await client.forward(_request_for(b"x" * n)) for n in (0, 10, 100_000)]

    try:
        answers = asyncio.run(calls())
    finally:
        server.should_exit = True
        thread.join(10)
    lengths = [int(body) for _, body, _, _ in answers]
    head = len(relay.encode(_request_for(b"")))
    assert lengths == [head, head + 10, head + 100_000]  # each request whole
    for status, _body, ctype, extra in answers:
        assert status == 200 and ctype == b"text/xml"
        assert extra["x-amzn-requestid"] == "rid-1"
        assert relay.TOUCHED_HEADER not in extra and "content-length" not in extra
    assert state.dropped == [{("role", "AROA1")}] * 3  # what the write touched, dropped before answering


def test_one_connection_serves_many_calls(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    server, thread = _serve(path, _Echo())
    client = relay.ControlRelay(path, _State())
    seen: list[int] = []

    async def calls() -> None:
        for _ in range(20):
            await client.forward(_request_for(b"abc"))
            seen.append(_accepted(path))

    try:
        asyncio.run(calls())
    finally:
        server.should_exit = True
        thread.join(10)
    assert max(seen) == 1, seen  # sequential calls: one kept-alive connection, not one each


def test_a_control_worker_that_starts_late_is_waited_for(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    client = relay.ControlRelay(path, _State())
    started: dict[str, Any] = {}

    def later() -> None:
        time.sleep(0.5)
        started["server"] = _serve(path, _Echo())

    threading.Thread(target=later, daemon=True).start()
    try:
        status, _body, _ctype, _extra = asyncio.run(client.forward(_request_for(b"abc")))
    finally:
        deadline = time.monotonic() + 10
        while "server" not in started and time.monotonic() < deadline:
            time.sleep(0.05)
        server, thread = started["server"]
        server.should_exit = True
        thread.join(10)
    assert status == 200


def test_no_control_worker_is_service_unavailable_in_bounded_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "CONNECT_WAIT", 0.3)
    client = relay.ControlRelay(str(tmp_path / "nobody.sock"), _State())
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        asyncio.run(client.forward(_request_for(b"abc")))
    assert time.monotonic() - began < 3


def test_a_socket_that_accepts_and_closes_is_service_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)

    def close_each() -> None:
        for _ in range(2):
            conn, _ = sock.accept()
            conn.recv(65536)
            conn.close()

    threading.Thread(target=close_each, daemon=True).start()
    client = relay.ControlRelay(path, _State())
    try:
        with pytest.raises(ServiceUnavailable):
            asyncio.run(client.forward(_request_for(b"abc")))
    finally:
        sock.close()
        os.unlink(path)


def test_control_folders_of_dead_servers_are_removed(tmp_path: Path) -> None:
    """A server killed with -9 cannot remove its socket folder; the next start does (its PID is
    gone), and leaves a running server's, another user's and anything not a folder alone."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"opensts-control-{dead.pid}-abc"
    stale.mkdir()
    (stale / "control.sock").write_text("")
    running = tmp_path / f"opensts-control-{os.getpid()}-def"
    running.mkdir()
    unrelated = tmp_path / "opensts-control-notapid-x"
    unrelated.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / f"opensts-control-{dead.pid}-link"
    link.symlink_to(target)
    relay.remove_stale_folders(str(tmp_path))
    assert not stale.exists()
    assert running.exists() and unrelated.exists() and link.is_symlink() and target.exists()
