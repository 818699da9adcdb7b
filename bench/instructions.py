"""Instructions per request, counted by callgrind: a timing-free way to compare two versions.

    .venv/bin/python bench/instructions.py [--action AssumeRole] [--count 400] [--no-audit] [--no-metrics] [--src DIR]

Why: wall-clock time on this VM moves by ±10–20 % between back-to-back runs of the same code, so a
change worth 3–5 % cannot be seen with bench/run.py.  Valgrind's callgrind counts the instructions
the interpreter executes: with the hash seed fixed, the same code gives the same count to within
~0.3 % (measured: 744,018–747,915 for four runs of AssumeRole without audit; with random hash seeds
the spread was 4 %).  This is a complement to bench/run.py (which measures what users see), not a replacement.

How: an OpenSTS server is started once (as bench/run.py starts it) to provision the data folder and
the request (for AssumeRole, a role whose trust policy allows the account; the request is signed
with botocore); the server is stopped.  Then the ASGI app is built in-process on that folder (no
HTTP server, no sockets) and run under ``valgrind --tool=callgrind`` twice: with 0 and with
``--count`` requests after the same 200-request warm-up.  The difference of the two totals divided
by ``--count`` is the cost of one request.  ``--src DIR`` measures the ``opensts`` package in DIR
(e.g. a checkout of the previous commit) instead of the working tree.  Needs valgrind (apt).

``--no-metrics`` runs the app as ``serve --no-metrics``. With metrics on, the metrics' flusher thread
wakes every 0.5 s of *wall* time; under valgrind a request takes ~50× longer, so the flushes counted
per request are ~50× what a real server does: metrics on vs off here is an upper bound, and (as any
wall-clock-driven work: the key-use flusher too) it moves with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

WARMUP = 200


def provision(action: str, data_dir: Path) -> tuple[int, dict[str, str], str]:
    """Start a server on ``data_dir``, create what ``action`` needs, sign one request, stop it."""
    import run
    import scenarios

    port = run.free_port()
    cmd = [sys.executable, "-m", "opensts", "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
           "--workers", "1", "--quota-rps", "0"]
    proc = subprocess.Popen(cmd, cwd=data_dir, env=run.server_env(None), stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run.wait_listening(port, proc)
        headers, body = scenarios.prepare(scenarios.Target("opensts", action, 1), f"http://127.0.0.1:{port}/", None)()
    finally:
        run.stop_server(proc)
    return port, headers, body


def inner(args: argparse.Namespace) -> None:
    """Runs under valgrind: WARMUP + ``count`` requests through the ASGI app, in-process."""
    from opensts import metrics
    from opensts.app_state import build_state
    from opensts.config import FileConfig
    from opensts.edge.asgi import StsAsgiApp
    from opensts.regions.quotas import QuotaSettings
    from opensts.settings import Listener, Settings

    spec = json.loads(Path(args.request).read_text())
    if args.no_metrics:  # as `serve --no-metrics`
        metrics.disable()
    else:  # as a server: values in DATA_DIR/metrics' files, the flusher thread running
        metrics.prepare(Path(args.data_dir) / "metrics")
    settings = Settings(data_dir=Path(args.data_dir), listeners=(Listener("127.0.0.1", spec["port"]),),
                        audit=not args.no_audit, config=FileConfig(quotas=QuotaSettings(rps=0, burst=0)))
    app = StsAsgiApp(build_state(settings))
    headers = [(k.lower().encode(), v.encode()) for k, v in spec["headers"].items()]
    body = spec["body"].encode()
    scope = {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", spec["port"]),
             "scheme": "http"}
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    async def serve(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    asyncio.run(serve(WARMUP + args.count))
    if set(statuses) != {200}:
        raise SystemExit(f"requests failed: statuses {sorted(set(statuses))}")


def count(args: argparse.Namespace, data_dir: Path, request: Path, n: int) -> int:
    """Total instructions of one ``inner`` run with ``n`` counted requests."""
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict/set layouts in every run
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--inner",
           "--data-dir", str(data_dir), "--request", str(request), "--count", str(n)]
    if args.no_audit:
        cmd.append("--no-audit")
    if args.no_metrics:
        cmd.append("--no-metrics")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or m is None:
        raise SystemExit(f"callgrind run failed:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--action", default="AssumeRole", choices=["GetCallerIdentity", "GetSessionToken", "AssumeRole"])
    ap.add_argument("--count", type=int, default=400, help="counted requests (default 400)")
    ap.add_argument("--no-audit", action="store_true")
    ap.add_argument("--no-metrics", action="store_true", help="as serve --no-metrics (default: metrics on)")
    ap.add_argument("--src", help="directory holding the opensts package to measure (default: the installed one)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--request", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    data_dir = Path(tempfile.mkdtemp(prefix="opensts-instr-"))
    try:
        port, headers, body = provision(args.action, data_dir)
        request = data_dir / "request.json"
        request.write_text(json.dumps({"port": port, "headers": headers, "body": body}))
        base, total = count(args, data_dir, request, 0), count(args, data_dir, request, args.count)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    per = (total - base) / args.count
    what = (f"{args.action}{', no audit' if args.no_audit else ''}{', no metrics' if args.no_metrics else ''}, "
            f"in-process, {args.src or 'installed opensts'}")
    print(f"{what}: {per:,.0f} instructions per request ({args.count} requests after {WARMUP} warm-up)")


if __name__ == "__main__":
    main()
