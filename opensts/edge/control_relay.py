"""IAM, Organizations and Account calls in a process of their own: the server's control worker.

Why (issue 19 item 2): an IAM write served inside a worker made that worker's STS calls dearer —
its thread takes the worker's GIL and evicts the event loop's caches. Measured on this 2-core
machine (bench/scale_writes.py, bench/RESULTS.md), AssumeRole with 100 IAM writes/s in the
background kept 77-81 % of its rate on SQLite and 66-68 % on PostgreSQL with the writes in the
workers, 87-90 % and 74-79 % (medians of 3-5 rounds, several runs) with them in the control
worker. AWS runs IAM the same way: one control plane, apart from STS.

How: with two or more workers (and ``[server] control_process``, on by default), the supervisor
forks one more worker, the *control worker*, serving only a Unix socket in a private folder
(0700; the socket 0600). A worker that receives a control-plane call (``is_control_call``) sends
the request, as it received it, to that socket (``ControlRelay``) and answers with what comes back,
status, headers and body unchanged. The control worker decodes the request (``RelayEndpoint``)
and serves it with the same app as any worker — SigV4, authorization, the audit record, metrics
and the access log happen there, once. Nothing a client sends reaches the socket except inside
the relayed request's body: a client cannot set what the control worker believes.

Read-your-writes: a write in the control worker drops what it touched from that process's caches
at once (``StoreCache.catch_up``); the tokens come back to the relaying worker in one response
header, and it drops them from its own caches before it answers. So a key deactivated, a policy
changed, is seen by the next call on the same connection, as when the worker served the write.
The other workers see it within ``cache_check_interval`` (1 s), as before.

When the control worker is not there (starting, or killed and being replaced: about a second) a
call waits for it up to ``CONNECT_WAIT`` seconds, then answers ``ServiceUnavailable`` (HTTP 503,
which SDKs retry); STS keeps answering throughout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httptools
import orjson

from opensts.edge.body import read_body
from opensts.edge.control_plane import UNAVAILABLE_MESSAGE
from opensts.edge.pipeline import Request
from opensts.protocol.errors import ServiceUnavailable
from opensts.store.cache import TOUCHED
from opensts.store.changes import EVERYTHING, Token

if TYPE_CHECKING:
    from opensts.app_state import AppState

__all__ = ["CONTROL_JSON_APIS", "ControlRelay", "RelayEndpoint", "TOUCHED_HEADER", "bind_socket", "is_control_call", "socket_path"]

log = logging.getLogger("opensts.edge")

RELAY_PATH = "/relay"
STATUS_PATH = "/status"  # the control worker's ControlPlane.status(), for the workers' /readyz
STATUS_TIMEOUT = 0.5
TOUCHED_HEADER = "x-opensts-touched"
RELAY_TIMEOUT = 60.0  # seconds for the control worker's answer (a write waits for database locks)
CONNECT_WAIT = 5.0  # seconds a call waits for a control worker that is starting (or being replaced)
MAX_TOUCHED = 256  # more tokens than this come back as "everything" (the header stays small)
#: response headers the relaying worker sets itself, or that are only the relay's
_NOT_RELAYED = frozenset({"content-length", "content-type", "date", "server", "connection", "transfer-encoding",
                          "keep-alive", TOUCHED_HEADER})
_FOLDER_PREFIX = "opensts-control-"


def socket_path() -> str:
    """A fresh private folder (0700) for the control worker's socket, made by the parent before it
    forks, named for the parent's PID; the folders of servers that died without cleaning up (kill
    -9 of the parent) are removed first. Why not DATA_DIR: a Unix socket path is limited to 107
    bytes, data folders can be deep, and two servers share one during a --reuse-port restart."""
    remove_stale_folders(tempfile.gettempdir())
    return os.path.join(tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-"), "control.sock")


def remove_stale_folders(parent: str) -> None:
    """Remove this user's control-socket folders whose server (the PID in the name) is gone.
    Only real folders (no symbolic link is followed) owned by this user are touched."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(_FOLDER_PREFIX):].split("-", 1)[0] if entry.name.startswith(_FOLDER_PREFIX) else ""
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (someone else's counts: not ours to judge)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def bind_socket(path: str, backlog: int) -> socket.socket:
    """The control worker's listening socket (a stale one from a killed predecessor is replaced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(backlog)
    return sock


#: The JSON APIs of the control plane (by credential scope); IAM is known by its host or scope.
CONTROL_JSON_APIS = frozenset({"organizations", "account"})


def is_control_call(params: dict[str, str] | None, service: str | None, is_iam: bool) -> bool:
    """A call for the control plane, as the edge routes it: IAM (its host or its credential scope),
    or the Organizations and Account JSON APIs (``service``: the credential scope's) — unless the
    request names an Action (``params``: its query and form parameters, read for those only)."""
    return is_iam or (service in CONTROL_JSON_APIS and params is not None and "Action" not in params)


# -- the request on the wire between the two -----------------------------------------------------
def encode(req: Request) -> bytes:
    """Everything the app reads of a request: one JSON line, then the body as it came."""
    head = {"m": req.method, "p": req.raw_path, "q": req.query.decode("latin-1"), "h": req.headers,
            "c": req.client_ip, "l": list(req.local) if req.local else None, "s": req.secure, "t": req.tls}
    return orjson.dumps(head) + b"\n" + req.body


def decode(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """``encode``'s bytes → an ASGI HTTP scope of the original request, and its body."""
    line, _, body = payload.partition(b"\n")
    head = orjson.loads(line)
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": head["m"],
        "path": head["p"], "raw_path": head["p"].encode("latin-1"), "query_string": head["q"].encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head["h"]],
        "client": (head["c"], 0), "server": tuple(head["l"]) if head["l"] else None,
        "scheme": "https" if head["s"] else "http", "opensts.relayed": True,
    }
    if head["t"]:
        scope["extensions"] = {"opensts.tls": head["t"]}
    return scope, body


def encode_tokens(tokens: Iterable[Token]) -> str:
    found = list(tokens)
    if EVERYTHING in found or len(found) > MAX_TOUCHED:
        found = [EVERYTHING]
    return orjson.dumps(found).decode()


def decode_tokens(text: str) -> set[Token]:
    """``encode_tokens``' text → tokens; anything else is "everything" (rather than keep something stale)."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {EVERYTHING}
    if not isinstance(raw, list) or not all(
            isinstance(t, list) and len(t) == 2 and all(isinstance(v, str) for v in t) for t in raw):
        return {EVERYTHING}
    return {(kind, key) for kind, key in raw}


# -- in a worker ---------------------------------------------------------------------------------
class ControlRelay:
    """A worker's way to the control worker: HTTP/1.1 over a few keep-alive Unix-socket connections.

    Why not httpx (a dependency, used for IdP fetches): measured here, an httpx request over a Unix
    socket costs its caller ≈ 700 µs of CPU, this one ≈ 30 µs — on the worker's event loop, which
    the relay exists to spare. The response is parsed by httptools (uvicorn's C parser)."""

    def __init__(self, path: str, state: AppState, idle: int = 16) -> None:
        self.path = path
        self.state = state
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._max_idle = idle
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the idle connections belong to

    async def forward(self, req: Request) -> tuple[int, bytes, bytes, dict[str, str]]:
        """The control worker's answer to ``req``: (status, body, content type, other headers —
        its request id among them)."""
        payload = encode(req)
        try:
            async with asyncio.timeout(RELAY_TIMEOUT):  # no task per call, as wait_for makes
                status, headers, body = await self._exchange(payload)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, httptools.HttpParserError) as exc:
            log.warning("control worker unavailable (%s): IAM, Organizations and Account calls answer "
                        "ServiceUnavailable", type(exc).__name__)
            raise ServiceUnavailable(UNAVAILABLE_MESSAGE) from None
        touched = headers.get(TOUCHED_HEADER)
        if touched:
            self.state.drop_touched(decode_tokens(touched))
        extra = {k: v for k, v in headers.items() if k not in _NOT_RELAYED}
        return status, body, headers.get("content-type", "text/xml").encode("latin-1"), extra

    async def status(self) -> dict[str, Any]:
        """The control worker's view of the control plane (``ControlPlane.status``), for /readyz;
        ``{"control_worker": False}`` when it does not answer within ``STATUS_TIMEOUT``."""
        try:
            async with asyncio.timeout(STATUS_TIMEOUT):
                status, headers, body = await self._exchange(None)
            found = orjson.loads(body) if status == 200 else None
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, httptools.HttpParserError,
                orjson.JSONDecodeError):
            found = None
        return found if isinstance(found, dict) else {"control_worker": False}

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections are a loop's own (a warm-up ran its own loop)
            self._idle, self._loop = [], loop
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():  # not closed by a control worker since gone
                return reader, writer
            writer.close()
        return await _connect(self.path, loop.time() + CONNECT_WAIT)

    async def _exchange(self, payload: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """One request on a kept-alive connection: a relayed call (``payload``), or None: GET the status."""
        reader, writer = await self._connection()
        try:
            if payload is None:
                writer.write(b"GET " + STATUS_PATH.encode() + b" HTTP/1.1\r\nhost: control\r\n\r\n")
            else:
                writer.write(b"POST " + RELAY_PATH.encode() + b" HTTP/1.1\r\nhost: control\r\n"
                             b"content-type: application/octet-stream\r\ncontent-length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            answer = _Answer()
            parser = httptools.HttpResponseParser(answer)
            while not answer.done:
                data = await reader.read(65536)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
                parser.feed_data(data)
            # HTTP/1.1 keeps the connection unless the answer says close (a draining control worker);
            # httptools' should_keep_alive() is reset once the message is complete
            keep = parser.get_http_version() == "1.1" and answer.headers.get("connection", "").lower() != "close"
            status = parser.get_status_code()
        except BaseException:
            writer.close()
            raise
        if keep and len(self._idle) < self._max_idle:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, answer.headers, b"".join(answer.body)


async def _connect(path: str, deadline: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A new connection to the control worker; while it is not listening yet (the server is
    starting, or it is being replaced after a crash), try again every 50 ms until ``deadline``."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await asyncio.open_unix_connection(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.05)


class _Answer:
    """httptools' callbacks: the response's headers (lower-case names; the first of each) and body."""

    __slots__ = ("headers", "body", "done")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


# -- in the control worker -----------------------------------------------------------------------
class RelayEndpoint:
    """The control worker's ASGI app: a relayed request (``encode``) in, the app's answer out, with
    the cache tokens its writes touched in ``TOUCHED_HEADER``."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == STATUS_PATH and scope.get("method") == "GET":
            body = orjson.dumps(self.app.control.status())
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope.get("path") != RELAY_PATH or scope.get("method") != "POST":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        payload = await read_body(receive, self.limit)
        inner, body = decode(payload)
        touched: set[Token] = set()
        mark = TOUCHED.set(touched)

        async def inner_receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def inner_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and touched:
                message = {**message, "headers": [*message["headers"],
                                                  (TOUCHED_HEADER.encode(), encode_tokens(touched).encode())]}
            await send(message)

        try:
            await self.app(inner, inner_receive, inner_send)
        finally:
            TOUCHED.reset(mark)
