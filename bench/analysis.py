"""Turning wrk samples into the RESULTS.md section: best-of-rounds, the table, the verdicts."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scenarios import CLAIMS, GCI, P99_LIMIT_MS, TOP_CONNS, Claim

Sample = Any  # run.Sample (kept duck-typed: run.py imports this module)


def find(samples: list[Sample], kind: str, action: str | None, workers: int | None, conns: int,
         audit: bool = True) -> Sample | None:
    for s in samples:
        if (s.kind == kind and s.connections == conns and (action is None or s.action == action)
                and (workers is None or s.workers == workers) and s.audit == audit):
            return s
    return None


def best_of_rounds(samples: list[Sample]) -> list[Sample]:
    """Per target × connection count, the round with the most req/s (error-free rounds first).

    Other processes can only slow a run down, never speed it up, so on a shared machine the
    best round is the closest estimate of what the code does on a quiet one.
    """
    best: dict[tuple[str, str, int, bool, int, bool], Sample] = {}
    for s in samples:
        key = (s.kind, s.action, s.workers, s.audit, s.connections, getattr(s, "metrics", True))
        cur = best.get(key)
        if cur is None or (s.ok, s.rps) > (cur.ok, cur.rps):
            best[key] = s
    return list(best.values())


def best_workers(samples: list[Sample], connections: list[int]) -> int:
    """The worker count with the most OpenSTS GetCallerIdentity req/s (audit on) at the highest concurrency."""
    top = max(connections)
    cands = [s for s in samples if s.kind == "opensts" and s.action == GCI and s.audit and s.connections == top]
    return max(cands, key=lambda s: s.rps).workers if cands else 1


def results_table(samples: list[Sample]) -> str:
    """Markdown table: every target × connection count, with ratios for OpenSTS rows."""
    rows = ["| target | conns | req/s | p50 ms | p99 ms | × moto (same call) | ÷ trivial (same workers) "
            "| audit on ÷ off | errors | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for s in samples:
        ops = s.kind == "opensts"
        moto = find(samples, "moto", s.action, None, s.connections)
        trivial = find(samples, "trivial", None, s.workers, s.connections)
        off = find(samples, "opensts", s.action, s.workers, s.connections, audit=False)
        vs_moto = f"{s.rps / moto.rps:.1f}×" if ops and moto and moto.rps else ""
        vs_triv = f"{s.rps / trivial.rps:.0%}" if ops and trivial and trivial.rps else ""
        vs_off = f"{s.rps / off.rps:.0%}" if ops and s.audit and off and off.rps else ""
        errs = ", ".join(f"{k} {v}" for k, v in s.errors.items() if v) or "0"
        rows.append(f"| {s.label} | {s.connections} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} "
                    f"| {vs_moto} | {vs_triv} | {vs_off} | {errs} | {s.other_cpu:.0%} |")
    return "\n".join(rows)


def judge(claim: Claim, samples: list[Sample], connections: list[int], workers: int) -> str | None:
    """One bullet: the claim, MET/MISSED, and the ratio at every connection count."""
    parts, oks = [], []
    for conns in connections:
        ops = find(samples, claim.kind, claim.action, workers, conns)
        if claim.ref_kind == "opensts":  # the single server, same workers
            ref = find(samples, "opensts", claim.ref_action, workers, conns)
        elif claim.ref_kind == "opensts-noaudit":
            ref = find(samples, "opensts", claim.ref_action, workers, conns, audit=False)
        elif claim.ref_kind == "trivial":
            ref = find(samples, "trivial", None, workers, conns)
        else:
            ref = find(samples, claim.ref_kind, claim.ref_action, None, conns)
        if not (ops and ref and ref.rps):
            continue
        ratio = ops.rps / ref.rps
        oks.append(ratio >= claim.minimum)
        shown = f"{ratio:.0%}" if claim.percent else f"{ratio:.1f}×"
        parts.append(f"c={conns} {shown} ({ops.rps:,.0f} vs {ref.rps:,.0f} req/s)")
    if not oks:
        return None
    line = (f"- **{claim.title}** ({workers} worker(s)): **{'MET' if all(oks) else 'MISSED'}** "
            f"({sum(oks)}/{len(oks)} connection counts): " + "; ".join(parts))
    top = find(samples, "opensts", claim.action, workers, TOP_CONNS)
    if claim.p99 and top:
        ok = top.p99_ms < P99_LIMIT_MS
        line += (f"\n- **{claim.title.split(' ≥')[0]}: p99 < {P99_LIMIT_MS:g} ms at {TOP_CONNS} connections** "
                 f"({workers} worker(s)): **{'MET' if ok else 'MISSED'}** ({top.p99_ms:.2f} ms)")
    return line


def verdicts(samples: list[Sample], connections: list[int], gci_workers: int, scenario_workers: int) -> list[str]:
    out = []
    for claim in CLAIMS:
        # Claim 1 uses the best GetCallerIdentity worker count; the rest run at --scenario-workers.
        w = (gci_workers if claim.action == GCI and claim.ref_kind not in ("opensts-noaudit", "opensts")
             else scenario_workers)
        line = judge(claim, samples, connections, w)
        if line:
            out.append(line)
    return out


def workers_evidence(samples: list[Sample], connections: list[int]) -> list[str]:
    """Req/s per worker count, for OpenSTS and the trivial app, so the default is chosen by data."""
    out = []
    for kind, action in (("opensts", GCI), ("trivial", None)):
        counts = sorted({s.workers for s in samples if s.kind == kind and s.audit})
        if len(counts) < 2:
            continue
        for conns in connections:
            parts = []
            for w in counts:
                s = find(samples, kind, action, w, conns)
                if s:
                    parts.append(f"{w}w {s.rps:,.0f} req/s (p99 {s.p99_ms:.2f} ms)")
            out.append(f"- {kind} GetCallerIdentity, c={conns}: " + " vs ".join(parts))
    return out


def render_section(section: str, samples: list[Sample], args: argparse.Namespace, facts: dict[str, str],
                   cmdline: str, opensts_flags: list[str]) -> str:
    """The RESULTS.md section: command, machine, table, worker evidence, verdicts."""
    workers = best_workers(samples, args.connections)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts_md = "\n".join(f"- {k}: {v}" for k, v in facts.items())
    return "\n".join([
        section,
        "",
        f"Measured {when}, one run, all targets side by side on the same machine.",
        "",
        "Command:",
        "",
        "```sh",
        cmdline,
        "```",
        "",
        f"wrk: `-t{args.threads}` (capped at the connection count), {args.duration:g} s per run after a "
        f"{args.warmup:g} s warm-up at {max(args.connections)} connections; wrk runs on the same "
        f"{facts['nproc']} cores as the server, so every number includes that competition.",
        f"{args.repeat} round(s) over all targets, interleaved; each row is the best round for that "
        "target and connection count. *other load* = share of all cores used by processes other than "
        "the server and wrk during that run (the machine is shared; a high value means the row is "
        "pessimistic).",
        "Requests (one per target, replayed by wrk): GetCallerIdentity, GetSessionToken and AssumeRole are "
        "POSTs pre-signed with botocore SigV4 (OpenSTS verifies every replay fully; moto ignores "
        "signatures); AssumeRole names a role created with IAM `create_role` on the same server, whose trust "
        "policy allows account 111122223333; AssumeRoleWithWebIdentity is unsigned and carries one RS256 JWT "
        "(1 h) from the loopback HTTPS OIDC issuer of tests/federation/idp.py, registered with "
        "CreateOpenIDConnectProvider (OpenSTS fetches its JWKS once per worker and then serves from cache).",
        f"OpenSTS flags for every server: `{' '.join(opensts_flags) or 'none'}` (request quotas off: one "
        "account at AWS's 600 req/s quota would measure the throttle); *no audit* rows add `--no-audit`.",
        "",
        "Machine:",
        "",
        facts_md,
        "",
        "### Results",
        "",
        results_table(samples),
        "",
        "### Workers",
        "",
        *workers_evidence(samples, args.connections),
        "",
        f"Best OpenSTS GetCallerIdentity worker count at {max(args.connections)} connections: **{workers}** "
        f"(used for claim 1). Claims 2–4 run at `--scenario-workers {args.scenario_workers}`.",
        "",
        "### Verdict against the issues' targets",
        "",
        *verdicts(samples, args.connections, workers, args.scenario_workers),
        "",
    ])


def replace_section(path: Path, section_heading: str, section: str) -> None:
    """Write ``section`` into RESULTS.md, replacing the previous copy of the same heading only."""
    text = path.read_text() if path.exists() else "# OpenSTS benchmark results\n\n"
    start = text.find(section_heading)
    if start < 0:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(section_heading))
        tail = text[nxt + 1 :] if nxt >= 0 else ""
        new = text[:start] + section + ("\n" + tail if tail else "")
    path.write_text(new.rstrip("\n") + "\n")
