"""``bench/run.py --compare-metrics``: the cost of the Prometheus metrics on the hot path.

GetCallerIdentity and AssumeRole, each on a server with metrics on (the default) and one started
with ``serve --no-metrics``, one after the other in every round (on, off, on, off, ... for each
action), so that load from other processes hits both alike. The comparison is per round (on ÷ off
of the same round, then the median over rounds) and of the best rounds; issue 18's target is
at most 5 % apart.
"""

from __future__ import annotations

import statistics
from typing import Any

from scenarios import AR, GCI, Target

SECTION = "## Load: metrics on vs off (bench/run.py --compare-metrics)"
TARGET = 0.05  # at most 5 % apart


def plan(actions: set[str], workers: int) -> list[Target]:
    return [Target("opensts", a, workers, metrics=m) for a in (GCI, AR) if a in actions for m in (True, False)]


def render(samples: list[Any], cmdline: str, facts: dict[str, str]) -> str:
    """The comparison table: per action × connections, best-round req/s on and off, their ratio,
    the median of the per-round ratios, and p50/p99."""
    rows = ["| action | conns | on req/s | off req/s | on ÷ off (best rounds) | on ÷ off (median of rounds) "
            "| p50 ms on / off | p99 ms on / off | other load | within 5 % |",
            "|---|---:|---:|---:|---:|---:|---|---|---:|---|"]
    keys = sorted({(s.action, s.workers, s.connections) for s in samples}, key=lambda k: (k[0] != GCI, k[2]))
    for action, workers, conns in keys:
        pick = [s for s in samples if (s.action, s.workers, s.connections) == (action, workers, conns)]
        on = {s.round: s for s in pick if s.metrics}
        off = {s.round: s for s in pick if not s.metrics}
        if not on or not off:
            continue
        best_on = max(on.values(), key=lambda s: s.rps)
        best_off = max(off.values(), key=lambda s: s.rps)
        ratios = [on[r].rps / off[r].rps for r in on if r in off and off[r].rps]
        best = best_on.rps / best_off.rps if best_off.rps else 0.0
        median = statistics.median(ratios) if ratios else 0.0
        ok = "yes" if abs(1 - median) <= TARGET or abs(1 - best) <= TARGET else "NO"
        load = statistics.mean(s.other_cpu for s in pick)  # other processes' share of the cores: noise
        rows.append(f"| {action}, {workers}w | {conns} | {best_on.rps:,.0f} | {best_off.rps:,.0f} | {best:.1%} "
                    f"| {median:.1%} ({len(ratios)} rounds) | {best_on.p50_ms:.2f} / {best_off.p50_ms:.2f} "
                    f"| {best_on.p99_ms:.2f} / {best_off.p99_ms:.2f} | {load:.0%} | {ok} |")
    lines = [SECTION, "", f"`{cmdline}`", "", *rows, "",
             "Other load above ~20 % makes req/s differ by more than the 5 % measured; then see "
             "`bench/metrics_cost.py` (process CPU time per request, metrics on vs off, in one process).", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    return "\n".join(lines) + "\n"
