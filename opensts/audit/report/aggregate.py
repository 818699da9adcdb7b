"""Counting STS events by endpoint class, time and caller — memory bounded by distinct callers.

Every per-caller counter (user agents, source IPs, Regions, hosts, event names) keeps at most
``CAP`` distinct values and lumps the rest under ``(other)``, so a caller with a random user agent
per call cannot grow memory with the number of events.  Aggregates merge by addition, which is
what lets ``scan`` run files in several processes and add the results up in any order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from opensts.audit.report.classify import (
    GLOBAL,
    REGIONAL,
    STS_SOURCES,
    UNKNOWN,
    classify_event,
    classify_record,
)
from opensts.audit.report.record import StsRecord, UserIdentity

__all__ = ["Aggregate", "Caller", "CAP", "OTHER"]

CAP = 200
OTHER = "(other)"
NOT_LOGGED = "(not logged)"  # global call without awsServingRegion: before 2025, served in us-east-1
_INDEX = {GLOBAL: 0, REGIONAL: 1, UNKNOWN: 2}


def _bump(counter: dict[str, int], key: str, n: int = 1) -> None:
    if key in counter:
        counter[key] += n
    elif len(counter) < CAP:
        counter[key] = n
    else:
        counter[OTHER] = counter.get(OTHER, 0) + n


class Caller:
    """One principal (or role, with ``--group-by role``) that reached a given endpoint class."""

    __slots__ = ("principal", "kind", "account", "roles", "calls", "events", "agents", "ips", "regions",
                 "hosts", "first", "last")

    def __init__(self, principal: str, kind: str, account: str) -> None:
        self.principal = principal
        self.kind = kind
        self.account = account
        self.roles: dict[str, int] = {}
        self.calls = 0
        self.events: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        self.ips: dict[str, int] = {}
        self.regions: dict[str, int] = {}
        self.hosts: dict[str, int] = {}
        self.first = ""
        self.last = ""

    def merge(self, other: "Caller") -> None:
        self.calls += other.calls
        for mine, theirs in ((self.roles, other.roles), (self.events, other.events), (self.agents, other.agents),
                             (self.ips, other.ips), (self.regions, other.regions), (self.hosts, other.hosts)):
            for k, v in theirs.items():
                _bump(mine, k, v)
        if other.first and (not self.first or other.first < self.first):
            self.first = other.first
        if other.last > self.last:
            self.last = other.last

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for s, v in zip(self.__slots__, state):
            setattr(self, s, v)


def _identity(ui: Any) -> tuple[str, str, str, str | None]:
    """(principal, userIdentity type, account, role ARN or None) of a parsed ``userIdentity``."""
    if not isinstance(ui, dict):
        return _NO_IDENTITY
    role = None
    ctx = ui.get("sessionContext")
    if isinstance(ctx, dict):
        issuer = ctx.get("sessionIssuer")
        if isinstance(issuer, dict) and issuer.get("type") == "Role":
            role = issuer.get("arn")
    return _identity_parts(ui.get("type"), ui.get("accountId"), ui.get("arn"), ui.get("principalId"),
                           ui.get("invokedBy"), ui.get("identityProvider"), ui.get("userName"), role)


def _record_identity(ui: UserIdentity | None) -> tuple[str, str, str, str | None]:
    """:func:`_identity` of a decoded record's ``userIdentity``."""
    if ui is None:
        return _NO_IDENTITY
    ctx = ui.sessionContext
    issuer = ctx.sessionIssuer if ctx is not None else None
    role = issuer.arn if issuer is not None and issuer.type == "Role" else None
    return _identity_parts(ui.type, ui.accountId, ui.arn, ui.principalId, ui.invokedBy, ui.identityProvider,
                           ui.userName, role)


def _identity_parts(kind: Any, account: Any, arn: Any, principal_id: Any, invoked_by: Any, provider: Any,
                    user_name: Any, role: Any) -> tuple[str, str, str, str | None]:
    """A readable key for every variant of ``userIdentity``."""
    kind = kind or ""
    account = account or ""
    if arn:
        principal = arn
    elif kind == "AWSService":
        principal = f"service:{invoked_by or '?'}"
    elif kind in ("WebIdentityUser", "SAMLUser"):
        principal = f"{kind}:{provider or '?'}:{user_name or '?'}"
    elif kind == "AWSAccount":
        principal = f"account:{account or '?'}:{principal_id or '?'}"
    else:
        principal = principal_id or f"({kind or 'unknown'})"
    return str(principal), str(kind), str(account), role if isinstance(role, str) else None


_NO_IDENTITY = ("(no userIdentity)", "", "", None)


class Aggregate:
    """All the report's numbers.  ``add`` takes anything ``readers.read_records`` yields.

    That is a record decoded by ``record.decode_record``, a parsed record, a ``{"Records": […]}``
    document, a batch (list) of those, or ``("regional", [eventTime, …])``: regional events counted
    without parsing.
    """

    def __init__(self, group_by: str = "principal", track_unknown: bool = False) -> None:
        self.group_by = group_by
        self.track_unknown = track_unknown
        self.totals = {GLOBAL: 0, REGIONAL: 0, UNKNOWN: 0}
        self.skipped = 0  # non-STS events (parsed ones; the readers count pre-filtered ones)
        self.not_records = 0
        self.timeline: dict[str, list[int]] = {}  # "YYYY-MM-DDTHH" -> [global, regional, unknown]
        self.callers: dict[str, Caller] = {}
        self.unknown_callers: dict[str, Caller] = {}
        self.first = ""
        self.last = ""

    def add(self, obj: Any) -> None:
        if type(obj) is StsRecord:  # decoded by the readers (record.py): the usual case
            self._add_record(obj)
            return
        if type(obj) is list:  # a batch from the readers
            for item in obj:
                if type(item) is tuple:
                    self._add_regional(item[1])
                else:
                    self.add(item)
            return
        if not isinstance(obj, dict):
            if isinstance(obj, tuple):
                self._add_regional(obj[1])
            else:
                self.not_records += 1
            return
        source = obj.get("eventSource")
        if source is None:
            records = obj.get("Records")
            if isinstance(records, list):
                for item in records:
                    self.add(item)
            else:
                self.not_records += 1
            return
        if not isinstance(source, str) or source not in STS_SOURCES:
            self.skipped += 1
            return
        cls, serving, host = classify_event(obj)
        self._count(cls, serving, host, obj.get("eventTime") or obj.get("@timestamp") or "", _identity,
                    obj.get("userIdentity"), obj.get("eventName"), obj.get("userAgent"), obj.get("sourceIPAddress"))

    def _add_record(self, rec: StsRecord) -> None:
        source = rec.eventSource
        if source is None:
            self.not_records += 1
        elif not isinstance(source, str) or source not in STS_SOURCES:
            self.skipped += 1
        else:
            cls, serving, host = classify_record(rec)
            self._count(cls, serving, host, rec.eventTime or rec.timestamp or "", _record_identity, rec.userIdentity,
                        rec.eventName, rec.userAgent, rec.sourceIPAddress)

    def _count(self, cls: str, serving: str | None, host: str | None, when: Any,
               identity: Callable[[Any], tuple[str, str, str, str | None]], ui: Any, name: Any, agent: Any,
               ip: Any) -> None:
        """One STS event, whichever way it was read: totals, timeline, and its caller's counters."""
        self.totals[cls] += 1
        if not isinstance(when, str):
            when = ""
        if when:
            slot = self.timeline.get(when[:13])
            if slot is None:
                slot = self.timeline[when[:13]] = [0, 0, 0]
            slot[_INDEX[cls]] += 1
            if not self.first or when < self.first:
                self.first = when
            if when > self.last:
                self.last = when
        if cls == GLOBAL:
            table = self.callers
        elif cls == UNKNOWN and self.track_unknown:
            table = self.unknown_callers
        else:
            return
        principal, kind, account, role = identity(ui)
        key = role if (self.group_by == "role" and role) else principal
        caller = table.get(key)
        if caller is None:
            caller = table[key] = Caller(key, kind, account)
        caller.calls += 1
        if role:
            _bump(caller.roles, role)
        _bump(caller.events, str(name or "?"))
        _bump(caller.agents, str(agent or ""))
        _bump(caller.ips, str(ip or "?"))
        _bump(caller.regions, serving or NOT_LOGGED)
        if host:
            _bump(caller.hosts, host)
        if when:
            if not caller.first or when < caller.first:
                caller.first = when
            if when > caller.last:
                caller.last = when

    def _add_regional(self, times: list[str]) -> None:
        """Regional events the readers recognised without parsing: ``("regional", [eventTime, …])``.

        Why in bulk: they are most STS events of a migrated account, and Counter/min/max run in C.
        An empty time (not logged) counts in the totals only.
        """
        self.totals[REGIONAL] += len(times)
        times = [t for t in times if t]
        if not times:
            return
        timeline = self.timeline
        for hour, n in Counter([t[:13] for t in times]).items():
            slot = timeline.get(hour)
            if slot is None:
                slot = timeline[hour] = [0, 0, 0]
            slot[1] += n
        lo, hi = min(times), max(times)
        if not self.first or lo < self.first:
            self.first = lo
        if hi > self.last:
            self.last = hi

    def merge(self, other: "Aggregate") -> None:
        for k, v in other.totals.items():
            self.totals[k] += v
        self.skipped += other.skipped
        self.not_records += other.not_records
        for k, counts in other.timeline.items():
            slot = self.timeline.setdefault(k, [0, 0, 0])
            for i in range(3):
                slot[i] += counts[i]
        for mine, theirs in ((self.callers, other.callers), (self.unknown_callers, other.unknown_callers)):
            for key, caller in theirs.items():
                if key in mine:
                    mine[key].merge(caller)
                else:
                    mine[key] = caller
        if other.first and (not self.first or other.first < self.first):
            self.first = other.first
        if other.last > self.last:
            self.last = other.last
