"""The server's process lifecycle around the workers: when it is ready, and in which order it stops.

Ready: a worker tells the parent once it is warm and listening (``ReadySignal``); the parent
prints the banner at the first such word — the moment the server really answers (before, the
banner came out while every worker was still building its state).

Stop (SIGTERM or SIGINT to the parent): the workers first — each drains (edge/lifecycle.py) —
then, once every worker has exited, the audit delivery process, whose last round indexes
everything the workers journaled and delivers what it can (``run_until_stopped``). Every step is
bounded by the shutdown timeout; a child still there well past it is killed (what it holds is
safe on disk: the journal and the index's outbox survive kill -9 by design, and the next start
delivers it).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["ReadySignal", "StopOrder", "run_until_stopped", "KILL_MARGIN"]

#: Seconds past the shutdown timeout after which a child that has not exited is killed.
KILL_MARGIN = 5.0


class ReadySignal:
    """A pipe from the workers to the parent: one byte per worker that is ready. The parent's
    reader thread calls ``on_ready`` once ``expected`` workers are (all of them: a worker still
    warming up takes CPU from the first requests of the others), and keeps draining (replacement
    workers write too: the pipe never fills)."""

    def __init__(self, on_ready: Callable[[], None] | None, expected: int = 1) -> None:
        self._read, self._write = os.pipe()
        self._on_ready = on_ready
        self._expected = expected
        threading.Thread(target=self._wait, name="opensts-ready", daemon=True).start()

    def _wait(self) -> None:
        seen = 0
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data:
                return
            before, seen = seen, seen + len(data)
            if before < self._expected <= seen and self._on_ready is not None:
                self._on_ready()

    def tell(self) -> None:
        """In a worker, once it listens."""
        try:
            os.write(self._write, b"!")
        except OSError:
            pass


DELIVERY_SLOT = -1  # the audit delivery process's slot among a server's children
CONTROL_SLOT = -2  # the control worker's (edge/control_relay.py)


class StopOrder:
    """Stops the children of ``children`` (pid → worker slot, ``DELIVERY_SLOT``, ``CONTROL_SLOT``)
    in order: the workers; the control worker once no worker is left (the calls they relayed to it
    are answered first); the delivery process once neither is (its last round indexes everything
    they journaled). ``exited`` is called each time a child has been reaped after the stop began
    (the caller removed it from ``children``)."""

    def __init__(self, children: dict[int, int], timeout: float) -> None:
        self.children = children
        self.timeout = timeout
        self._control_stopped = False
        self._delivery_stopped = False
        self._began = time.monotonic()

    def stop_workers(self) -> None:
        workers = [pid for pid, slot in self.children.items() if slot >= 0]
        _say(f"stopping: {len(workers)} worker(s) finish the requests in flight (at most {self.timeout:g} s)")
        for pid in workers:
            _signal(pid, signal.SIGTERM)
        _kill_later(self.children, workers, self.timeout + KILL_MARGIN)
        self.exited()

    def exited(self) -> None:
        if self._delivery_stopped or any(slot >= 0 for slot in self.children.values()):
            return
        control = [pid for pid, slot in self.children.items() if slot == CONTROL_SLOT]
        if control:
            if not self._control_stopped:
                self._control_stopped = True
                _say("stopping: workers done; the control worker finishes the IAM calls in flight")
                for pid in control:
                    _signal(pid, signal.SIGTERM)
                _kill_later(self.children, control, self.timeout + KILL_MARGIN)
            return
        self._delivery_stopped = True
        delivery = [pid for pid, slot in self.children.items() if slot == DELIVERY_SLOT]
        if delivery:
            _say(f"stopping: workers done after {time.monotonic() - self._began:.1f} s; the audit delivery's "
                 "last round")
        for pid in delivery:
            _signal(pid, signal.SIGTERM)
        _kill_later(self.children, delivery, self.timeout + KILL_MARGIN)

    def stop_delivery_and_wait(self) -> None:
        """A single-worker server (the worker is this process, and has drained): stop the
        delivery process and wait for it, bounded."""
        self.exited()
        deadline = time.monotonic() + self.timeout + KILL_MARGIN
        for pid in list(self.children):
            while time.monotonic() < deadline:
                try:
                    done, _status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                time.sleep(0.05)
            else:
                _signal(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            self.children.pop(pid, None)


def _say(message: str) -> None:
    """A step of the stop: a ``stopping`` event in json mode, else one line on stderr."""
    from opensts.logs import event, json_mode

    if json_mode():
        event(logging.getLogger("opensts.server"), "stopping", message, detail=message)
    else:
        print(f"opensts: {message}", file=sys.stderr, flush=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill_later(children: dict[int, int], pids: list[int], after: float) -> None:
    """SIGKILL those of ``pids`` still in ``children`` (not reaped yet) after ``after`` seconds
    (a backstop: every child bounds its own stop by the shutdown timeout). Never reaps: the
    supervisor's ``os.wait`` must see every exit."""
    if not pids:
        return

    def kill() -> None:
        for pid in pids:
            if pid in children:
                _signal(pid, signal.SIGKILL)

    timer = threading.Timer(after, kill)
    timer.daemon = True
    timer.start()


def run_until_stopped(body: Callable[[threading.Event], None], timeout: float) -> None:
    """In the delivery process: run ``body(stop)`` until SIGTERM sets ``stop``; then give it
    ``timeout`` seconds to finish its last round. SIGINT is ignored: a Ctrl-C in a terminal
    reaches every process of the group, and the parent decides the order."""
    stop = threading.Event()
    asked: list[int] = []
    # The handler only records the request. It runs in the main thread between two bytecodes,
    # possibly inside Event.set or Event.wait, holding the event's (non-reentrant) lock: calling
    # stop.set() there deadlocked a delivery process that got two SIGTERMs (seen here), and a
    # burst of them nested handlers to a RecursionError. The loop below sets the event.
    signal.signal(signal.SIGTERM, lambda sig, _frame: None if asked else asked.append(sig))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    thread = threading.Thread(target=body, args=(stop,), name="audit-delivery", daemon=True)
    thread.start()
    while thread.is_alive() and not asked:
        thread.join(0.2)
    stop.set()
    thread.join(timeout)
