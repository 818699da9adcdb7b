"""OpenSTS load benchmark: OpenSTS vs a trivial ASGI app (the ceiling) vs moto's server.

Why this shape (see bench/README.md for how to read the output):

* The load generator is ``wrk`` in its own process, replaying ONE request that we pre-sign with
  botocore's ``SigV4Auth`` right before each run. A SigV4 signature stays valid for 15 minutes and
  OpenSTS (like AWS) has no replay protection, so every replayed request goes through full
  signature verification, exactly like a real SDK call, without the client paying for signing.
* Three targets, side by side, in one run on the same machine:
  OpenSTS (``opensts serve``), ``bench/trivial_app.py`` under identical uvicorn settings (no
  Python service can beat it, so it is the ceiling) and moto's server (the project's baseline).
* Every server binds 127.0.0.1 on a free port, runs in its own session and is stopped by PID in a
  ``finally`` (also on Ctrl-C). Every wrk run is bounded by ``--duration``.

Usage: ``.venv/bin/python bench/run.py [--write-results]`` (or ``make bench ARGS=...``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import analysis
import fleet_mode
import metrics_mode
import scenarios
from scenarios import ACTIONS, GST, WEB, Target

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MOTO_VENV = BENCH / ".venv-moto"
OUT_DIR = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
SECTION = "## Load: every STS claim, side by side (bench/run.py)"
FLEET_SECTION = "## Load: a fleet node next to the single server (bench/run.py --fleet)"

WRK_INSTALL = "apt-get update && apt-get install -y wrk"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One wrk run: a target at one connection count."""

    label: str
    kind: str
    action: str
    workers: int
    audit: bool
    connections: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    other_cpu: float = 0.0  # share of all cores used by processes that are not ours, during the run
    round: int = 1
    metrics: bool = True  # opensts: served with metrics on (--compare-metrics runs both)

    @property
    def ok(self) -> bool:
        return self.requests > 0 and not any(self.errors.values())


# --------------------------------------------------------------------------------------------
# Tooling: wrk and moto's private virtualenv
# --------------------------------------------------------------------------------------------
def ensure_wrk(install: bool) -> str:
    """Return the wrk path; install it from Debian with ``--install``, else explain how."""
    path = shutil.which("wrk")
    if path:
        return path
    if not install:
        sys.exit(f"wrk is not installed. Install it with:  {WRK_INSTALL}   (or rerun with --install)")
    subprocess.run(["sh", "-c", WRK_INSTALL], check=True)
    path = shutil.which("wrk")
    if not path:
        sys.exit("wrk still not found after installing it")
    return path


def ensure_moto() -> Path:
    """moto lives in its own venv (bench/.venv-moto) so its pins never touch the project's .venv."""
    server = MOTO_VENV / "bin" / "moto_server"
    if server.exists():
        return server
    print(f"creating {MOTO_VENV} and installing moto[server] (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MOTO_VENV)], check=True)
    pip = [str(MOTO_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "moto[server]"], check=True)
    return server


def moto_version() -> str:
    out = subprocess.run(
        [str(MOTO_VENV / "bin" / "python"), "-c", "import moto; print(moto.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (tiny race, fine for a benchmark)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def snapshot_source(dest: Path, timeout: float = 120.0) -> str:
    """Copy opensts/ from the working tree into ``dest`` and return a short fingerprint of it.

    Why: the tree is edited while we measure. Servers import this frozen copy (PYTHONPATH beats
    the editable install), so every target and round runs the same code. A copy that does not
    import (somebody is mid-edit) is retried until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(REPO / "opensts", dest / "opensts", ignore=shutil.ignore_patterns("__pycache__"))
        probe = subprocess.run(
            [sys.executable, "-c", "import opensts.app_state, opensts.edge.serve, opensts.cli"],
            env={**os.environ, "PYTHONPATH": str(dest)}, cwd=dest, capture_output=True, text=True, check=False,
        )
        if probe.returncode == 0:
            break
        if time.monotonic() > deadline:
            sys.exit(f"the opensts working tree does not import:\n{probe.stderr[-2000:]}")
        print("  opensts working tree does not import right now (being edited?); retrying in 5 s", flush=True)
        time.sleep(5)
    digest = hashlib.sha256()
    for path in sorted((dest / "opensts").rglob("*.py")):
        digest.update(path.relative_to(dest).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def git_describe() -> str:
    """HEAD plus whether the opensts/ tree differs from it (benchmarks of uncommitted code say so)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    dirty = git("status", "--porcelain", "--", "opensts")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in opensts/" if dirty else "")


def opensts_bench_flags(src: Path) -> list[str]:
    """Flags that turn off request quotas, when this version of ``opensts serve`` has them.

    Why: AWS throttles at 600 req/s per account and Region, and so does OpenSTS by default; the
    benchmark uses one account, so with quotas on it would measure the throttle, not the server.
    """
    help_text = subprocess.run(
        [sys.executable, "-m", "opensts", "serve", "--help"], env={**os.environ, "PYTHONPATH": str(src)},
        cwd=src, capture_output=True, text=True, check=False,
    ).stdout
    return ["--quota-rps", "0"] if "--quota-rps" in help_text else []


OPENSTS_FLAGS: list[str] = []  # filled by main() from the snapshot's `serve --help`
CA_BUNDLE: list[str] = []  # the bench OIDC issuer's CA file, when AssumeRoleWithWebIdentity is measured
AUDIT_DURABILITY: list[str] = []  # --audit-durability: written to each OpenSTS data dir's opensts.toml


def server_command(target: Target, port: int, data_dir: Path) -> list[str]:
    """The exact command line per target; OpenSTS and the trivial app share uvicorn settings."""
    listen = f"127.0.0.1:{port}"
    if target.kind == "opensts":  # `python -m opensts` == the `opensts` console script
        extra = ([] if target.audit else ["--no-audit"]) + ([] if target.metrics else ["--no-metrics"]) + (
            ["--ca-bundle", CA_BUNDLE[0]] if target.action == WEB and CA_BUNDLE else [])
        return [sys.executable, "-m", "opensts", "serve", "--data-dir", str(data_dir), "--listen", listen,
                "--workers", str(target.workers), *OPENSTS_FLAGS, *extra]
    if target.kind == "trivial":
        return [sys.executable, str(BENCH / "trivial_app.py"), "--listen", listen, "--workers", str(target.workers)]
    return [str(MOTO_VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]


def server_env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env.update(
        OPENSTS_ACCOUNT_ID=scenarios.ACCOUNT_ID,
        OPENSTS_ADMIN_ACCESS_KEY_ID=scenarios.ADMIN_KEY,
        OPENSTS_ADMIN_SECRET_ACCESS_KEY=scenarios.ADMIN_SECRET,
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll until the port accepts connections; fail fast if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server by PID (it stops its own workers), then SIGKILL its session if needed.

    Each server runs in its own session (``start_new_session``), so its process group id is the
    PID we started: the fallback only ever reaches processes this script created.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftover forked workers, if any
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


@contextmanager
def running(target: Target, log_dir: Path, src: Path | None) -> Iterator[tuple[str, int]]:
    """Start ``target`` on a free 127.0.0.1 port; yield its base URL; always stop it."""
    if target.kind == fleet_mode.KIND:  # a us-west-2 node of the run's fleet (bench/fleet_mode.py)
        with fleet_mode.running_node(target.slug, target.workers, log_dir) as started:
            yield started
        return
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="opensts-bench-"))
    if target.kind == "opensts" and AUDIT_DURABILITY:
        (data_dir / "opensts.toml").write_text(f'[audit]\ndurability = "{AUDIT_DURABILITY[0]}"\n')
    cmd = server_command(target, port, data_dir)
    log_path = log_dir / f"{target.slug}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=data_dir, env=server_env(src), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_listening(port, proc)
            yield f"http://127.0.0.1:{port}/", proc.pid
        except Exception:
            log.flush()
            print(f"  server log ({log_path}):\n" + log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            stop_server(proc)
            shutil.rmtree(data_dir, ignore_errors=True)



# --------------------------------------------------------------------------------------------
# Other load on the machine: a shared 2-core box makes every number depend on it, so we measure it
# --------------------------------------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def session_jiffies(sid: int) -> int:
    """CPU jiffies (user+system) of every live process in session ``sid`` (a server + its workers)."""
    used = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[3]) == sid:  # field 6: session id
            used += int(rest[11]) + int(rest[12])  # fields 14, 15: utime, stime
    return used


def busy_share(seconds: float = 1.0) -> float:
    """Share of all cores busy over ``seconds`` (before a server starts, that is all foreign)."""
    busy0, total0 = cpu_jiffies()
    time.sleep(seconds)
    busy1, total1 = cpu_jiffies()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(limit: float, timeout: float) -> float:
    """Wait (up to ``timeout`` s) until other processes use less than ``limit`` of the machine."""
    deadline = time.monotonic() + timeout
    share = busy_share()
    while share > limit and time.monotonic() < deadline:
        print(f"  machine busy ({share:.0%} of all cores used by other processes); waiting ...", flush=True)
        share = busy_share(2.0)
    return share

# --------------------------------------------------------------------------------------------
# The request: signed by botocore, replayed by wrk
# --------------------------------------------------------------------------------------------
def check_once(url: str, headers: dict[str, str], body: str, action: str) -> None:
    """Send the request once and insist on a 200 carrying the action's result, before loading."""
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", "replace")
    if status != 200 or (f"{action}Result" not in text and "<Arn>" not in text):
        raise RuntimeError(f"sanity request to {url} failed: HTTP {status}: {text[:300]}")


def lua_string(value: str) -> str:
    """A Lua string literal (decimal escapes for anything but plain printable ASCII)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in '"\\' or code < 32 or code > 126:
            out.append("".join(f"\\{b}" for b in ch.encode()))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# The done() hook prints one machine-readable line, so we never parse wrk's human output.
_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,'
    .. '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def write_lua(path: Path, headers: dict[str, str], body: str) -> None:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}", "wrk.headers = {}"]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _LUA_DONE)


def run_wrk(
    wrk: str, url: str, script: Path, connections: int, threads: int, seconds: float, server_sid: int
) -> dict[str, float]:
    """One bounded wrk run; returns the numbers from the done() hook plus ``other_cpu``.

    ``other_cpu`` = machine busy time minus the server's and wrk's own CPU time, as a share of
    all cores: how much of the box somebody else took while we measured.
    """
    threads = max(1, min(threads, connections))  # wrk refuses more threads than connections
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url]
    busy0, total0 = cpu_jiffies()
    server0 = session_jiffies(server_sid)
    child0 = os.times()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    child1 = os.times()
    server1 = session_jiffies(server_sid)
    busy1, total1 = cpu_jiffies()
    wrk_jiffies = (child1.children_user + child1.children_system - child0.children_user - child0.children_system) * CLK_TCK
    other = (busy1 - busy0) - (server1 - server0) - wrk_jiffies
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON ") :])
            result["other_cpu"] = max(0.0, other / max(1, total1 - total0))
            return result
    raise RuntimeError(f"wrk produced no result (exit {out.returncode}): {out.stderr or out.stdout}")


def measure(wrk: str, target: Target, args: argparse.Namespace, log_dir: Path, rnd: int) -> list[Sample]:
    """Start the target, sanity-check it, warm it up, then one wrk run per connection count."""
    samples = []
    if args.quiet_limit < 1:
        wait_for_quiet(args.quiet_limit, args.quiet_timeout)
    with running(target, log_dir, args.src) as (url, sid):
        script = log_dir / f"{target.slug}.lua"
        build = scenarios.prepare(target, url, args.issuer)  # provision roles/providers on the server
        headers, body = build()
        if target.kind == fleet_mode.KIND:  # a role made through the node reaches its replica within a moment
            fleet_mode.wait_assumable(lambda: check_once(url, headers, body, target.action))
        else:
            check_once(url, headers, body, target.action)
        write_lua(script, headers, body)
        if args.warmup > 0:
            run_wrk(wrk, url, script, max(args.connections), args.threads, args.warmup, sid)
        for conns in args.connections:
            headers, body = build()
            write_lua(script, headers, body)  # fresh signature per run: never near the 15-minute limit
            raw = run_wrk(wrk, url, script, conns, args.threads, args.duration, sid)
            sample = to_sample(target, conns, min(args.threads, conns), raw, rnd)
            print(f"  {sample.label:<48} c={conns:<3} {sample.rps:>9.0f} req/s  "
                  f"p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms  other load {sample.other_cpu:4.0%}"
                  + ("" if sample.ok else f"  ERRORS {sample.errors}"), flush=True)
            samples.append(sample)
    return samples


def to_sample(target: Target, conns: int, threads: int, raw: dict[str, float], rnd: int) -> Sample:
    duration = raw["duration_us"] / 1e6
    errors = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout")}
    return Sample(
        label=target.label,
        kind=target.kind,
        action=target.action,
        workers=target.workers,
        audit=target.audit,
        connections=conns,
        threads=threads,
        duration_s=round(duration, 2),
        requests=int(raw["requests"]),
        rps=raw["requests"] / duration if duration else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
        other_cpu=raw["other_cpu"],
        round=rnd,
        metrics=target.metrics,
    )


# --------------------------------------------------------------------------------------------
# Reporting (the analysis itself lives in bench/analysis.py)
# --------------------------------------------------------------------------------------------
def machine_facts(wrk: str, snapshot: str) -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk_ver = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    version = lambda name: metadata.version(name)  # noqa: E731
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "botocore (signer)": version("botocore"),
        "opensts code": f"{git_describe()} (snapshot {snapshot})",
        "wrk": (wrk_ver.stdout or wrk_ver.stderr).split("[")[0].strip(),
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def csv_ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="OpenSTS vs trivial ASGI app vs moto, with wrk.")
    p.add_argument("--connections", type=csv_ints, default=None, help="default 1,8,32 (--fleet: 32)")
    p.add_argument("--workers", type=csv_ints, default=[1, 2],
                   help="OpenSTS/trivial worker counts for GetCallerIdentity (default 1,2)")
    p.add_argument("--scenario-workers", type=int, default=2,
                   help="OpenSTS worker count for the other scenarios and the audit-off rows (default 2)")
    p.add_argument("--actions", default=",".join(ACTIONS),
                   help=f"comma list of STS actions to measure (default {','.join(ACTIONS)})")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run (default 8)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server (default 2)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1; see README)")
    p.add_argument("--repeat", type=int, default=1, help="rounds over all targets; best round is reported")
    p.add_argument("--quiet-limit", type=float, default=0.15,
                   help="before each server, wait until other processes use less than this share of "
                        "the machine (default 0.15; 1 disables)")
    p.add_argument("--quiet-timeout", type=float, default=30.0, help="max seconds to wait for quiet (default 30)")
    p.add_argument("--targets", default="opensts,trivial,moto", help="comma list (default all three)")
    p.add_argument("--no-session-token", action="store_true", help="skip OpenSTS GetSessionToken")
    p.add_argument("--install", action="store_true", help="apt-get install wrk if it is missing")
    p.add_argument("--write-results", action="store_true", help=f"replace '{SECTION}' in bench/RESULTS.md")
    p.add_argument("--fleet", action="store_true",
                   help="only the fleet comparison: a us-west-2 fleet node (replica database, Redis quotas on) "
                        "next to the single server, GetCallerIdentity and AssumeRole at --scenario-workers "
                        "(needs PostgreSQL and redis-server; see bench/README.md)")
    p.add_argument("--compare-metrics", action="store_true",
                   help="only the metrics' cost: GetCallerIdentity and AssumeRole at --scenario-workers with "
                   "metrics on and off (serve --no-metrics), interleaved per round; prints on ÷ off")
    p.add_argument("--audit-durability", choices=["process", "disk"], default=None,
                   help="OpenSTS [audit] durability for audited targets (default: the server's, process)")
    args = p.parse_args(argv)
    if args.connections is None:
        args.connections = [32] if args.fleet else [1, 8, 32]
    args.actions = {a.strip() for a in args.actions.split(",") if a.strip()}
    unknown = args.actions - set(ACTIONS)
    if unknown:
        p.error(f"unknown action(s) {sorted(unknown)}; choose from {','.join(ACTIONS)}")
    if args.no_session_token:
        args.actions.discard(GST)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cmdline = ".venv/bin/python bench/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    wrk = ensure_wrk(args.install)
    if args.fleet:
        targets = scenarios.plan_fleet(args.actions, args.scenario_workers)
    elif args.compare_metrics:
        targets = metrics_mode.plan(args.actions, args.scenario_workers)
    else:
        targets = scenarios.plan({t.strip() for t in args.targets.split(",")}, args.actions, args.workers,
                                 args.scenario_workers)
    section_heading = FLEET_SECTION if args.fleet else metrics_mode.SECTION if args.compare_metrics else SECTION
    if any(t.kind == "moto" for t in targets):
        ensure_moto()
    OUT_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_dir = OUT_DIR / stamp
    log_dir.mkdir()
    args.src = None
    snapshot = "none"
    if args.audit_durability:
        AUDIT_DURABILITY[:] = [args.audit_durability]
        print(f"opensts audit durability: {args.audit_durability}", flush=True)
    if any(t.kind in ("opensts", fleet_mode.KIND) for t in targets):
        args.src = log_dir / "src"
        snapshot = snapshot_source(args.src)
        OPENSTS_FLAGS[:] = opensts_bench_flags(args.src)
        if OPENSTS_FLAGS:
            print(f"opensts extra flags: {' '.join(OPENSTS_FLAGS)}", flush=True)
    facts = machine_facts(wrk, snapshot)
    facts["opensts audit durability"] = args.audit_durability or "process (the default)"
    if any(t.kind == "moto" for t in targets):
        facts["moto"] = moto_version()
    print(f"bench: {len(targets)} targets × {args.connections} connections, {args.duration:g}s each; "
          f"logs in {log_dir}", flush=True)
    samples: list[Sample] = []
    args.issuer = None
    try:
        if any(t.action == WEB for t in targets):
            # A real HTTPS OIDC issuer on loopback (a thread of this process) for AssumeRoleWithWebIdentity.
            args.issuer = scenarios.start_issuer(log_dir)
            CA_BUNDLE[:] = [str(args.issuer.ca_path)]
            print(f"OIDC issuer: {args.issuer.url} (CA {args.issuer.ca_path})", flush=True)
        if any(t.kind == fleet_mode.KIND for t in targets):
            print("starting the fleet (PostgreSQL primary + hot standby, Redis, us-east-1 node) ...", flush=True)
            fleet = fleet_mode.start(args.src, log_dir / "fleet",
                                     (scenarios.ACCOUNT_ID, scenarios.ADMIN_KEY, scenarios.ADMIN_SECRET))
            facts["fleet node"] = fleet_mode.describe()
            facts["PostgreSQL"] = f"primary {fleet.primary_url}, hot standby {fleet.replica_url}"
        for rnd in range(1, args.repeat + 1):
            for target in targets:
                print(f"[round {rnd}/{args.repeat}] {target.label}:", flush=True)
                samples += measure(wrk, target, args, log_dir, rnd)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        fleet_mode.stop()
        if args.issuer is not None:
            args.issuer.close()
        (log_dir / "samples.json").write_text(json.dumps([asdict(s) for s in samples], indent=2))
    if args.compare_metrics:  # per-round ratios need every round: no best-of-rounds first
        section = metrics_mode.render(samples, cmdline, facts)
        print("\n" + section)
        if args.write_results:
            analysis.replace_section(RESULTS, section_heading, section)
        return 0 if all(s.ok for s in samples) else 1
    samples = analysis.best_of_rounds(samples)
    section = analysis.render_section(section_heading, samples, args, facts, cmdline, OPENSTS_FLAGS)
    print("\n" + section)
    if args.write_results:
        analysis.replace_section(RESULTS, section_heading, section)
        print(f"wrote {RESULTS}")
    return 0 if all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
