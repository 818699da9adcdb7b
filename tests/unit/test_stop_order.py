"""The order of a stop (edge/shutdown.py): every worker first; the control worker once no worker
is left (the IAM calls they relayed to it are answered: edge/control_relay.py); the delivery
process only once neither is (its last round must see everything they journaled); the banner once
every worker is ready. Real child processes, real signals."""

from __future__ import annotations

import os
import signal
import time

from opensts.edge.shutdown import CONTROL_SLOT, DELIVERY_SLOT, ReadySignal, StopOrder


def _child(log_fd: int, name: bytes) -> int:
    """A child that writes its name into ``log_fd`` when SIGTERM arrives, then exits 0."""
    pid = os.fork()
    if pid == 0:
        def on_term(_sig: int, _frame: object) -> None:
            os.write(log_fd, name + b"\n")
            os._exit(0)

        signal.signal(signal.SIGTERM, on_term)
        while True:
            time.sleep(0.05)
    return pid


def test_workers_stop_before_the_delivery_process() -> None:
    read, write = os.pipe()
    children = {_child(write, b"delivery"): -1, _child(write, b"worker0"): 0, _child(write, b"worker1"): 1}
    time.sleep(0.2)  # the handlers are installed
    order = StopOrder(children, timeout=5)
    order.stop_workers()
    time.sleep(0.5)
    assert os.read(read, 100).split() in ([b"worker0", b"worker1"], [b"worker1", b"worker0"])  # not delivery yet
    for pid in [p for p, slot in children.items() if slot >= 0]:
        os.waitpid(pid, 0)
        del children[pid]
        order.exited()
    (delivery,) = children
    assert os.waitpid(delivery, 0)[1] == 0
    assert os.read(read, 100) == b"delivery\n"


def test_the_control_worker_stops_after_the_workers_and_before_delivery() -> None:
    read, write = os.pipe()
    children = {_child(write, b"delivery"): DELIVERY_SLOT, _child(write, b"control"): CONTROL_SLOT,
                _child(write, b"worker0"): 0, _child(write, b"worker1"): 1}
    time.sleep(0.2)  # the handlers are installed
    order = StopOrder(children, timeout=5)
    order.stop_workers()
    time.sleep(0.5)
    assert sorted(os.read(read, 100).split()) == [b"worker0", b"worker1"]  # neither control nor delivery yet
    workers = [p for p, slot in children.items() if slot >= 0]
    os.waitpid(workers[0], 0)
    del children[workers[0]]
    order.exited()
    time.sleep(0.3)
    os.set_blocking(read, False)
    try:
        early = os.read(read, 100)
    except BlockingIOError:
        early = b""
    assert early == b"", "a worker is still running: the control worker must wait for it"
    os.waitpid(workers[1], 0)
    del children[workers[1]]
    order.exited()
    control = next(p for p, slot in children.items() if slot == CONTROL_SLOT)
    assert os.waitpid(control, 0)[1] == 0
    os.set_blocking(read, True)
    assert os.read(read, 100) == b"control\n"
    del children[control]
    order.exited()
    (delivery,) = children
    assert os.waitpid(delivery, 0)[1] == 0
    assert os.read(read, 100) == b"delivery\n"


def test_the_ready_callback_waits_for_every_worker() -> None:
    told: list[float] = []
    ready = ReadySignal(lambda: told.append(time.monotonic()), expected=2)
    ready.tell()
    time.sleep(0.2)
    assert told == []
    ready.tell()
    ready.tell()  # a replacement later: no second banner
    time.sleep(0.2)
    assert len(told) == 1
