"""Listening sockets per worker: a port in use is still an error, and connections reach every worker."""

from __future__ import annotations

import select
import socket

import pytest

from opensts.edge.serve import bind_sockets, spread
from opensts.settings import Listener


def test_one_worker_keeps_the_sockets_it_was_given() -> None:
    socks = bind_sockets((Listener("127.0.0.1", 0),))
    try:
        assert spread(socks, 1) == [socks]
    finally:
        socks[0].close()


def test_each_worker_gets_its_own_socket_and_connections_reach_all() -> None:
    (first,) = bind_sockets((Listener("127.0.0.1", 0),))
    port = first.getsockname()[1]
    groups = spread([first], 2)
    try:
        assert first.fileno() == -1  # re-bound as the group
        (a,), (b,) = groups
        assert a is not b and a.getsockname() == b.getsockname() == ("127.0.0.1", port)
        accepted = {id(a): 0, id(b): 0}
        clients = []
        for _ in range(64):
            clients.append(socket.create_connection(("127.0.0.1", port)))
            ready, _, _ = select.select([a, b], [], [], 2)
            for s in ready:
                conn, _ = s.accept()
                conn.close()
                accepted[id(s)] += 1
        assert sum(accepted.values()) == 64
        assert min(accepted.values()) >= 8, accepted  # hashed over both (P(< 8 of 64) ~ 1e-10)
    finally:
        for c in clients:
            c.close()
        for group in groups:
            for s in group:
                s.close()


def test_a_port_in_use_is_still_refused() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(OSError):
            bind_sockets((Listener("127.0.0.1", taken.getsockname()[1]),))
    finally:
        taken.close()


def test_a_second_server_cannot_join_a_running_group() -> None:
    (first,) = bind_sockets((Listener("127.0.0.1", 0),))
    port = first.getsockname()[1]
    groups = spread([first], 2)
    try:
        with pytest.raises(OSError):  # it binds without SO_REUSEPORT first: "address already in use"
            bind_sockets((Listener("127.0.0.1", port),))
    finally:
        for group in groups:
            for s in group:
                s.close()
