"""Running the server: sockets, uvicorn (uvloop + httptools), worker processes, TLS.

We bind every ``--listen`` socket in the parent, then run uvicorn on those sockets in each
worker process (forked after binding, so all workers share the listening sockets and the kernel
spreads connections). The application state (database connections, key ring, compiled models)
is built inside each worker, after the fork. SIGINT/SIGTERM to the parent stop the workers.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

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


class TlsAwareProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the negotiated TLS version and cipher in the scope
    (``scope["extensions"]["opensts.tls"]``) for CloudTrail's ``tlsDetails``."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is not None:
            cipher = ssl_object.cipher()
            self.scope["extensions"] = {  # type: ignore[typeddict-unknown-key]
                "opensts.tls": {"version": ssl_object.version() or "", "cipher": cipher[0] if cipher else ""}
            }


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
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=5,
    )


def _run_worker(settings: Settings, socks: list[socket.socket]) -> None:
    server = uvicorn.Server(_uvicorn_config(settings))
    server.run(sockets=socks)


def run_server(settings: Settings, socks: list[socket.socket]) -> None:
    """Serve until interrupted: in-process for one worker, else fork ``settings.workers``."""
    if settings.workers <= 1:
        _run_worker(settings, socks)
        return
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # child
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                _run_worker(settings, socks)
            finally:
                os._exit(0)
        children.append(pid)

    def stop(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    sys.stdout.flush()
