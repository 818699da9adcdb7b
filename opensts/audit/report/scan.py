"""Running the readers over many files, in parallel when the input is large.

CloudTrail writes one small gzip file per account, Region and ~5 minutes, so a real export is
thousands of files: batches of files go to worker processes through a queue, each worker adds
all of its batches into one ``Aggregate`` of its own and returns it once at the end, and the
parent adds those up.  Gzip inflation and JSON parsing are
CPU-bound, so processes — not threads — are what scale.  Small inputs run in-process (no start-up
cost, easy to test).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from opensts.audit.report.aggregate import Aggregate
from opensts.audit.report.readers import ReadStats, iter_files, read_records

__all__ = ["scan", "plan"]

PARALLEL_MIN_BYTES = 16 << 20
BATCH_BYTES = 16 << 20  # the largest batch
MIN_BATCH_BYTES = 2 << 20
BATCH_FILES = 256


def plan(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """Every input file with its size (folders walked); missing paths are reported by the caller."""
    out = []
    for f in iter_files(paths):
        try:
            out.append((f, f.stat().st_size))
        except OSError:
            out.append((f, 0))
    return out


def _batches(files: Sequence[tuple[Path, int]], workers: int) -> list[list[tuple[Path, int]]]:
    """Batches that shrink towards the end ("guided" scheduling), so that the workers finish
    together: with equal 16 MB batches one worker was often left alone on the last one, a core
    idle for up to a batch's time (~0.5 s here).  Each batch is at most a quarter of the bytes
    left per worker, between ``MIN_BATCH_BYTES`` and ``BATCH_BYTES``."""
    batches: list[list[tuple[Path, int]]] = []
    cur: list[tuple[Path, int]] = []
    left = sum(n for _, n in files)
    size = 0
    target = _target(left, workers)
    for f, n in files:
        if cur and (size + n > target or len(cur) >= BATCH_FILES):
            batches.append(cur)
            left -= size
            cur, size = [], 0
            target = _target(left, workers)
        cur.append((f, n))
        size += n
    if cur:
        batches.append(cur)
    return batches


def _target(left: int, workers: int) -> int:
    return max(MIN_BATCH_BYTES, min(BATCH_BYTES, left // (4 * workers)))


def _read_into(agg: Aggregate, stats: ReadStats, files: Iterable[tuple[Path, int]],
               on_progress: Callable[[int], None] | None = None) -> None:
    add = agg.add
    for path, _ in files:
        for obj in read_records(path, stats, on_progress, sink=add):
            add(obj)


def _worker(tasks: Any, results: Any, group_by: str, track_unknown: bool) -> None:
    """A worker process: batches from ``tasks`` until ``None``, all into one aggregate of its own,
    sent back once at the end.  Progress and warnings go back after each batch.

    Why one aggregate per worker and not per batch: the parent merged every batch's callers, and a
    trail of global-endpoint calls has thousands of callers with up to ``CAP`` values per counter —
    merging them per batch took more CPU than reading the logs."""
    try:
        agg = Aggregate(group_by, track_unknown)
        stats = ReadStats()
        while (batch := tasks.get()) is not None:
            seen = len(stats.warnings)
            _read_into(agg, stats, batch)
            results.put(("progress", sum(n for _, n in batch), stats.warnings[seen:]))
        stats.warnings = []  # already sent
        results.put(("done", agg, stats))
    except BaseException as exc:  # reported to the parent, which fails the run
        results.put(("error", f"{type(exc).__name__}: {exc}", None))


def _scan_parallel(batches: list[list[tuple[Path, int]]], workers: int, agg: Aggregate, stats: ReadStats,
                   on_progress: Callable[[int], None] | None, warn: Callable[[str], None] | None) -> None:
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for batch in batches:
        tasks.put(batch)
    procs = [ctx.Process(target=_worker, args=(tasks, results, agg.group_by, agg.track_unknown), daemon=True)
             for _ in range(workers)]
    for proc in procs:
        tasks.put(None)
        proc.start()
    try:
        finished = 0
        while finished < len(procs):
            try:
                kind, value, extra = results.get(timeout=1.0)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a report worker process died") from None
                continue
            if kind == "progress":
                stats.warnings.extend(extra)
                if warn:
                    for msg in extra:
                        warn(msg)
                if on_progress:
                    on_progress(value)
            elif kind == "done":
                agg.merge(value)
                stats.merge(extra)
                finished += 1
            else:
                raise RuntimeError(f"a report worker failed: {value}")
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()


def scan(files: Sequence[tuple[Path, int]], *, jobs: int | None = None, group_by: str = "principal",
         track_unknown: bool = False, on_progress: Callable[[int], None] | None = None,
         warn: Callable[[str], None] | None = None) -> tuple[Aggregate, ReadStats]:
    """Read ``files`` (from :func:`plan`) and return the merged aggregate and reader statistics.

    ``on_progress(n)`` is called with on-disk bytes as they are consumed; ``warn(msg)`` once per
    skipped file or problem.
    """
    total = sum(n for _, n in files)
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    agg = Aggregate(group_by, track_unknown)
    stats = ReadStats()
    if workers <= 1 or len(files) < 2 or total < PARALLEL_MIN_BYTES:
        for path, size in files:
            seen = len(stats.warnings)
            _read_into(agg, stats, [(path, size)], on_progress)
            if warn:
                for msg in stats.warnings[seen:]:
                    warn(msg)
        return agg, stats
    batches = _batches(files, workers)
    _scan_parallel(batches, min(workers, len(batches)), agg, stats, on_progress, warn)
    return agg, stats
