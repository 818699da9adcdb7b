"""The server's Prometheus metrics: one registry of names, and the cheap calls that count.

Every process of a server (the workers and the audit delivery process) writes its own values
into a memory-mapped file in one folder (``prometheus-client``'s multiprocess mode); ``GET
/metrics`` on any worker reads the whole folder, so one scrape adds up every worker. The folder
is made fresh by the parent before it forks (:func:`prepare`): counts of an earlier run never
leak into this one, and a dead worker's live gauges are dropped (:func:`process_died`).

Label values never carry caller data (account ids, key ids, ARNs, names): only the API, action,
HTTP status, AWS error code, endpoint type, Region, quota group and provider host — each bounded
(:class:`Bounded`), so a caller sending a million made-up actions makes one ``unknown`` series,
not a million.

Why module functions that do nothing when metrics are off (``--no-metrics``): the hot path calls
them unconditionally, and switching them off must remove their whole cost, so that cost can be
measured (``bench/run.py --compare-metrics``).

Why tallies flushed by a thread: a value in multiprocess mode is a locked write into the mmap
(measured here: ~23 µs per request for a counter and a histogram observation, ~10 % of a
GetCallerIdentity). Per request we only add to plain integers of pre-bound tallies (~1 µs); a
daemon thread per process moves the differences into the shared files every ``FLUSH_SECONDS``
(and ``/metrics`` flushes its own worker first). A scrape thus lags other workers by at most
``FLUSH_SECONDS``; a worker killed with SIGKILL loses at most that much of its counts.
"""

from __future__ import annotations

import atexit
import bisect
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["prepare", "enabled", "disable", "process_died", "render", "Bounded", "request_done", "throttled",
           "credentials_issued", "journal_written", "delivery_backlog", "delivery_failure", "cache",
           "jwks_fetch", "database_error", "CONTENT_TYPE", "CREDENTIAL_ACTIONS", "known_actions", "known_regions", "start"]

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Actions that hand out credentials (counted in ``opensts_credentials_issued_total`` on success).
CREDENTIAL_ACTIONS = frozenset({
    "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot", "GetSessionToken",
    "GetFederationToken", "GetWebIdentityToken", "GetScopedCredentials", "CreateAccessKey",
    "CreateServiceSpecificCredential", "ResetServiceSpecificCredential",
})

#: Latency buckets (seconds): an STS call is ~1 ms here; an off-loop simulation or a slow IdP, seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FLUSH_SECONDS = 0.5

_on = True
_m: Any = None  # the metric objects of this process, made on first use (after prepare)


def enabled() -> bool:
    return _on


def disable() -> None:
    """Metrics off for this process and those it forks: every call below returns at once."""
    global _on
    _on = False


def prepare(folder: Path) -> None:
    """In the parent, before any worker is forked: a fresh, private folder for every process's
    values (wiped: a restart starts from zero, as Prometheus expects of a restarted target)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    os.chmod(folder, 0o700)
    os.environ[ENV] = str(folder)
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue()  # whatever was imported before the variable was set


def process_died(pid: int) -> None:
    """The supervisor saw ``pid`` exit: its live gauges (delivery backlog) leave the sum; its
    counters stay (what it counted happened)."""
    folder = os.environ.get(ENV)
    if _on and folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)


def render(own: bool = True) -> bytes:
    """The text exposition of every process's values (one scrape, all workers). ``own``: this
    process counts too (a worker); False: only read the files (``--metrics-listen``'s parent)."""
    from prometheus_client import CollectorRegistry, generate_latest

    if own:
        _metrics().flush()  # this worker's latest counts; the others' are at most FLUSH_SECONDS old
    folder = os.environ.get(ENV)
    if folder and os.path.isdir(folder):
        registry = CollectorRegistry()
        registry.register(_Folder(folder))
        return generate_latest(registry)
    return generate_latest(_metrics().registry)  # in-process use (tests building the app directly)


class _Folder:
    """prometheus-client's multiprocess collector, minus one race: a process that is just starting
    (a replacement worker) has created its file but not yet sized it, and reading an empty file
    fails (``struct.error``: a 500 for that scrape). Such a file holds nothing yet: it is skipped."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = []
        for name in os.listdir(self._folder):
            path = os.path.join(self._folder, name)
            try:
                if name.endswith(".db") and os.path.getsize(path) >= 8:
                    files.append(path)
            except OSError:  # gone since the listing (a dead worker's live gauge file)
                continue
        return MultiProcessCollector.merge(sorted(files), accumulate=True)


class Bounded:
    """A label's values: those seen so far (at most ``limit``, each matching ``pattern``) pass,
    anything else is ``other``. Why: label values that come from a request must not let a caller
    make unbounded series; the legitimate sets (AWS's actions, error codes, Regions) are far smaller."""

    __slots__ = ("_known", "_seen", "_limit", "_pattern")

    def __init__(self, limit: int, pattern: str = r"[A-Za-z0-9.:_-]{1,64}", known: tuple[str, ...] = ()) -> None:
        self._known = set(known)  # always pass, outside the limit (the model's action names)
        self._seen: set[str] = set()
        self._limit = limit
        self._pattern = re.compile(pattern, re.ASCII)

    def allow(self, names: object) -> None:
        """Values that always pass (e.g. every action of the STS and IAM models), so that nothing
        learned first can crowd them out."""
        self._known.update(n for n in names if isinstance(n, str))  # type: ignore[attr-defined]

    def __call__(self, value: str) -> str:
        if value in self._known or value in self._seen:
            return value
        if len(self._seen) >= self._limit or not self._pattern.fullmatch(value):
            return "other"
        self._seen.add(value)
        return value


_API = Bounded(16, r"[a-z0-9-]{1,32}", ("sts", "iam", "organizations", "cloudtrail", "account", "none"))
_ACTION = Bounded(256, r"[A-Za-z][A-Za-z0-9]{0,63}", ("unknown",) + tuple(CREDENTIAL_ACTIONS))  # + known_actions
_CODE = Bounded(256, r"[A-Za-z][A-Za-z0-9.]{0,63}", ("",))
_REGION = Bounded(256, r"[a-z0-9-]{1,32}", ("", "unknown"))
_ENDPOINT = Bounded(4, r"[a-z-]{1,16}", ("", "global", "regional"))
_HOST = Bounded(256, r"[A-Za-z0-9.:\[\]-]{1,255}")


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter("opensts_requests", "Requests answered, by API, action, HTTP status, AWS error code "
                                "(empty: success), endpoint type and serving Region",
                                ["api", "action", "status", "code", "endpoint_type", "region"], registry=registry)
        self.latency = Histogram("opensts_request_duration_seconds", "Time from the request's arrival to its answer",
                                 ["api", "action"], buckets=_BUCKETS, registry=registry)
        self.throttled = Counter("opensts_throttled_requests", "Requests refused by a quota (Throttling), by quota group",
                                 ["group"], registry=registry)
        self.credentials = Counter("opensts_credentials_issued", "Credentials handed out, by action", ["action"],
                                   registry=registry)
        self.journal = Counter("opensts_audit_records_written", "CloudTrail records written into the journal",
                               registry=registry)
        self.backlog = Gauge("opensts_audit_delivery_backlog_records", "Records not yet delivered to the trail store, "
                             "by trail Region", ["region"], multiprocess_mode="livemax", registry=registry)
        self.oldest = Gauge("opensts_audit_delivery_oldest_age_seconds", "Age of the oldest undelivered record, by "
                            "trail Region (0: nothing waits)", ["region"], multiprocess_mode="livemax",
                            registry=registry)
        self.delivery_failures = Counter("opensts_audit_delivery_failures", "Failed writes to a trail store, by trail "
                                         "Region", ["region"], registry=registry)
        self.cache = Counter("opensts_cache_requests", "Look-ups of the entity cache (store/cache.py), by result",
                             ["result"], registry=registry)
        self.jwks = Counter("opensts_jwks_fetches", "Fetches of an OIDC provider's discovery document and JWKS, by "
                            "provider host and result", ["provider", "result"], registry=registry)
        self.db_errors = Counter("opensts_database_errors", "Requests that failed on a database or store error",
                                 ["kind"], registry=registry)
        self.cache_hit = _Tally(self.cache.labels("hit"))
        self.cache_miss = _Tally(self.cache.labels("miss"))
        self.journal_tally = _Tally(self.journal)
        self.children: dict[tuple[str, ...], tuple[_Tally, _Timing, _Tally | None]] = {}
        self.tallies: list[Any] = [self.cache_hit, self.cache_miss, self.journal_tally]
        self.pid = os.getpid()
        self._flushing = threading.Lock()

    def flush(self) -> None:
        """Move every tally's growth since the last flush into the shared values."""
        with self._flushing:
            for tally in list(self.tallies):
                tally.flush()

    def start_flusher(self) -> None:
        thread = threading.Thread(target=self._flush_forever, name="opensts-metrics", daemon=True)
        thread.start()
        atexit.register(self.flush)  # a worker that stops cleanly leaves nothing behind

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a full disk must not kill the thread; the next round retries
                pass


class _Tally:
    """A counter's increments in this process, not yet in the shared file (``n`` grows on the hot
    path; only the flusher writes ``_done``: no lock needed between the two)."""

    __slots__ = ("n", "_done", "_child")

    def __init__(self, child: Any) -> None:
        self.n = 0
        self._done = 0
        self._child = child

    def flush(self) -> None:
        n = self.n
        if n != self._done:
            self._child.inc(n - self._done)
            self._done = n


class _Timing:
    """A histogram's observations in this process: counts per bucket and their sum."""

    __slots__ = ("counts", "total", "_done", "_done_total", "_child")

    def __init__(self, child: Any) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)  # the last: +Inf
        self.total = 0.0
        self._done = [0] * (len(_BUCKETS) + 1)
        self._done_total = 0.0
        self._child = child

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, seconds)] += 1  # le is inclusive: the first bound ≥ seconds
        self.total += seconds

    def flush(self) -> None:
        counts, done = list(self.counts), self._done
        for i, c in enumerate(counts):
            if c != done[i]:
                self._child._buckets[i].inc(c - done[i])  # prometheus-client's Histogram: _buckets, _sum
                done[i] = c
        total = self.total
        if total != self._done_total:
            self._child._sum.inc(total - self._done_total)
            self._done_total = total


def _metrics() -> _Metrics:
    global _m
    if _m is None or _m.pid != os.getpid():  # first use in this process (a forked child starts afresh)
        _m = _Metrics()
        _m.start_flusher()
    return _m


def request_done(api: str, action: str, status: int, code: str, endpoint_type: str, region: str,
                 seconds: float) -> None:
    """One answered request: counted by its labels and timed; a credential-issuing success also
    counts as credentials issued. Pre-bound tallies per label tuple: a dict look-up and a few
    integer additions per request. Called on the event loop thread only (edge/observe.py), so the
    tallies of one worker have one writer."""
    if not _on:
        return
    m = _m if _m is not None else _metrics()
    key = (api, action, status, code, endpoint_type, region)
    bound = m.children.get(key)
    if bound is None:
        bound = _bind(m, key)
    bound[0].n += 1
    bound[1].add(seconds)
    if bound[2] is not None:
        bound[2].n += 1


def _bind(m: _Metrics, key: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    api, action, status, code, endpoint_type, region = key
    labels = (_API(api), _ACTION(action), str(int(status)), _CODE(code), _ENDPOINT(endpoint_type), _REGION(region))
    if len(m.children) >= _MEMO:  # raw keys are bounded upstream; past this, one series per API and status
        labels = (labels[0], "other", labels[2], "other", labels[4], "other")
        key = ("\0overflow", *labels)
        bound = m.children.get(key)
        if bound is not None:
            return bound
    with m._flushing:
        issued = (_Tally(m.credentials.labels(labels[1])) if 200 <= status < 300 and labels[1] in CREDENTIAL_ACTIONS
                  else None)
        bound = (_Tally(m.requests.labels(*labels)), _shared_timing(m, labels[0], labels[1]), issued)
        m.children[key] = bound
        m.tallies += [t for t in bound if t is not None and t not in m.tallies]
    return bound


_MEMO = 8192


def _shared_timing(m: _Metrics, api: str, action: str) -> _Timing:
    """One histogram tally per (api, action): every status of an action shares it."""
    timings = m.__dict__.setdefault("timings", {})
    timing = timings.get((api, action))
    if timing is None:
        timing = timings[(api, action)] = _Timing(m.latency.labels(api, action))
    return timing


def start() -> None:
    """This process's metrics exist from now on (at zero), and its flusher runs: a worker calls it
    as it starts, so a scrape before its first request already lists its series."""
    if _on:
        _metrics()


def known_actions(names: object) -> None:
    """The served models' action names: labelled as themselves whatever else was seen."""
    _ACTION.allow(names)


def known_regions(names: object) -> None:
    """Every Region of the catalog: labelled as itself whatever else was seen."""
    _REGION.allow(names)


def throttled(group: str) -> None:
    if _on:
        _metrics().throttled.labels(_GROUP(group)).inc()


_GROUP = Bounded(64, r"[A-Za-z0-9:_-]{1,64}")


def journal_written() -> None:
    if _on:
        (_m if _m is not None else _metrics()).journal_tally.n += 1


def delivery_backlog(region: str, records: int, oldest_age: float) -> None:
    """Set by the delivery process each round, for every trail Region it knows."""
    if _on:
        m = _metrics()
        m.backlog.labels(_REGION(region)).set(records)
        m.oldest.labels(_REGION(region)).set(max(0.0, oldest_age))


def delivery_failure(region: str) -> None:
    if _on:
        _metrics().delivery_failures.labels(_REGION(region)).inc()


def cache(hit: bool) -> None:
    """One entity-cache look-up. Counted without a lock: a look-up in an off-loop thread racing one
    on the event loop may, rarely, be lost (a ratio, not an audit count)."""
    if _on:
        m = _m if _m is not None else _metrics()
        (m.cache_hit if hit else m.cache_miss).n += 1


def jwks_fetch(url: str, ok: bool) -> None:
    """One fetch for the provider at ``url``: labelled with its host only (no path or query)."""
    if _on:
        host = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("@")[-1].lower()
        _metrics().jwks.labels(_HOST(host), "ok" if ok else "error").inc()


def database_error(kind: str) -> None:
    """``kind``: ``outage`` (a store this node depends on is unreachable) or ``error``."""
    if _on:
        _metrics().db_errors.labels(kind if kind in ("outage", "error") else "error").inc()
