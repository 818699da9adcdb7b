"""Running the server: sockets, uvicorn (uvloop + httptools), worker processes, TLS.

We bind every ``--listen`` socket in the parent (so a port in use is an error before anything
starts), then give each worker process its own socket per listener, in one ``SO_REUSEPORT``
group, and run uvicorn on them in each worker (forked after binding). The application state
(database connections, key ring, compiled models) is built inside each worker, after the fork,
and warmed up (edge/warmup.py) before the worker's sockets listen. SIGINT/SIGTERM to the parent
drain the workers, then stop the delivery process after its last round (edge/lifecycle.py,
edge/shutdown.py; docs/OPERATIONS.md); a worker (or the delivery process) that dies is
replaced (``_Supervisor``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import gc
import os
import shutil
import signal
import socket
import sys
import logging
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from opensts import metrics
from opensts.edge.http_limits import HttpLimits, LimitedHttpToolsProtocol
from opensts.edge.shutdown import CONTROL_SLOT, DELIVERY_SLOT, ReadySignal, StopOrder
from opensts.logs import event, json_mode
from opensts.regions.quotas import QuotaStore, SharedQuotas
from opensts.settings import DEFAULT_PORT, Listener, Settings, StartupError

__all__ = ["ListenError", "bind_sockets", "quota_store", "run_server", "spread", "prepare_metrics", "reuseport_socket",
           "start_listening", "worker_sockets"]

log = logging.getLogger("opensts.server")

BACKLOG = 2048  # connections the kernel queues per listening socket


class ListenError(StartupError, OSError):
    """A listener that cannot bind: one line naming the address, why, and what to do."""


def bind_sockets(listeners: tuple[Listener, ...], *, reuse_port: bool = False) -> list[socket.socket]:
    """One listening socket per listener; a port in use fails here, before anything starts
    (as :class:`ListenError`; the sockets bound so far are closed).

    ``reuse_port`` (``opensts serve --reuse-port``): bound with ``SO_REUSEPORT``, so that the
    address may already be served by another server's ``SO_REUSEPORT`` group of the same user —
    the old server of a zero-downtime restart (docs/OPERATIONS.md); then bound only, not
    listening (a listening member would join the group at once and take connections). Without it
    a port in use is refused, as it should be when nobody means to replace the server holding it."""
    socks: list[socket.socket] = []
    try:
        for lst in listeners:
            socks.append(_bind(lst, reuse_port))
    except ListenError:
        for s in socks:
            s.close()
        raise
    return socks


def _bind(lst: Listener, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in lst.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Bound only, never listening: bind alone refuses a port another server listens on, and a
        # listening socket here would accept connections into a queue that is reset when
        # worker_sockets closes it a moment later (a client that connected during start-up got
        # "connection reset"; a member of a running group would take connections the same way).
        sock.bind((lst.host, lst.port))
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
        why = (f"address already in use (another OpenSTS server? stop it, or pass --listen {other}; to replace "
               "it without dropping requests start this one with --reuse-port: docs/OPERATIONS.md)")
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
    return [[reuseport_socket(family, address) for family, address in addresses] for _ in range(workers)]


def reuseport_socket(family: int, address: Any, *, listen: bool = True) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    if listen:
        sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def worker_sockets(socks: list[socket.socket], workers: int) -> list[list[socket.socket]]:
    """What ``opensts serve`` gives its workers: like :func:`spread`, one socket per listener per
    worker in one ``SO_REUSEPORT`` group — a single worker too, so that a new server started
    with ``--reuse-port`` can join it for a restart — but bound only, not listening: a socket
    joins the group (and the kernel starts queueing connections on it) when its worker calls
    :func:`start_listening`, once warm. A port that accepted while its worker was still building
    its state made the first requests wait 0.2-0.5 s."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not Linux/BSD: one shared socket
        return spread(socks, workers)
    addresses = [(s.family, s.getsockname()) for s in socks]
    for s in socks:
        s.close()
    return [[reuseport_socket(family, address, listen=False) for family, address in addresses]
            for _ in range(max(workers, 1))]


def start_listening(socks: list[socket.socket]) -> None:
    """Join the listening group (idempotent: ``listen`` on a listening socket only resizes its queue)."""
    for sock in socks:
        sock.listen(BACKLOG)


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
        if cycle is not None and getattr(self.server_state, "draining", False):
            cycle.keep_alive = False  # stopping (edge/lifecycle.py): this answer closes its connection
        # A HEAD answer has no body to release the held headers: they would never leave.
        if cycle is not None and cycle.transport is self.transport and self.scope["method"] != "HEAD":
            cycle.transport = _OneWriteTransport(self.transport)  # type: ignore[assignment]


def protocol_class(settings: Settings) -> type[TlsAwareProtocol]:
    """The HTTP protocol of every listener (HTTP and HTTPS) of every worker, with the limits of
    ``settings`` bound (uvicorn builds one instance per connection from the class alone)."""
    return type("TlsAwareProtocol", (TlsAwareProtocol,), {"limits": HttpLimits.from_settings(settings)})


def _uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol_class(settings),
        lifespan="off",
        ws="none",  # no WebSocket: an Upgrade request is served as the HTTP request it also is (was a 500)
        access_log=False,
        log_level="warning",
        **({"log_config": None} if json_mode() else {}),  # json: uvicorn's loggers go through ours (opensts/logs.py)
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is handled by edge/proxy.py, from trusted proxies only
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


def _run_worker(settings: Settings, socks: list[socket.socket], quota_store: QuotaStore | None = None,
                ready: Callable[[], None] | None = None) -> None:
    """Build the state, warm it up (edge/warmup.py), and only then listen (``ready`` is told):
    the port never accepts a connection for a worker that is not ready to answer it."""
    from opensts.app_state import build_state
    from opensts.edge.asgi import StsAsgiApp
    from opensts.edge.warmup import warm_up

    state = build_state(settings, quota_store)
    app = StsAsgiApp(state)
    warm_up(app, state)

    def listen() -> None:
        start_listening(socks)
        if ready is not None:
            ready()

    _serve(settings, state, app, socks, listen)


def _serve(settings: Settings, state: Any, app: Any, socks: list[socket.socket], listen: Callable[[], None]) -> None:
    """uvicorn on ``socks`` (filled by ``listen``, called once the loop runs) until stopped; then
    the audit journal goes to the disk."""
    from opensts.edge.lifecycle import DrainingServer

    config = _uvicorn_config(settings, app)
    config.load()
    server = DrainingServer(config, settings.shutdown_timeout, before_serving=listen)
    # Everything built so far (compiled service models, policies, caches: ~110,000 objects) lives
    # as long as the process: frozen out of the collector, a full collection no longer walks it.
    # Measured in-process over 20,000 AssumeRole calls: the longest collection pause went from
    # 87 ms to 6 ms, and the time spent collecting from 160 ms to 20 ms.
    gc.freeze()
    server.run(sockets=socks)
    flush = getattr(getattr(state.audit, "journal", None), "flush", None)
    if flush is not None:  # the journal: on the disk before the process goes
        flush()


def _run_control_worker(settings: Settings, path: str, quotas: QuotaStore | None,
                        ready: Callable[[], None] | None = None) -> None:
    """The control worker (edge/control_relay.py): the workers' IAM, Organizations and Account
    calls, relayed over the Unix socket ``path``. Built, warmed up and listening as a worker is;
    it stops after the workers (``StopOrder``), so that the calls they relayed are answered."""
    from opensts.app_state import build_state
    from opensts.edge.asgi import StsAsgiApp
    from opensts.edge.control_relay import RelayEndpoint, bind_socket
    from opensts.edge.warmup import warm_up

    own = dataclasses.replace(settings, control_socket=None)  # it serves what it gets, relaying nothing
    state = build_state(own, quotas)
    app = StsAsgiApp(state)
    warm_up(app, state)
    relay = RelayEndpoint(app, limit=2 * (settings.max_body_bytes + settings.max_request_head_bytes))
    socks: list[socket.socket] = []

    def listen() -> None:
        socks.append(bind_socket(path, BACKLOG))
        if ready is not None:
            ready()

    # its socket is private and local: plain HTTP (the server's URLs, https or not, come from ``own``)
    _serve(dataclasses.replace(own, tls_cert=None, tls_key=None), state, relay, socks, listen)


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM when the parent dies, even by kill -9 (no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux
        pass


def _fork(target: Callable[[], None], keep: list[socket.socket] | None = None,
          listening: list[socket.socket] | None = None) -> int:
    """Fork a child running ``target``; in the child, every socket of ``listening`` not in
    ``keep`` is closed first. Why: a worker's listening socket inherited by its siblings stays
    open when that worker dies, and the kernel keeps hashing new connections to it — connections
    nobody ever accepts (measured: 15 of 40 new connections hung after a kill -9)."""
    pid = os.fork()
    if pid == 0:  # child
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent()
        kept = {id(s) for s in keep or ()}
        for s in listening or ():
            if id(s) not in kept:
                s.close()
        try:
            target()
        finally:
            os._exit(0)
    return pid


def _run_delivery(settings: Settings) -> None:
    """The audit delivery loop, in its own process so that gzip and trail writes never take
    the workers' GIL (``_fork`` closed the listening sockets it inherited: it serves none).
    SIGTERM (sent once the workers have exited): one last round, bounded (edge/shutdown.py)."""
    from opensts.audit.trail import run_delivery
    from opensts.edge.shutdown import run_until_stopped

    run_until_stopped(lambda stop: run_delivery(settings.data_dir, settings.config, settings.node, stop=stop),
                      settings.shutdown_timeout)


def quota_store(settings: Settings) -> QuotaStore | None:
    """Where the server's quota buckets live, decided once: the Region's Redis when a store is
    configured (``OPENSTS_QUOTA_STORE``, else the config file's ``quotas.store``), shared by
    every node of the Region; else memory shared by this server's workers (None: one worker's
    own buckets, as a single server always had)."""
    url = settings.node.quota_store or settings.config.quotas.store
    if url:
        from opensts.regions.redis_quotas import RedisQuotas

        return RedisQuotas(url)
    if settings.workers <= 1:
        return None
    try:
        return SharedQuotas()
    except OSError as exc:  # no POSIX semaphores here (e.g. no /dev/shm): each worker its own buckets
        event(log, "config_warning", f"warning: request quotas are kept per worker process ({exc})", logging.WARNING,
              problem="request quotas are kept per worker process", reason=str(exc))
        return None


class _Supervisor:
    """The parent of a multi-worker server: forks the workers and the delivery process, replaces
    any that dies (a worker within a second, with fresh sockets joined to the same group), and
    stops them all on SIGTERM/SIGINT.

    The parent keeps no listening socket open: each worker holds only its own (see ``_fork``),
    so a dead worker's sockets leave the ``SO_REUSEPORT`` group with it and no connection is
    hashed to a socket nobody serves while its replacement starts.
    """

    RESTART_DELAY = 0.2  # between a child's death and its replacement (no busy loop on a crash at start)

    def __init__(self, settings: Settings, groups: list[list[socket.socket]], quotas: QuotaStore | None) -> None:
        self.settings = settings
        self.quotas = quotas
        self.addresses = [[(s.family, s.getsockname()) for s in group] for group in groups]
        self.shared = len(groups) > 1 and groups[0] is groups[1]  # one socket shared (no SO_REUSEPORT)
        self.children: dict[int, int] = {}  # pid → slot (a worker's index; DELIVERY_SLOT, CONTROL_SLOT)
        self.stopping = False
        self._stop: StopOrder | None = None
        self._in_stop = False  # a stop handler is running (signals can nest: see stop)
        self._started: dict[int, float] = {}  # worker slot → when its current process was forked

    def start(self, groups: list[list[socket.socket]], ready: Callable[[], None] | None = None) -> None:
        listening = [s for group in groups for s in group]
        if self.settings.audit:
            self._started[DELIVERY_SLOT] = time.monotonic()
            self.children[_fork(lambda: _run_delivery(self.settings), [], listening)] = DELIVERY_SLOT
        control = self.settings.control_socket is not None
        self._ready = ReadySignal(ready, expected=len(groups) + control)
        if control:  # first: the workers relay to it from their first request
            self._start_control(listening)
        for slot, group in enumerate(groups):
            self._start_worker(slot, group, listening)
        if not self.shared:
            for s in listening:  # the workers hold them
                s.close()
        else:
            self._shared_socks = groups[0]

    def _restart_delay(self, slot: int) -> float:
        """No delay for a child that had run a while (a worker killed under load is replaced at once:
        issue 19 wants a new worker within 2 s); ``RESTART_DELAY`` for one that died young (a
        crash at start must not become a busy loop)."""
        started = self._started.get(slot)
        young = started is None or time.monotonic() - started < 5 * self.RESTART_DELAY
        return self.RESTART_DELAY if young else 0.0

    def _start_worker(self, slot: int, group: list[socket.socket], listening: list[socket.socket]) -> None:
        self._started[slot] = time.monotonic()
        pid = _fork(lambda: _run_worker(self.settings, group, self.quotas, self._ready.tell), group, listening)
        self.children[pid] = slot

    def _start_control(self, listening: list[socket.socket]) -> None:
        path = self.settings.control_socket
        assert path is not None
        self._started[CONTROL_SLOT] = time.monotonic()
        pid = _fork(lambda: _run_control_worker(self.settings, path, self.quotas, self._ready.tell), [], listening)
        self.children[pid] = CONTROL_SLOT

    def _replace(self, slot: int) -> None:
        if slot == CONTROL_SLOT:
            self._start_control([])
            return
        if slot == DELIVERY_SLOT:
            self._started[DELIVERY_SLOT] = time.monotonic()
            self.children[_fork(lambda: _run_delivery(self.settings))] = DELIVERY_SLOT
            return
        if self.shared:
            group = self._shared_socks
            self._start_worker(slot, group, group)
            return
        group = [reuseport_socket(family, address, listen=False) for family, address in self.addresses[slot]]
        self._start_worker(slot, group, group)
        for s in group:
            s.close()

    def stop(self, _signum: int = signal.SIGTERM, _frame: object = None) -> None:
        """The workers first (each drains: edge/lifecycle.py); the delivery process once they
        are gone (``StopOrder.exited``), so that its last round indexes everything they journaled."""
        if self._in_stop:  # a signal while another's handler runs (it prints, starts timers): that one does it
            return
        self._in_stop = True
        try:
            self.stopping = True
            self._stop = self._stop or StopOrder(self.children, self.settings.shutdown_timeout)
            self._stop.stop_workers()
        finally:
            self._in_stop = False

    def wait(self) -> None:
        """Until every child has exited after a stop; a child that dies before is replaced."""
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            slot = self.children.pop(pid, None)
            metrics.process_died(pid)  # its live gauges leave /metrics' sums
            if slot is None or self.stopping:
                if self._stop is not None:
                    self._stop.exited()
                continue
            what, process = ("the control worker", "control") if slot == CONTROL_SLOT else \
                ("the audit delivery process", "delivery") if slot == DELIVERY_SLOT else (f"worker {slot}", "worker")
            event(log, "worker_restart", f"opensts: {what} (pid {pid}) exited ({_exit_reason(status)}); starting a "
                  "replacement", logging.WARNING, process=process, slot=slot, pid=pid, reason=_exit_reason(status))
            time.sleep(self._restart_delay(slot))
            if not self.stopping:
                self._replace(slot)


def _exit_reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def _stopped_while_starting(_signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT before a single-worker server listens: nothing to drain; exit 0 (the
    delivery process still gets its last round)."""
    raise SystemExit(0)


def run_server(settings: Settings, socks: list[socket.socket], on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain and exit (docs/OPERATIONS.md): one
    delivery process, and the workers (in-process for one worker, else ``settings.workers``
    forked processes, each with its own sockets, supervised). ``on_ready`` (the banner) is
    called once every worker is warm and listening: when the server really answers."""
    from opensts.edge.warmup import preload

    groups = worker_sockets(socks, settings.workers)
    quotas = quota_store(settings)  # before the fork: every worker charges the same buckets
    prepare_metrics(settings)  # before the fork: every process writes its values into one folder
    preload(settings)  # what every worker (and every replacement) would import and compile: once, here
    if settings.workers <= 1:
        children: dict[int, int] = {}
        if settings.audit:
            children[_fork(lambda: _run_delivery(settings), [], groups[0])] = DELIVERY_SLOT
        signal.signal(signal.SIGTERM, _stopped_while_starting)  # until uvicorn takes the signals over
        signal.signal(signal.SIGINT, _stopped_while_starting)
        try:
            _run_worker(settings, groups[0], quotas, on_ready)
        finally:
            StopOrder(children, settings.shutdown_timeout).stop_delivery_and_wait()
            event(log, "stop", "", workers=1)
        sys.stdout.flush()
        return
    if settings.config.control_process:  # IAM and friends in a process of their own (edge/control_relay.py)
        from opensts.edge.control_relay import socket_path

        settings = dataclasses.replace(settings, control_socket=socket_path())
    supervisor = _Supervisor(settings, groups, quotas)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    try:
        supervisor.start(groups, on_ready)
        supervisor.wait()
    finally:
        if settings.control_socket is not None:
            shutil.rmtree(os.path.dirname(settings.control_socket), ignore_errors=True)
    event(log, "stop", "", workers=settings.workers)
    sys.stdout.flush()


def prepare_metrics(settings: Settings) -> None:
    """``DATA_DIR/metrics``, fresh and private, for every process's values (``opensts/metrics.py``);
    nothing when metrics are off (``--no-metrics``)."""
    if not settings.metrics:
        metrics.disable()
        return
    metrics.prepare(settings.data_dir / "metrics")
