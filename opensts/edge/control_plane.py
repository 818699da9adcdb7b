"""Control-plane calls (IAM, Organizations, Account) on a node whose control plane is remote.

AWS's model: every IAM call goes to one control plane; when it is impaired, IAM calls fail with
``ServiceUnavailable`` and everything else keeps working. Here the control plane is the
PostgreSQL primary in another Region. Run on the event loop, a call to a primary that does not
answer would stall every STS caller of the worker, so on such a node (``AppState.control_is_remote``)
each control-plane call runs in a small thread pool of its own, bounded three ways:

* ``CALL_TIMEOUT``: the caller gets ``ServiceUnavailable`` (HTTP 503, which SDKs retry) within
  2 seconds whatever the database does (the statement and connect timeouts of the control
  plane's engine, ``store/database.py``, free the thread soon after);
* a database failure (``store/outage.py``) is ``ServiceUnavailable``, never a 500;
* a short circuit breaker: after a failure, calls are refused at once for ``BREAKER_SECONDS``
  (no thread, no connection attempt), then tried again — so when the primary returns, writes
  work again without restarting anything.

On a single server, or a node on the primary, calls run in a small local thread pool, unbounded in
time (issue 19 item 2): a write waits for database locks and, on PostgreSQL, for round trips; on
the loop, each wait stalled every STS caller of the worker (AssumeRole fell 4-10x under 100 IAM
writes/s), off it the loop keeps answering while the write waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opensts.protocol.errors import ServiceUnavailable
from opensts.store.outage import is_outage

__all__ = ["ControlPlane", "CALL_TIMEOUT", "BREAKER_SECONDS", "UNAVAILABLE_MESSAGE"]

log = logging.getLogger("opensts.edge")

CALL_TIMEOUT = 1.8  # seconds: AWS's "within 2 s", with room for the answer to travel
BREAKER_SECONDS = 1.0
_THREADS = 4
_LOCAL_THREADS = 4
UNAVAILABLE_MESSAGE = ("The IAM control plane is unavailable. STS and authorization keep working in this Region; "
                       "retry the call later.")


class ControlPlane:
    """How this worker runs control-plane calls (see the module docstring)."""

    def __init__(self, remote: bool) -> None:
        self.remote = remote
        self._pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="opensts-control-plane") \
            if remote else None
        self._local = None if remote else \
            ThreadPoolExecutor(max_workers=_LOCAL_THREADS, thread_name_prefix="opensts-control-plane-local")
        self._open_until = 0.0
        self._last_failure: float | None = None

    @property
    def available(self) -> bool:
        """False while the breaker is open (reported by ``/readyz``; asks nothing)."""
        return time.monotonic() >= self._open_until

    def status(self) -> dict[str, Any]:
        if not self.remote:
            return {"remote": False}
        return {"remote": True, "available": self.available,
                "last_failure_seconds_ago": None if self._last_failure is None
                else round(time.monotonic() - self._last_failure, 1)}

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a pool thread, in the caller's context (as ``asyncio.to_thread``: the
        control worker collects there what a write touched, store/cache.py's ``TOUCHED``)."""
        fn = functools.partial(contextvars.copy_context().run, fn)
        if self._pool is None:  # the database is this server's own: no deadline, no breaker
            return await asyncio.get_running_loop().run_in_executor(self._local, functools.partial(fn, *args))
        if not self.available:
            raise ServiceUnavailable(UNAVAILABLE_MESSAGE)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, functools.partial(fn, *args)), CALL_TIMEOUT)
        except asyncio.TimeoutError:
            self._trip("timed out")
            raise ServiceUnavailable(UNAVAILABLE_MESSAGE) from None
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._trip(type(exc).__name__)
            raise ServiceUnavailable(UNAVAILABLE_MESSAGE) from None

    def _trip(self, why: str) -> None:
        now = time.monotonic()
        if self.available:
            log.warning("control plane unavailable (%s): IAM, Organizations and Account calls answer "
                        "ServiceUnavailable", why)
        self._open_until = now + BREAKER_SECONDS
        self._last_failure = now
