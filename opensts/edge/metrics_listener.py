"""``--metrics-listen ADDR``: ``GET /metrics`` on a private address of its own, not on the API listeners.

Served by a small HTTP server in a daemon thread of the server's parent process (of the one
worker, in a single-worker server). It only reads the value files of ``DATA_DIR/metrics``
(``metrics.render(own=False)``): the parent never creates values of its own, so no lock of
prometheus-client's is ever held across a fork. The socket is bound by ``opensts serve`` before
anything starts (an address in use is a one-line start-up error) and closed in every child
(``os.register_at_fork``): the workers do not keep the port.
"""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from opensts import metrics

__all__ = ["start"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "opensts"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"not found: GET /metrics\n", "text/plain; charset=utf-8")
            return
        self._answer(200, metrics.render(own=False), metrics.CONTENT_TYPE.decode())

    def _answer(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # scrapes are not logged
        pass


class _Server(HTTPServer):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


def start(sock: socket.socket) -> threading.Thread:
    """Serve ``GET /metrics`` on ``sock`` (bound, listening) until the process exits."""
    server = _Server(sock)
    os.register_at_fork(after_in_child=sock.close)
    thread = threading.Thread(target=server.serve_forever, name="opensts-metrics-listen", daemon=True)
    thread.start()
    return thread
