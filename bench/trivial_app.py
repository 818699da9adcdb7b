"""The ceiling: a raw ASGI app that returns a fixed 400-byte XML body, served like OpenSTS.

Why it exists: no Python HTTP service can beat "read the request, send a constant" under the same
ASGI server, so its requests/s is the ceiling OpenSTS is measured against (target: ≥ 50 %).

To be a fair ceiling it is served *exactly* the way ``opensts serve`` serves (see
opensts/edge/serve.py): sockets bound in the parent, ``--workers`` processes forked after binding,
uvicorn with uvloop + httptools (OpenSTS's protocol class: one write per response), lifespan off,
access log off, no Server header. It reads the request body to the end (as OpenSTS must) and
answers with the same three headers OpenSTS sends.

Run: ``python bench/trivial_app.py --listen 127.0.0.1:PORT --workers N``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from opensts.edge.serve import bind_sockets, protocol_class, spread  # the venv's (or bench/run.py's snapshot)
from opensts.settings import Settings, parse_listen

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _fixed_body(size: int = 400) -> bytes:
    """A GetCallerIdentity-shaped XML document padded to exactly ``size`` bytes."""
    head = (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/admin</Arn>"
        b"<UserId>AIDABZ6XC7PNGAPMM2AQT</UserId><Account>111122223333</Account>"
        b"</GetCallerIdentityResult><ResponseMetadata><RequestId>"
    )
    tail = b"</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    pad = size - len(head) - len(tail)
    assert pad > 0, "body template longer than the requested size"
    return head + b"0" * pad + tail


BODY = _fixed_body()
assert len(BODY) == 400
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/xml"),
        (b"content-length", str(len(BODY)).encode()),
        (b"x-amzn-requestid", b"00000000-0000-0000-0000-000000000000"),
    ],
}
BODY_MSG = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Drain the request body, then send the constant response."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] != "http.disconnect"
    await send(START)
    await send(BODY_MSG)


def _protocol() -> Any:
    """OpenSTS's uvicorn protocol class (httptools with OpenSTS's request limits and deadline,
    responses written in one piece), so the ceiling is served exactly as OpenSTS is; plain
    httptools with TRIVIAL_PLAIN_HTTPTOOLS=1."""
    if os.environ.get("TRIVIAL_PLAIN_HTTPTOOLS"):
        return "httptools"
    return protocol_class(Settings(Path(".")))


def _serve(sock: socket.socket) -> None:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=_protocol(),
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8700", help="HOST:PORT (default %(default)s)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    socks = bind_sockets((parse_listen(args.listen),))  # bound and spread exactly as `opensts serve` does
    groups = spread(socks, args.workers)
    if args.workers <= 1:
        _serve(groups[0][0])
        return
    children: list[int] = []
    for (sock,) in groups:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                _serve(sock)
            finally:
                os._exit(0)
        children.append(pid)
    for (sock,) in groups:
        sock.close()

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        try:
            os.waitpid(child, 0)
        except ChildProcessError:
            pass
    sys.stdout.flush()


if __name__ == "__main__":
    main()
