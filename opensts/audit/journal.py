"""The audit journal: append-only logs of CloudTrail records, written with group commit.

Each worker process appends JSON lines to its own log, ``DATA_DIR/audit/log-PID-MS.jsonl``
(one writer per file: no lock contention between workers). A writer thread drains everything
queued since its last write into one ``write`` and, when the batch holds the record of a call
that issued credentials, one ``fdatasync``; that call waits for it, so ``kill -9`` at any moment
never leaves issued credentials without their record, and under load many records share one
sync. Other records are written without waiting. The index (``index.py``, SQLite) is built from
these logs off the request path, by the delivery process and by LookupEvents.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Journal", "encode_line", "LOG_GLOB"]

LOG_GLOB = "log-*.jsonl"
_MAX_BATCH = 4000


def encode_line(trail_region: str, account: str, when: int, record: dict[str, Any]) -> bytes:
    """One journal line: ``[trail Region, recipient account, epoch seconds, record]``."""
    return orjson.dumps([trail_region, account, when, record]) + b"\n"


class Journal:
    """Append records durably; ``await journal.write(events, durable=True)`` returns after fdatasync."""

    def __init__(self, folder: Path, *, writer: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder = folder
        if not writer:
            return
        self._queue: queue.SimpleQueue[tuple[bytes, concurrent.futures.Future[None] | None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._writer, name="audit-journal", daemon=True)
        self._thread.start()

    def submit(self, events: list[tuple[str, str, dict[str, Any]]], durable: bool,
               when: int = 0) -> concurrent.futures.Future[None] | None:
        lines = b"".join(encode_line(region, account, when, record) for region, account, record in events)
        future: concurrent.futures.Future[None] | None = concurrent.futures.Future() if durable else None
        self._queue.put((lines, future))
        return future

    async def write(self, events: list[tuple[str, str, dict[str, Any]]], *, durable: bool, when: int = 0) -> None:
        future = self.submit(events, durable, when)
        if future is not None:
            await asyncio.wrap_future(future)

    def _open(self) -> int:
        """This process's log (opened in the writer thread, so after any fork); its directory
        entry is synced once so the file itself survives a crash."""
        path = self.folder / f"log-{os.getpid()}-{int(time.time() * 1000)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return fd

    def _writer(self) -> None:
        fd = self._open()
        while True:
            items = [self._queue.get()]
            while len(items) < _MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                data = b"".join(lines for lines, _ in items)
                while data:
                    written = os.write(fd, data)
                    data = data[written:]
                if any(future is not None for _, future in items):
                    os.fdatasync(fd)
            except OSError as exc:  # the records are not durable: fail the waiting calls
                for _, future in items:
                    if future is not None:
                        future.set_exception(exc)
                continue
            for _, future in items:
                if future is not None:
                    future.set_result(None)
