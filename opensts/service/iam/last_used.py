"""Access keys' last use: recorded off the request path, read by GetAccessKeyLastUsed and the
credential report.

Why batches: authentication is the hot path of every call (GetCallerIdentity, AssumeRole …); a
database write per request would cost more than the whole request does now and serialize the
workers on SQLite's write lock. So a request only notes ``key → (time, service, Region)`` in a
dict in its worker's memory (one dict store under an uncontended lock; a later use of the same key overwrites the earlier
one, so the dict holds at most one entry per key used since the last flush). A daemon thread per
worker swaps that dict out at most every ``interval`` seconds and hands it to ``flush`` — one
upsert batch in one transaction, which never lets an older use overwrite a newer one written by
another worker. What a key did within the last ``interval`` seconds is therefore visible after
at most that long, as on AWS (which documents a delay of hours).

The flush target is a seam (``flush``: any callable taking the batch), chosen once at wiring
(app_state.py): on a server owning its database it is ``SqlRepository.record_key_use``; a fleet
node whose database is a read-only replica passes a callable that forwards to the control plane,
or ``None`` to record nothing.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, utc
from opensts.protocol.errors import AccessDenied
from opensts.store.reads_repository import KeyUse

__all__ = ["KeyUseRecorder", "LastUsedActions", "KeyUseSink"]

_log = logging.getLogger(__name__)

KeyUseSink = Callable[[dict[str, KeyUse]], None]

#: At most this many distinct keys wait in memory between flushes (bounded memory if the sink is
#: down): further keys are dropped until a flush succeeds.
MAX_PENDING = 100_000


class KeyUseRecorder:
    """Per-worker buffer of access-key uses, flushed in batches by a daemon thread."""

    def __init__(self, flush: KeyUseSink | None, interval: float = 2.0) -> None:
        self._flush = flush
        self._interval = interval
        self._pending: dict[str, tuple[int, str, str]] = {}  # key → (epoch, service, Region)
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        # Held for one dict store (note) or one swap (flush): uncontended, ~0.1 µs; it keeps a
        # use noted during a swap out of a batch already being written.
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # a forked worker starts empty, with a flusher of its own
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pending, self._thread, self._lock = {}, None, threading.Lock()

    def note(self, key_id: str, epoch: float, service: str, region: str) -> None:
        """Called on the request path: one dict store (plus, once per worker, starting the thread)."""
        if self._flush is None:
            return
        if self._thread is None:  # first use in this worker: start its flusher
            self._start()
        use = (int(epoch), service, region)
        with self._lock:
            pending = self._pending
            if len(pending) < MAX_PENDING or key_id in pending:
                pending[key_id] = use

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="key-use-flush", daemon=True)
        self._thread.start()
        atexit.register(self.flush_now)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush_now()

    def flush_now(self) -> None:
        """Swap the buffer out and write it (the swap is atomic under the GIL: a note made
        meanwhile lands in the new dict). A failed batch is merged back, newest use winning."""
        if self._flush is None or not self._pending:
            return
        with self._lock:
            batch, self._pending = self._pending, {}
        try:
            self._flush({key: KeyUse(*use) for key, use in batch.items()})
        except Exception:  # the store is down or read-only: keep the batch for the next try
            _log.warning("could not record access keys' last use; will retry", exc_info=False)
            with self._lock:
                for key, use in batch.items():
                    newer = self._pending.get(key)
                    if (newer is None or newer[0] < use[0]) and len(self._pending) < MAX_PENDING:
                        self._pending[key] = use


class LastUsedActions(IamBase):
    @action("GetAccessKeyLastUsed")
    def get_access_key_last_used(self, info: RequestInfo, params: Params) -> Result:
        key_id = params["AccessKeyId"]
        caller = self.caller(info)
        key = self.repo.get_access_key(key_id) if key_id.startswith("AKIA") else None
        user = self.repo.get_user(key.user_id) if key is not None and key.user_id else None
        if key is None or key.account_id != caller.account_id:
            # AWS models no NoSuchEntity here: a key outside the caller's account is simply not
            # theirs to read, whoever asks.
            raise AccessDenied(f"User: {caller.arn} is not authorized to perform: iam:GetAccessKeyLastUsed "
                               f"on resource: access key {key_id}")
        resource = self.user_arn(info, user) if user else self.arn(info, "root")
        self.authorize(info, "GetAccessKeyLastUsed", resource)
        use = self.repo.key_uses([key_id]).get(key_id)
        last: Result = ({"LastUsedDate": utc(use.used_at), "ServiceName": use.service, "Region": use.region}
                        if use else {"ServiceName": "N/A", "Region": "N/A"})
        out: Result = {"AccessKeyLastUsed": last}
        if user is not None:
            out["UserName"] = user.name
        return out
