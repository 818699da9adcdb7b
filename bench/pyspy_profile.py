"""Where does an OpenSTS scenario spend its time under load? py-spy on the server while wrk loads it.

Starts one OpenSTS target exactly as bench/run.py does (snapshot of opensts/, free loopback port,
`--quota-rps 0`, same provisioning and replayed request), runs wrk at ``--connections`` for
``--seconds`` + 2 s and, meanwhile, ``py-spy record --subprocesses -f raw`` on the server (all
workers) for ``--seconds``. Then it aggregates the raw stacks by frame (``file:function``):

* **inclusive %**: share of samples with the frame anywhere on the stack (counted once per stack);
* **self %**: share of samples with the frame on top.

Usage (from the repository root; needs py-spy in .venv and root or CAP_SYS_PTRACE):

    .venv/bin/python bench/pyspy_profile.py --action AssumeRole [--no-audit] [--workers 2] [--connections 32]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import run
import scenarios
from scenarios import ACTIONS, WEB, Target

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


ENTRY = ("opensts/__main__.py", "opensts/cli.py:serve", "opensts/edge/serve.py:run_server",
         "opensts/edge/serve.py:_run_worker")


def frame_key(frame: str, line: bool = False) -> str:
    """``func (path/to/file.py:123)`` -> ``opensts/…/file.py:func`` (line numbers merged unless ``line``)."""
    frame = frame.strip()
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    lineno = frame.rsplit(":", 1)[1].rstrip(")") if line and ":" in frame else ""
    for marker in ("/src/opensts/", "/site-packages/", "/lib/python3.11/"):
        if marker in path:
            path = ("opensts/" if marker == "/src/opensts/" else "") + path.split(marker, 1)[1]
            break
    return f"{path}:{m.group('func')}" + (f":{lineno}" if lineno else "")


def aggregate(raw: str) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    total, incl, self_, lines = 0, Counter(), Counter(), Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        raw_frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        frames = [frame_key(f) for f in raw_frames]
        if not frames:
            continue
        total += n
        for key in set(frames):
            incl[key] += n
        self_[frames[-1]] += n
        lines[frame_key(raw_frames[-1], line=True)] += n
    return total, incl, self_, lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--action", default="AssumeRole", choices=ACTIONS)
    p.add_argument("--no-audit", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples/s (default 250)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--gil", action="store_true",
                   help="only sample threads holding the GIL (Python CPU cost; hides fsync/lock waits)")
    args = p.parse_args()
    pyspy = Path(sys.executable).parent / "py-spy"
    wrk = run.ensure_wrk(False)
    log_dir = run.OUT_DIR / ("profile-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    log_dir.mkdir(parents=True)
    src = log_dir / "src"
    print(f"opensts snapshot {run.snapshot_source(src)}; logs in {log_dir}", flush=True)
    run.OPENSTS_FLAGS[:] = run.opensts_bench_flags(src)
    target = Target("opensts", args.action, args.workers, audit=not args.no_audit)
    issuer = None
    try:
        if args.action == WEB:
            issuer = scenarios.start_issuer(log_dir)
            run.CA_BUNDLE[:] = [str(issuer.ca_path)]
        with run.running(target, log_dir, src) as (url, pid):
            build = scenarios.prepare(target, url, issuer)
            headers, body = build()
            run.check_once(url, headers, body, target.action)
            script = log_dir / f"{target.slug}.lua"
            run.write_lua(script, headers, body)
            run.run_wrk(wrk, url, script, args.connections, 1, 2, pid)  # warm-up
            out = log_dir / "pyspy.txt"
            result: dict[str, float] = {}
            load = threading.Thread(target=lambda: result.update(
                run.run_wrk(wrk, url, script, args.connections, 1, args.seconds + 2, pid)))
            load.start()
            spy = subprocess.run([str(pyspy), "record", "--subprocesses", "-p", str(pid), "-d", str(args.seconds),
                                  "-r", str(args.rate), "-f", "raw", "-o", str(out), "--nonblocking", *(["--gil"] if args.gil else [])],
                                 capture_output=True, text=True, timeout=args.seconds + 60, check=False)
            load.join()
            if spy.returncode != 0 or not out.exists():
                sys.exit(f"py-spy failed ({spy.returncode}): {spy.stderr[-2000:]}")
    finally:
        if issuer is not None:
            issuer.close()
    rps = result["requests"] / (result["duration_us"] / 1e6)
    total, incl, self_, lines = aggregate(out.read_text())
    print(f"\n{target.label}, c={args.connections}: {rps:,.0f} req/s under py-spy; {total} samples "
          f"({args.rate}/s, all workers, {'GIL holders only' if args.gil else 'non-idle threads'}); "
          f"raw stacks in {out}\n")
    print("| inclusive % | opensts frame (file:function) |\n|---:|---|")
    own = [(k, n) for k, n in incl.most_common() if k.startswith("opensts/") and not k.startswith(ENTRY)]
    for key, n in own[: args.top]:
        print(f"| {100 * n / total:.1f} | `{key}` |")
    print("\n| self % | frame (file:function) |\n|---:|---|")
    for key, n in self_.most_common(args.top):
        print(f"| {100 * n / total:.1f} | `{key}` |")
    print("\n| self % | leaf line (file:function:line) |\n|---:|---|")
    for key, n in lines.most_common(args.top // 2):
        print(f"| {100 * n / total:.1f} | `{key}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
