"""The sockets of the lifecycle: workers listen only once warm, and ``--reuse-port`` joins a running
server's group (bound, not listening: it takes no connection before its workers do)."""

from __future__ import annotations

import socket

import pytest

from opensts.edge.serve import ListenError, bind_sockets, spread, start_listening, worker_sockets
from opensts.settings import Listener


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def _close(groups: list[list[socket.socket]]) -> None:
    for group in groups:
        for s in group:
            s.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_sockets_listen_only_when_told(workers: int) -> None:
    socks = bind_sockets((Listener("127.0.0.1", 0),))
    port = socks[0].getsockname()[1]
    groups = worker_sockets(socks, workers)
    try:
        assert len(groups) == workers and all(not _listening(s) for g in groups for s in g)
        with pytest.raises(ConnectionRefusedError):  # nobody listens yet: refused, never queued
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        start_listening(groups[0])
        assert _listening(groups[0][0])
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            conn, _ = groups[0][0].accept()
            conn.close()
    finally:
        _close(groups)


def test_reuse_port_joins_a_running_group_without_listening() -> None:
    (first,) = bind_sockets((Listener("127.0.0.1", 0),))
    port = first.getsockname()[1]
    running = spread([first], 2)  # a running server's listening group
    try:
        (joined,) = bind_sockets((Listener("127.0.0.1", port),), reuse_port=True)
        try:
            assert joined.getsockname()[1] == port and not _listening(joined)
        finally:
            joined.close()
        with pytest.raises(ListenError, match="--reuse-port"):  # without the flag: refused, and told why
            bind_sockets((Listener("127.0.0.1", port),))
    finally:
        _close(running)


def test_reuse_port_cannot_join_a_socket_that_is_not_in_a_group() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(ListenError, match="address already in use"):
            bind_sockets((Listener("127.0.0.1", taken.getsockname()[1]),), reuse_port=True)
    finally:
        taken.close()
