"""Running the server: sockets, uvicorn (uvloop + httptools), worker processes, TLS.

We bind every ``--listen`` socket in the parent (so a port in use is an error before anything
starts), then give each worker process its own listening socket per listener, joined in one
``SO_REUSEPORT`` group, and run uvicorn on them in each worker (forked after binding). The
application state (database connections, key ring, compiled models) is built inside each worker,
after the fork. SIGINT/SIGTERM to the parent stop the workers.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from opensts.edge.http_limits import HttpLimits, LimitedHttpToolsProtocol
from opensts.regions.quotas import QuotaStore, SharedQuotas
from opensts.settings import DEFAULT_PORT, Listener, Settings, StartupError

__all__ = ["ListenError", "bind_sockets", "run_server", "spread"]


class ListenError(StartupError, OSError):
    """A listener that cannot bind: one line naming the address, why, and what to do."""


def bind_sockets(listeners: tuple[Listener, ...]) -> list[socket.socket]:
    """One listening socket per listener; a port in use fails here, before anything starts
    (as :class:`ListenError`; the sockets bound so far are closed)."""
    socks: list[socket.socket] = []
    try:
        for lst in listeners:
            socks.append(_bind(lst))
    except ListenError:
        for s in socks:
            s.close()
        raise
    return socks


def _bind(lst: Listener) -> socket.socket:
    family = socket.AF_INET6 if ":" in lst.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((lst.host, lst.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ListenError(_listen_problem(lst, exc)) from None
    sock.set_inheritable(True)
    return sock


def _listen_problem(lst: Listener, exc: OSError) -> str:
    """``cannot listen on HOST:PORT: why (what to do)`` for the bind failures a user causes."""
    where = f"{lst.url_host}:{lst.port}"
    other = f"{lst.url_host}:{lst.port + 1 if 0 < lst.port < 65535 else 8600}"
    if isinstance(exc, socket.gaierror):
        why = (f"unknown host name {lst.host!r} ({exc.strerror}); pass an IP address of this machine "
               "(e.g. 127.0.0.1 or 0.0.0.0) or a name it resolves")
    elif exc.errno == errno.EADDRINUSE:
        why = f"address already in use (another OpenSTS server? stop it, or pass --listen {other})"
    elif exc.errno == errno.EACCES:
        why = (f"permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; "
               f"pass --listen {lst.url_host}:{DEFAULT_PORT}, or put a proxy in front)")
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = (f"cannot assign requested address ({lst.host} is not an address of this machine; "
               "pass one it has, e.g. 127.0.0.1 or 0.0.0.0)")
    else:
        why = f"{(exc.strerror or str(exc)).lower()}"
    return f"cannot listen on {where}: {why}"


def spread(socks: list[socket.socket], workers: int) -> list[list[socket.socket]]:
    """One listening socket per listener *per worker*, all in one ``SO_REUSEPORT`` group.

    Why: with one shared socket, a burst of new connections goes to whichever worker wakes
    first, and uvloop accepts everything pending at once — measured here with 32 connections
    opened together: 27/5 and 4/28 splits in two starts out of six (the busy worker saturated,
    the other half idle: AssumeRole at about half speed in some benchmark rounds).  In a
    reuseport group the kernel hashes each connection to one socket: 13/19 to 16/16.

    ``socks`` (from :func:`bind_sockets`, bound without ``SO_REUSEPORT``: they proved the ports
    free and resolved port 0) are closed and their addresses re-bound as the group; a single
    worker keeps them as they are.
    """
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [socks] * max(workers, 1)
    addresses = [(s.family, s.getsockname()) for s in socks]
    for s in socks:
        s.close()
    return [[_reuseport_socket(family, address) for family, address in addresses] for _ in range(workers)]


def _reuseport_socket(family: int, address: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


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


class TlsAwareProtocol(LimitedHttpToolsProtocol):
    """uvicorn's httptools protocol with our request limits (``edge/http_limits.py``), plus the
    negotiated TLS version and cipher in the scope (``scope["extensions"]["opensts.tls"]``) for
    CloudTrail's ``tlsDetails``, and each response written in one piece (``_OneWriteTransport``)."""

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
        # A HEAD answer has no body to release the held headers: they would never leave.
        if cycle is not None and cycle.transport is self.transport and self.scope["method"] != "HEAD":
            cycle.transport = _OneWriteTransport(self.transport)  # type: ignore[assignment]


def protocol_class(settings: Settings) -> type[TlsAwareProtocol]:
    """The HTTP protocol of every listener (HTTP and HTTPS) of every worker, with the limits of
    ``settings`` bound (uvicorn builds one instance per connection from the class alone)."""
    return type("TlsAwareProtocol", (TlsAwareProtocol,), {"limits": HttpLimits.from_settings(settings)})


def _uvicorn_config(settings: Settings, quota_store: QuotaStore | None = None) -> uvicorn.Config:
    from opensts.app_state import build_state
    from opensts.edge.asgi import StsAsgiApp

    return uvicorn.Config(
        StsAsgiApp(build_state(settings, quota_store)),
        loop="uvloop",
        http=protocol_class(settings),
        lifespan="off",
        ws="none",  # no WebSocket: an Upgrade request is served as the HTTP request it also is (was a 500)
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is handled by edge/proxy.py, from trusted proxies only
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=5,
    )


def _run_worker(settings: Settings, socks: list[socket.socket], quota_store: QuotaStore | None = None) -> None:
    server = uvicorn.Server(_uvicorn_config(settings, quota_store))
    # Everything built so far (compiled service models, policies, caches: ~110,000 objects) lives
    # as long as the process: frozen out of the collector, a full collection no longer walks it.
    # Measured in-process over 20,000 AssumeRole calls: the longest collection pause went from
    # 87 ms to 6 ms, and the time spent collecting from 160 ms to 20 ms.
    gc.freeze()
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


def _run_delivery(settings: Settings, listening: list[socket.socket]) -> None:
    """The audit delivery loop, in its own process so that gzip and trail writes never take
    the workers' GIL.  It closes the listening sockets it inherited: it serves none of them."""
    from opensts.audit.trail import run_delivery

    for s in listening:
        s.close()

    run_delivery(settings.data_dir, settings.config, settings.node)


def run_server(settings: Settings, socks: list[socket.socket]) -> None:
    """Serve until interrupted: one delivery process, and the workers (in-process for one
    worker, else ``settings.workers`` forked processes, each with its own sockets)."""
    groups = spread(socks, settings.workers)
    listening = [s for group in groups for s in group]
    children: list[int] = []
    if settings.audit:
        children.append(_fork(lambda: _run_delivery(settings, listening)))

    def stop(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    if settings.workers <= 1:
        try:
            _run_worker(settings, groups[0])
        finally:
            stop(signal.SIGTERM, None)
        return
    quotas: QuotaStore | None = None
    try:
        quotas = SharedQuotas()  # before the fork: every worker charges the same buckets
    except OSError as exc:  # no POSIX semaphores here (e.g. no /dev/shm): each worker its own buckets
        print(f"warning: request quotas are kept per worker process ({exc})", file=sys.stderr)
    children += [_fork(lambda group=group: _run_worker(settings, group, quotas)) for group in groups]  # type: ignore[misc]
    for s in listening:  # the workers hold them: a worker that dies takes its sockets out of the group
        s.close()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    sys.stdout.flush()
