"""Running the server: sockets, uvicorn (uvloop + httptools), worker processes, TLS.

We bind every ``--listen`` socket in the parent, then run uvicorn on those sockets in each
worker process (forked after binding, so all workers share the listening sockets and the kernel
spreads connections). The application state (database connections, key ring, compiled models)
is built inside each worker, after the fork. SIGINT/SIGTERM to the parent stop the workers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from opensts.settings import Listener, Settings

__all__ = ["bind_sockets", "run_server"]


def bind_sockets(listeners: tuple[Listener, ...]) -> list[socket.socket]:
    socks = []
    for lst in listeners:
        family = socket.AF_INET6 if ":" in lst.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((lst.host, lst.port))
        sock.listen(2048)
        sock.set_inheritable(True)
        socks.append(sock)
    return socks


class _OneWriteTransport:
    """What uvicorn's request cycle writes through: it holds the status line and headers until
    the body follows, so a response leaves in one ``send`` (one TCP segment on loopback) instead
    of two. The 100-continue interim response and anything after the headers pass straight on;
    ``close`` sends what is held first."""

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
            self._held = data
        else:
            self._transport.write(data)

    def close(self) -> None:
        if self._held is not None:
            self._transport.write(self._held)
            self._held = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class TlsAwareProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the negotiated TLS version and cipher in the scope
    (``scope["extensions"]["opensts.tls"]``) for CloudTrail's ``tlsDetails``, and each response
    written in one piece (``_OneWriteTransport``)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is not None:
            cipher = ssl_object.cipher()
            self.scope["extensions"] = {  # type: ignore[typeddict-unknown-key]
                "opensts.tls": {"version": ssl_object.version() or "", "cipher": cipher[0] if cipher else ""}
            }

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _OneWriteTransport(self.transport)  # type: ignore[assignment]


def _uvicorn_config(settings: Settings) -> uvicorn.Config:
    from opensts.app_state import build_state
    from opensts.edge.asgi import StsAsgiApp

    return uvicorn.Config(
        StsAsgiApp(build_state(settings)),
        loop="uvloop",
        http=TlsAwareProtocol,
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is handled by edge/proxy.py, from trusted proxies only
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=5,
    )


def _run_worker(settings: Settings, socks: list[socket.socket]) -> None:
    server = uvicorn.Server(_uvicorn_config(settings))
    server.run(sockets=socks)


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM when the parent dies, even by kill -9 (no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux
        pass


def _fork(target: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # child
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent()
        try:
            target()
        finally:
            os._exit(0)
    return pid


def _run_delivery(settings: Settings) -> None:
    """The audit delivery loop, in its own process so that gzip and trail writes never take
    the workers' GIL."""
    from opensts.audit.trail import run_delivery

    run_delivery(settings.data_dir, settings.config)


def run_server(settings: Settings, socks: list[socket.socket]) -> None:
    """Serve until interrupted: one delivery process, and the workers (in-process for one
    worker, else ``settings.workers`` forked processes)."""
    children: list[int] = []
    if settings.audit:
        children.append(_fork(lambda: _run_delivery(settings)))

    def stop(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    if settings.workers <= 1:
        try:
            _run_worker(settings, socks)
        finally:
            stop(signal.SIGTERM, None)
        return
    children += [_fork(lambda: _run_worker(settings, socks)) for _ in range(settings.workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    sys.stdout.flush()
