"""A worker's graceful stop (SIGTERM/SIGINT): stop accepting without resetting anyone, answer
what is in flight, close keep-alive connections only where no request can be racing, exit 0.

uvicorn's own shutdown has three ways of failing a client that did nothing wrong, each of them
seen under a steady stream of requests during a restart:

* closing the listening socket resets the connections the kernel has already accepted into its
  queue (Linux; unless ``net.ipv4.tcp_migrate_req`` is on, which moves them to a sibling socket of
  the ``SO_REUSEPORT`` group). So before closing it we accept everything queued, in one
  synchronous pass with no await in between, and serve those connections like the others: the
  window left is the microseconds between the last ``accept`` and ``close``.
* it closes idle keep-alive connections at once: a client that has just sent its next request on
  one gets a reset. Instead every response from now on says ``Connection: close`` (the client
  opens its next connection elsewhere: to the new server of a restart), and a connection is
  closed by us only after it has stayed idle for ``IDLE_GRACE`` seconds.
* it re-raises the signal after shutting down, so the process died "killed by SIGTERM". A drained
  stop exits with status 0.

Everything is bounded by the shutdown timeout (``--shutdown-timeout``, ``[server]
shutdown_timeout``, default 10 s): past it — or at a second SIGINT (Ctrl-C twice) — what is
still open is closed and still-running requests are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

__all__ = ["DrainingServer", "IDLE_GRACE", "DEFAULT_SHUTDOWN_TIMEOUT"]

log = logging.getLogger("opensts.server")

DEFAULT_SHUTDOWN_TIMEOUT = 10.0
#: Seconds a keep-alive connection must have been idle, while draining, before we close it. A
#: client of a steady stream sends its next request well within this (and gets ``Connection:
#: close`` with the answer); a client idle this long is not about to write (and urllib3, like most
#: pools, checks an idle connection for the server's close before reusing it).
IDLE_GRACE = 1.0
_POLL = 0.02


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the graceful stop described above."""

    def __init__(self, config: uvicorn.Config, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
                 before_serving: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.shutdown_timeout = shutdown_timeout
        self.before_serving = before_serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """``before_serving`` (listen, tell the parent) runs here, on the running event loop, a
        moment before uvicorn starts accepting: a connection queued earlier would wait for the
        loop's creation."""
        if self.before_serving is not None:
            self.before_serving()
        await super().startup(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """As uvicorn's, without raising the signal again afterwards (that made every graceful
        stop a death by SIGTERM)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        self.server_state.draining = True  # type: ignore[attr-defined] # read by TlsAwareProtocol
        self._stop_accepting(sockets or [])
        await self._drain_connections(deadline)
        await self._finish_tasks(deadline)

    def _stop_accepting(self, sockets: list[socket.socket]) -> None:
        """Accept what the kernel has queued, then close: synchronously, so that nothing else
        runs (and the queue has no time to refill) between the last accept and the close."""
        accepted: list[socket.socket] = []
        for sock in sockets:
            if sock.fileno() < 0:
                continue
            sock.setblocking(False)
            while True:
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                accepted.append(conn)
        for server in self.servers:
            server.close()
        for sock in sockets:
            sock.close()
        if accepted:
            log.info("draining: serving %d connection(s) taken from the accept queue", len(accepted))
        for conn in accepted:
            asyncio.ensure_future(self._serve_accepted(conn))

    async def _serve_accepted(self, conn: socket.socket) -> None:
        config = self.config
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=self.server_state,  # type: ignore[call-arg]
                                              app_state=self.lifespan.state)

        try:
            await loop.connect_accepted_socket(protocol, sock=conn, ssl=config.ssl)
        except Exception:  # noqa: BLE001 - the client went away (or a TLS handshake failed)
            conn.close()

    async def _drain_connections(self, deadline: float) -> None:
        """Every answer from now on closes its connection; an idle connection is closed once it
        has been idle for ``IDLE_GRACE``; until none is left or the deadline."""
        loop = asyncio.get_running_loop()
        grace = min(IDLE_GRACE, self.shutdown_timeout / 2)
        idle_since: dict[int, float] = {}
        while self.server_state.connections and loop.time() < deadline and not self.force_exit:
            now = loop.time()
            for conn in list(self.server_state.connections):
                cycle = getattr(conn, "cycle", None)
                if cycle is None or cycle.response_complete:
                    if now - idle_since.setdefault(id(conn), now) >= grace:
                        conn.transport.close()
                else:
                    idle_since.pop(id(conn), None)
                    cycle.keep_alive = False
            await asyncio.sleep(_POLL)
        for conn in list(self.server_state.connections):  # past the deadline (or a second SIGINT)
            conn.transport.close()

    async def _finish_tasks(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while self.server_state.tasks and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(_POLL)
        if self.server_state.tasks:
            log.error("shutdown timeout (%gs) passed: cancelling %d request(s)", self.shutdown_timeout,
                      len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel()
