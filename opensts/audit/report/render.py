"""The report as a dict (the ``--json`` shape), a text table, or CSV (one row per global caller)."""

from __future__ import annotations

import csv
import io
from typing import Any

from opensts.audit.report.aggregate import Aggregate, Caller
from opensts.audit.report.classify import GLOBAL, REGIONAL, UNKNOWN
from opensts.audit.report.readers import ReadStats
from opensts.audit.report.sdk import identify

__all__ = ["build", "to_text", "to_csv", "CSV_FIELDS"]

CSV_FIELDS = ["principal", "type", "account", "role", "calls", "first_seen", "last_seen", "event_names",
              "serving_regions", "source_ips", "hosts", "user_agents", "sdks", "change"]


def _ranked(counter: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _caller(c: Caller) -> dict[str, Any]:
    agents = []
    for ua, n in _ranked(c.agents).items():
        sdk = identify(ua)
        agents.append({"user_agent": ua, "calls": n, "sdk": sdk.label, "change": sdk.advice})
    roles = _ranked(c.roles)
    return {
        "principal": c.principal,
        "type": c.kind,
        "account": c.account,
        "role": next(iter(roles), None),
        "calls": c.calls,
        "first_seen": c.first or None,
        "last_seen": c.last or None,
        "event_names": _ranked(c.events),
        "serving_regions": _ranked(c.regions),
        "source_ips": _ranked(c.ips),
        "hosts": _ranked(c.hosts),
        "user_agents": agents,
        **({"roles": roles} if len(roles) > 1 else {}),
    }


def _sdks(callers: list[Caller]) -> list[dict[str, Any]]:
    """Global calls per client version, with the change to make — the 'what to change' list."""
    rows: dict[str, dict[str, Any]] = {}
    for c in callers:
        for ua, n in c.agents.items():
            sdk = identify(ua)
            row = rows.get(sdk.label)
            if row is None:
                row = rows[sdk.label] = {"sdk": sdk.label, "family": sdk.key, "calls": 0, "callers": set(),
                                         "change": sdk.advice}
            row["calls"] += n
            row["callers"].add(c.principal)
    out = sorted(rows.values(), key=lambda r: (-r["calls"], r["sdk"]))
    for r in out:
        r["callers"] = len(r["callers"])
    return out


def build(agg: Aggregate, stats: ReadStats) -> dict[str, Any]:
    """Everything in one JSON-ready dict; ``totals`` and ``callers`` are the documented core."""
    callers = sorted(agg.callers.values(), key=lambda c: (-c.calls, c.principal))
    report: dict[str, Any] = {
        "totals": {GLOBAL: agg.totals[GLOBAL], REGIONAL: agg.totals[REGIONAL], UNKNOWN: agg.totals[UNKNOWN]},
        "callers": [_caller(c) for c in callers],
        "sdks": _sdks(callers),
        "skipped": {
            "non_sts_events": agg.skipped + stats.skipped,
            "not_records": agg.not_records + stats.not_records,
            "bad_records": stats.bad_records,
            "unreadable_files": stats.unreadable,
        },
        "input": {"files": stats.files, "bytes_read": stats.bytes_read, "bytes_uncompressed": stats.bytes_raw},
        "period": {"first": agg.first or None, "last": agg.last or None},
        "timeline": [{"hour": k, GLOBAL: v[0], REGIONAL: v[1], UNKNOWN: v[2]} for k, v in sorted(agg.timeline.items())],
    }
    if agg.track_unknown:
        report["unknown_callers"] = [_caller(c) for c in sorted(agg.unknown_callers.values(),
                                                                 key=lambda c: (-c.calls, c.principal))]
    return report


def _top(counter: dict[str, int], width: int) -> str:
    if not counter:
        return "-"
    first = next(iter(counter))
    more = f" (+{len(counter) - 1})" if len(counter) > 1 else ""
    return _cut(first, width - len(more)) + more


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.1f} kB"


def to_text(report: dict[str, Any], top: int = 50) -> str:
    t = report["totals"]
    sk = report["skipped"]
    inp = report["input"]
    all_sts = t[GLOBAL] + t[REGIONAL] + t[UNKNOWN]
    lines = []
    span = ""
    if report["period"]["first"]:
        span = f", {report['period']['first']} … {report['period']['last']}"
    lines.append(f"STS endpoint usage — {inp['files']:,} file{'s' if inp['files'] != 1 else ''}, {_mb(inp['bytes_read'])} read "
                 f"({_mb(inp['bytes_uncompressed'])} uncompressed){span}")
    share = f" ({100 * t[GLOBAL] / all_sts:.1f}%)" if all_sts else ""
    lines.append(f"STS calls:  global {t[GLOBAL]:,}{share}   regional {t[REGIONAL]:,}   unknown {t[UNKNOWN]:,}")
    extra = [f"{sk['non_sts_events']:,} non-STS events"]
    if sk["not_records"]:
        extra.append(f"{sk['not_records']:,} JSON values that are not CloudTrail records")
    if sk["bad_records"]:
        extra.append(f"{sk['bad_records']:,} invalid JSON pieces")
    if sk["unreadable_files"]:
        extra.append(f"{sk['unreadable_files']:,} unreadable files")
    lines.append("Skipped:    " + ", ".join(extra))
    callers = report["callers"]
    lines.append("")
    if not callers:
        lines.append("No calls to the global endpoint (sts.amazonaws.com) found.")
    else:
        shown = callers[:top] if top > 0 else callers
        head = f"Global-endpoint callers ({len(callers):,})" if len(shown) == len(callers) else \
            f"Global-endpoint callers (top {len(shown)} of {len(callers):,}; --json or --csv for all)"
        lines.append(head + ":")
        cols = ["CALLS", "PRINCIPAL", "ROLE", "EVENTS", "SERVED IN", "SOURCE IP", "SDK"]
        rows = []
        for c in shown:
            sdks: dict[str, int] = {}
            for a in c["user_agents"]:
                sdks[a["sdk"]] = sdks.get(a["sdk"], 0) + a["calls"]
            sdks = _ranked(sdks)
            role = c["role"].split(":", 5)[-1] if c["role"] else "-"
            rows.append([f"{c['calls']:,}", _cut(c["principal"], 64), _cut(role, 32), _top(c["event_names"], 26),
                         _top(c["serving_regions"], 18), _top(c["source_ips"], 22), _top(sdks, 36)])
        widths = [max(len(r[i]) for r in rows + [cols]) for i in range(len(cols))]
        fmt = lambda r: "  " + "  ".join(  # noqa: E731
            (v.rjust(widths[i]) if i == 0 else v.ljust(widths[i])) for i, v in enumerate(r)).rstrip()
        lines.append(fmt(cols))
        lines.extend(fmt(r) for r in rows)
        lines.append("")
        lines.append("What to change (global calls per client):")
        for s in report["sdks"][: max(top, 1) if top > 0 else None]:
            who = f"{s['callers']} caller" + ("s" if s["callers"] != 1 else "")
            lines.append(f"  {s['calls']:>9,}  {s['sdk']}  ({who})")
            lines.append(f"             → {s['change']}")
    if t[UNKNOWN]:
        lines.append("")
        lines.append(f"{t[UNKNOWN]:,} STS events carry neither additionalEventData.RequestDetails.endpointType nor a "
                     "known tlsDetails.clientProvidedHostHeader (records before 2019, AWS-service calls, custom "
                     "endpoints); --show-unknown lists their callers.")
        for c in report.get("unknown_callers", [])[: top if top > 0 else None]:
            lines.append(f"  {c['calls']:>9,}  {c['principal']}  {_top(c['event_names'], 40)}")
    return "\n".join(lines) + "\n"


def _join(counter: dict[str, int]) -> str:
    return "; ".join(f"{k} ({v})" for k, v in counter.items())


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for c in report["callers"]:
        sdks: dict[str, int] = {}
        changes: list[str] = []
        for a in c["user_agents"]:
            sdks[a["sdk"]] = sdks.get(a["sdk"], 0) + a["calls"]
            if a["change"] not in changes:
                changes.append(a["change"])
        w.writerow({
            "principal": c["principal"], "type": c["type"], "account": c["account"], "role": c["role"] or "",
            "calls": c["calls"], "first_seen": c["first_seen"] or "", "last_seen": c["last_seen"] or "",
            "event_names": _join(c["event_names"]), "serving_regions": _join(c["serving_regions"]),
            "source_ips": _join(c["source_ips"]), "hosts": _join(c["hosts"]),
            "user_agents": _join({a["user_agent"]: a["calls"] for a in c["user_agents"]}),
            "sdks": _join(_ranked(sdks)), "change": " | ".join(changes),
        })
    return buf.getvalue()
