"""The metrics' CPU cost per request, in one process: GetCallerIdentity and AssumeRole through the
real ASGI app (SigV4 verification, policy evaluation, token sealing, audit journal), with metrics
on and off in alternating batches, measured in process CPU time.

Why next to ``bench/run.py --compare-metrics``: on a machine shared with other work, wrk's
requests per second move by more than the 5 % being measured (other processes take the cores);
CPU time spent by this process per request does not depend on who else runs. Both are reported.

Usage: ``.venv/bin/python bench/metrics_cost.py [--requests 3000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

KEY, SECRET, ACCOUNT = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "111122223333"
HOST = "127.0.0.1:8600"


def signed(service: str, body: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    req = AWSRequest(method="POST", url=f"http://{HOST}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(KEY, SECRET), service, "us-east-1").add_auth(req)
    headers = [(k.lower().encode(), v.encode()) for k, v in req.headers.items()] + [(b"host", HOST.encode())]
    return headers, body.encode()


def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8600), "scheme": "http"}


async def call(app: object, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[arg-type]

    await app(scope(headers), receive, send)  # type: ignore[operator]
    return status


async def batch(app: object, request: tuple[list[tuple[bytes, bytes]], bytes], n: int) -> float:
    """CPU seconds of this process per request over ``n`` sequential calls."""
    start = time.process_time()
    for _ in range(n):
        status = await call(app, *request)
        assert status == 200, status
    return (time.process_time() - start) / n


def build(folder: Path) -> object:
    os.environ.update(OPENSTS_ACCOUNT_ID=ACCOUNT, OPENSTS_ADMIN_ACCESS_KEY_ID=KEY, OPENSTS_ADMIN_SECRET_ACCESS_KEY=SECRET)
    from opensts import metrics
    from opensts.app_state import build_state
    from opensts.cli import _open_and_bootstrap
    from opensts.config import parse_config
    from opensts.edge.asgi import StsAsgiApp
    from opensts.settings import Settings

    _open_and_bootstrap(folder)
    metrics.prepare(folder / "metrics")  # as a server does: values in the shared files, a flusher thread
    # quotas off, as bench/run.py runs servers (one account: it would measure the throttle)
    return StsAsgiApp(build_state(Settings(folder, config=parse_config({"quotas": {"rps": 0}}))))


async def main_async(args: argparse.Namespace) -> None:
    from opensts import metrics

    app = build(Path(tempfile.mkdtemp(prefix="opensts-metrics-cost-")))
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    from urllib.parse import urlencode

    create = signed("iam", urlencode({"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "bench",
                                      "AssumeRolePolicyDocument": trust}))
    assert await call(app, *create) == 200
    requests = {
        "GetCallerIdentity": signed("sts", "Action=GetCallerIdentity&Version=2011-06-15"),
        "AssumeRole": signed("sts", urlencode({"Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "bench",
                                               "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/bench"})),
    }
    print(f"{args.rounds} rounds × {args.requests} requests per batch, metrics on and off alternating; "
          "process CPU µs per request", flush=True)
    for action, request in requests.items():
        await batch(app, request, args.requests // 3)  # warm-up
        on: list[float] = []
        off: list[float] = []
        for rnd in range(args.rounds):
            for state in ((True, False) if rnd % 2 == 0 else (False, True)):
                metrics._on = state  # what --no-metrics sets for the whole process
                (on if state else off).append(await batch(app, request, args.requests))
        metrics._on = True
        ratios = [a / b for a, b in zip(on, off)]
        print(f"{action:<18} on {statistics.median(on) * 1e6:7.1f} µs   off {statistics.median(off) * 1e6:7.1f} µs   "
              f"on ÷ off: median {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}…{max(ratios):.3f})",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=7)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
