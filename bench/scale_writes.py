"""AssumeRole throughput with and without IAM writes in the background (issue 19 item 2).

Why: every IAM write used to empty every worker's cache, so ~120 writes/s cut AssumeRole 1.5-10x.
Invalidation is targeted now (store/changes.py); the target is AssumeRole with 100 IAM writes/s
in the background >= 80 % of AssumeRole without, on SQLite and on PostgreSQL.

Shape: for each backend, one `opensts serve --workers 2 --quota-rps 0` (bench/run.py's
server_command), wrk at c=32 replaying one pre-signed AssumeRole (bench/run.py's load generator,
its own process), in interleaved rounds: quiet, then with a writer process (this script with
``--writer``) sending SigV4-signed IAM writes at ``--rate`` per second to OTHER roles and users
(``--touch other``) or to the assumed role itself (``--touch self``: TagRole on it, the worst
case). Prints the median req/s of each and the ratio. ``--burn CORES`` adds a control phase: no
writes, a process burning CORES of CPU (what any work of the writes' size costs on these cores).
Everything runs on 127.0.0.1; every wrk run, the writer and the burner are bounded by time;
servers, writers, burners and the throwaway PostgreSQL cluster are stopped by PID in ``finally``
blocks.

Usage: ``.venv/bin/python bench/scale_writes.py [--backends sqlite,postgresql] [--duration 10]
[--rounds 2] [--rate 100] [--touch other,self] [--burn CORES]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO)]

import run  # noqa: E402  (bench/run.py: server start/stop, wrk)
import scenarios  # noqa: E402
from scenarios import AR, Target  # noqa: E402

IAM_VERSION = "2010-05-08"


# -- the writer (a separate process) -----------------------------------------------------------
def _iam_request(url: str, params: dict[str, str]) -> tuple[dict[str, str], str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = urlencode({**params, "Version": IAM_VERSION})
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": scenarios.FORM})
    SigV4Auth(Credentials(scenarios.ADMIN_KEY, scenarios.ADMIN_SECRET), "iam", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(url).netloc
    return headers, body


class _Conn:
    """One keep-alive connection sending signed IAM calls (cheaper than boto3 per call)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=10)

    def call(self, **params: str) -> int:
        return self.send(*_iam_request(self.url, params))

    def send(self, headers: dict[str, str], body: str) -> int:
        try:
            self.conn.request("POST", "/", body=body, headers=headers)
            resp = self.conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=10)
            return 0


def _doc(n: int) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{n % 7}/*"}]})


def writer(url: str, rate: float, seconds: float, touch: str, role: str) -> None:
    """Provision other entities, print READY, then write at ``rate``/s for ``seconds``; print the count."""
    conn = _Conn(url)
    tag = uuid.uuid4().hex[:6]
    trust = scenarios.trust_doc({"AWS": f"arn:aws:iam::{scenarios.ACCOUNT_ID}:root"}, "sts:AssumeRole")
    roles = [f"w-{tag}-r{i}" for i in range(20)]
    users = [f"w-{tag}-u{i}" for i in range(10)]
    for name in roles:
        conn.call(Action="CreateRole", RoleName=name, AssumeRolePolicyDocument=trust)
    for name in users:
        conn.call(Action="CreateUser", UserName=name)
    policy_arn = f"arn:aws:iam::{scenarios.ACCOUNT_ID}:policy/w-{tag}-p"
    conn.call(Action="CreatePolicy", PolicyName=f"w-{tag}-p", PolicyDocument=_doc(0))
    conn.call(Action="CreatePolicyVersion", PolicyArn=policy_arn, PolicyDocument=_doc(1))
    conn.call(Action="AttachRolePolicy", RoleName=roles[0], PolicyArn=policy_arn)  # a policy that is used

    def other(n: int) -> dict[str, str]:
        kind = n % 4
        if kind == 0:
            return {"Action": "PutRolePolicy", "RoleName": roles[n % 20], "PolicyName": "p", "PolicyDocument": _doc(n)}
        if kind == 1:
            return {"Action": "TagRole", "RoleName": roles[n % 20], "Tags.member.1.Key": "n",
                    "Tags.member.1.Value": str(n)}
        if kind == 2:
            return {"Action": "PutUserPolicy", "UserName": users[n % 10], "PolicyName": "p", "PolicyDocument": _doc(n)}
        return {"Action": "SetDefaultPolicyVersion", "PolicyArn": policy_arn,
                "VersionId": f"v{1 + (n // 8) % 2}"} if (n // 4) % 2 == 0 else \
            {"Action": "UpdateAssumeRolePolicy", "RoleName": roles[n % 20], "PolicyDocument": trust}

    def itself(n: int) -> dict[str, str]:
        return {"Action": "TagRole", "RoleName": role, "Tags.member.1.Key": "n", "Tags.member.1.Value": str(n)}

    make = itself if touch == "self" else other
    # Signed before READY, as wrk replays one signed request: the load generator's own CPU (botocore
    # signs in ≈ 0.3 ms) is kept off this 2-core machine while the server is measured.
    planned = [(params["Action"], _iam_request(url, params)) for params in map(make, range(int(rate * seconds) + 1))]
    print("READY", flush=True)
    counts = {"ok": 0, "failed": 0}
    failures: dict[str, int] = {}
    lock = threading.Lock()
    began = time.monotonic()
    threads = 16  # enough in flight for the rate while wrk keeps the server saturated
    next_n = iter(range(10**9))

    def loop() -> None:
        c = _Conn(url)
        while True:
            with lock:
                n = next(next_n)
            due = began + n / rate  # a fixed schedule: the rate does not drift with latency
            if due - began >= seconds:
                return
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            action, request = planned[n]
            status = c.send(*request)
            with lock:
                counts["ok" if status == 200 else "failed"] += 1
                if status != 200:
                    failures[f"{action} {status}"] = failures.get(f"{action} {status}", 0) + 1

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 30)
    elapsed = time.monotonic() - began
    print(json.dumps({"writes_per_s": counts["ok"] / elapsed, "failed": counts["failed"], "failures": failures}),
          flush=True)


# -- the measurement ---------------------------------------------------------------------------
def start_writer(url: str, args: argparse.Namespace, touch: str, role: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--writer", url, "--rate", str(args.rate), "--seconds",
         str(args.duration + args.warmup + 2), "--touch", touch, "--role", role],
        stdout=subprocess.PIPE, text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        run.stop_server(proc)  # type: ignore[arg-type]
        raise RuntimeError(f"writer did not start: {line!r}")
    return proc


def thread_jiffies(sid: int) -> dict[str, int]:
    """CPU jiffies of session ``sid``'s threads by role: the main threads (the workers' event
    loops, where STS runs), the (niced) audit delivery process, every other thread (the IAM pool
    of edge/control_plane.py, plus small helpers)."""
    used = {"loop": 0, "delivery": 0, "rest": 0}
    for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
            if int(rest[3]) != sid:
                continue
        except (OSError, IndexError, ValueError):
            continue
        main = stat.parent.name == stat.parent.parent.parent.name
        role = ("delivery" if int(rest[16]) > 0  # the audit delivery process runs niced ([audit] delivery_nice)
                else "loop" if main else "rest")
        used[role] += int(rest[11]) + int(rest[12])
    return used


DATABASE: list[Path] = []  # the PostgreSQL cluster's data folder, while one runs (its CPU is measured too)


def database_jiffies() -> int:
    """CPU jiffies of the PostgreSQL server (the postmaster and its backends), 0 without one: on
    this 2-core machine its CPU is taken from the server measured, as the writer's is."""
    if not DATABASE:
        return 0
    try:
        pid = int((DATABASE[0] / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return 0
    used = 0
    for proc in (pid, *run_children(pid)):
        try:
            rest = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            used += int(rest[11]) + int(rest[12])
        except (OSError, IndexError, ValueError):
            continue
    return used


def run_children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def cache_misses(url: str) -> float:
    """The server's entity-cache misses so far (``opensts_cache_requests_total{result="miss"}`` on
    /metrics): whether writes to other entities make AssumeRole reload anything."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return 0.0
    finally:
        conn.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("opensts_cache_requests_total{") and 'result="miss"' in line)


def start_burner(cores: float, seconds: float) -> subprocess.Popen[str]:
    """A process that only burns ``cores`` of CPU (busy ``cores`` of every 10 ms) for ``seconds``:
    the control phase for the writes — what any other work of that size on these 2 cores costs
    AssumeRole, with no IAM call, no cache invalidation and no database."""
    code = ("import time\n"
            f"end = time.monotonic() + {seconds}\n"
            "while time.monotonic() < end:\n"
            "    began = time.monotonic()\n"
            f"    while time.monotonic() - began < {0.01 * cores}:\n"
            "        sum(range(100))\n"
            f"    time.sleep({0.01 * max(0.0, 1.0 - cores)})\n")
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True, text=True)


def wrk_rps(wrk: str, url: str, script: Path, build: object, sid: int, seconds: float,
            writer_sid: int | None = None) -> tuple[float, dict[str, float]]:
    """req/s of one wrk run, and the CPU seconds the server's processes (and the writer) used in it."""
    headers, body = build()  # type: ignore[operator]
    run.write_lua(script, headers, body)
    misses0 = cache_misses(url)
    server0 = run.session_jiffies(sid)
    threads0 = thread_jiffies(sid)
    writer0 = run.session_jiffies(writer_sid) if writer_sid else 0
    database0 = database_jiffies()
    raw = run.run_wrk(wrk, url, script, 32, 2, seconds, sid)
    threads1 = thread_jiffies(sid)
    database = (database_jiffies() - database0) / run.CLK_TCK
    cpu = {"server": (run.session_jiffies(sid) - server0) / run.CLK_TCK,
           **{k: (threads1[k] - threads0[k]) / run.CLK_TCK for k in threads0},
           "writer": ((run.session_jiffies(writer_sid) - writer0) / run.CLK_TCK) if writer_sid else 0.0,
           "database": database, "other": raw["other_cpu"], "requests": raw["requests"]}
    time.sleep(1.1)  # each process moves its counts to /metrics every 0.5 s
    cpu["misses"] = cache_misses(url) - misses0
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    if errors:
        print(f"    (wrk errors: {errors:.0f})", flush=True)
    return raw["requests"] / (raw["duration_us"] / 1e6), cpu


def measure_backend(backend: str, wrk: str, args: argparse.Namespace, log_dir: Path) -> dict[str, float]:
    target = Target("opensts", AR, 2)
    results: dict[str, list[float]] = {"quiet": [], "burn": [], **{t: [] for t in args.touch}}
    database_share: dict[str, list[float]] = {t: [] for t in args.touch}
    writes: dict[str, list[float]] = {t: [] for t in args.touch}
    with run.running(target, log_dir, args.src) as (url, sid):
        build = scenarios.prepare(target, url, None)
        headers, body = build()
        run.check_once(url, headers, body, AR)
        role = body.split("role%2F", 1)[1].split("&", 1)[0]
        script = log_dir / f"{backend}.lua"
        run.write_lua(script, headers, body)
        run.run_wrk(wrk, url, script, 32, 2, args.warmup, sid)
        for rnd in range(args.rounds):
            rps, quiet_cpu = wrk_rps(wrk, url, script, build, sid, args.duration)
            results["quiet"].append(rps)
            per_request = quiet_cpu["server"] / max(1.0, quiet_cpu["requests"])
            loop_per_request = quiet_cpu["loop"] / max(1.0, quiet_cpu["requests"])
            print(f"  {backend:<10} round {rnd + 1} quiet            {rps:8.0f} req/s  "
                  f"(server CPU {quiet_cpu['server'] / args.duration:.2f} cores, {per_request * 1e6:.0f} µs/request; "
                  f"other load {quiet_cpu['other']:.0%}; cache misses {quiet_cpu['misses']:.0f})", flush=True)
            for touch in args.touch:
                proc = start_writer(url, args, touch, role)
                try:
                    time.sleep(args.warmup)  # the writes reach their steady rate
                    rps, cpu = wrk_rps(wrk, url, script, build, sid, args.duration, proc.pid)
                    out, _ = proc.communicate(timeout=args.duration + 60)
                    achieved = json.loads(out.strip().splitlines()[-1])
                finally:
                    run.stop_server(proc)  # type: ignore[arg-type]
                results[touch].append(rps)
                writes[touch].append(achieved["writes_per_s"])
                print(f"  {backend:<10} round {rnd + 1} writes ({touch:<5})   {rps:8.0f} req/s  "
                      f"with {achieved['writes_per_s']:.0f} IAM writes/s ({achieved['failed']} failed"
                      + (f": {achieved['failures']}" if achieved["failures"] else "") + ")", flush=True)
                # what the writes cost the server: its CPU beyond what these requests cost when quiet
                extra = cpu["server"] - cpu["requests"] * per_request
                written = achieved["writes_per_s"] * args.duration
                print(f"  {'':<10}         server CPU {cpu['server'] / args.duration:.2f} cores, "
                      f"{extra / max(1.0, written) * 1e3:.1f} ms more per write; writer {cpu['writer'] / args.duration:.2f} "
                      f"cores; other load {cpu['other']:.0%}; cache misses {cpu['misses']:.0f}", flush=True)
                if DATABASE:
                    db_extra = cpu["database"] - quiet_cpu["database"] * cpu["requests"] / max(1.0, quiet_cpu["requests"])
                    print(f"  {'':<10}         PostgreSQL server {cpu['database'] / args.duration:.2f} cores "
                          f"(quiet: {quiet_cpu['database'] / args.duration:.2f}), {db_extra / max(1.0, written) * 1e3:.1f} ms "
                          "per write", flush=True)
                    database_share[touch].append(db_extra / args.duration)
                # Python 3.11 does not name OS threads, so the IAM pool is "the workers' other threads"
                # (0.01 cores when quiet: metrics flush, journal group commit)
                pool = cpu["rest"] - quiet_cpu["rest"]
                print(f"  {'':<10}         by thread: the workers' other threads (IAM pool) {pool / max(1.0, written) * 1e3:.2f} ms "
                      f"per write; event loops {cpu['loop'] / max(1.0, cpu['requests']) * 1e6:.0f} µs per AssumeRole "
                      f"(quiet: {loop_per_request * 1e6:.0f}); audit delivery {cpu['delivery'] / args.duration:.2f} cores "
                      f"(quiet: {quiet_cpu['delivery'] / args.duration:.2f})", flush=True)
            if args.burn:
                burner = start_burner(args.burn, args.duration + args.warmup + 2)
                try:
                    time.sleep(args.warmup)
                    rps, cpu = wrk_rps(wrk, url, script, build, sid, args.duration, burner.pid)
                finally:
                    run.stop_server(burner)  # type: ignore[arg-type]
                results["burn"].append(rps)
                print(f"  {backend:<10} round {rnd + 1} CPU burner         {rps:8.0f} req/s  "
                      f"(the burner used {cpu['writer'] / args.duration:.2f} cores; event loops "
                      f"{cpu['loop'] / max(1.0, cpu['requests']) * 1e6:.0f} µs per AssumeRole)", flush=True)
    summary = {"quiet": statistics.median(results["quiet"])}
    if args.burn:
        summary["burn"] = statistics.median(results["burn"])
    for touch in args.touch:
        summary[touch] = statistics.median(results[touch])
        summary[f"{touch}_writes"] = statistics.median(writes[touch])
        summary[f"{touch}_database"] = statistics.median(database_share[touch]) if database_share[touch] else 0.0
    return summary


def with_backend(backend: str, wrk: str, args: argparse.Namespace, log_dir: Path) -> dict[str, float]:
    if backend == "sqlite":
        os.environ.pop("OPENSTS_DATABASE_URL", None)
        return measure_backend(backend, wrk, args, log_dir)
    from tests.conftest import fresh_database
    from tests.postgres import cluster

    if cluster.binaries() is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    pg = cluster.start()
    DATABASE[:] = [pg.data]
    try:
        os.environ["OPENSTS_DATABASE_URL"] = fresh_database(pg.url)
        return measure_backend(backend, wrk, args, log_dir)
    finally:
        DATABASE.clear()
        os.environ.pop("OPENSTS_DATABASE_URL", None)
        pg.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0, help="IAM writes per second in the background")
    parser.add_argument("--touch", default="other", help="comma list of: other (other entities), self (the role)")
    parser.add_argument("--burn", type=float, default=0.0, metavar="CORES",
                        help="also a control phase: no writes, a process burning CORES cores (e.g. what the writes used)")
    parser.add_argument("--src", type=Path, default=REPO, help="the OpenSTS source tree to serve (e.g. main's)")
    parser.add_argument("--writer", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.touch = [t for t in args.touch.split(",") if t]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.writer:
        writer(args.writer, args.rate, args.seconds, args.touch[0], args.role)
        return 0
    wrk = run.ensure_wrk(install=False)
    run.OPENSTS_FLAGS[:] = run.opensts_bench_flags(args.src)
    log_dir = Path(tempfile.mkdtemp(prefix="opensts-scale-writes-"))
    print(f"AssumeRole, 2 workers, wrk c=32, {args.rounds} interleaved rounds of {args.duration:g} s; "
          f"IAM writes at {args.rate:g}/s (logs: {log_dir})", flush=True)
    summaries = {b: with_backend(b, wrk, args, log_dir) for b in args.backends.split(",") if b}
    print("\nbackend     touch   quiet req/s   with writes req/s   writes/s   ratio")
    for backend, s in summaries.items():
        for touch in args.touch:
            print(f"{backend:<11} {touch:<6} {s['quiet']:>11.0f}   {s[touch]:>17.0f}   {s[f'{touch}_writes']:>8.0f}"
                  f"   {s[touch] / s['quiet']:6.0%}")
    for backend, s in summaries.items():
        if "burn" in s:
            print(f"{backend:<11} {'burn':<6} {s['quiet']:>11.0f}   {s['burn']:>17.0f}   {0:>8.0f}"
                  f"   {s['burn'] / s['quiet']:6.0%}   (a process burning {args.burn:g} cores, no writes)")
    for backend, s in summaries.items():
        for touch in args.touch:
            if s.get(f"{touch}_database"):  # what the database's own CPU on these 2 cores cost AssumeRole
                print(f"{backend} ({touch}): the database server used {s[f'{touch}_database']:.2f} cores more with the "
                      "writes, on the cores the server measured runs on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
