"""Running the readers over many files, in parallel when the input is large.

CloudTrail writes one small gzip file per account, Region and ~5 minutes, so a real export is
thousands of files: batches of files go to worker processes, each returns its own (small)
``Aggregate`` and ``ReadStats``, and the parent adds them up.  Gzip inflation and JSON parsing are
CPU-bound, so processes — not threads — are what scale.  Small inputs run in-process (no start-up
cost, easy to test).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


def _run_batch(batch: list[tuple[Path, int]], group_by: str, track_unknown: bool) -> tuple[Aggregate, ReadStats]:
    agg = Aggregate(group_by, track_unknown)
    stats = ReadStats()
    add = agg.add
    for path, _ in batch:
        for obj in read_records(path, stats):
            add(obj)
    return agg, stats


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
        add = agg.add
        for path, _ in files:
            seen = len(stats.warnings)
            for obj in read_records(path, stats, on_progress):
                add(obj)
            if warn:
                for msg in stats.warnings[seen:]:
                    warn(msg)
        return agg, stats
    batches = _batches(files, workers)
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(batches)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_batch, b, group_by, track_unknown): sum(n for _, n in b) for b in batches}
        from concurrent.futures import as_completed

        for fut in as_completed(futures):
            part_agg, part_stats = fut.result()
            agg.merge(part_agg)
            stats.merge(part_stats)
            if warn:
                for msg in part_stats.warnings:
                    warn(msg)
            if on_progress:
                on_progress(futures[fut])
    return agg, stats
