"""What one IAM write costs, per kind of write: SQL statements and server CPU, in one process.

Why next to bench/scale_writes.py (AssumeRole with IAM writes in the background, issue 19 item 2):
that one shows the effect, this one the cause — each write's statements (on SQLite and PostgreSQL)
and CPU time through the real ASGI app (SigV4, model parsing, authorization, the store, the change
log, rendering; not the audit journal, which only a server wires), and with ``--profile`` where
that CPU goes. The cases are tests/iam_writes.py's (the same table tests/unit/test_iam_write_cost.py
bounds).

Usage: ``.venv/bin/python bench/iam_write_cost.py [--backend sqlite|postgresql] [--repeat 40]
[--actions PutRolePolicy,TagRole] [--profile out.pstats] [--statements]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.iam_writes import CASES, InProcessIam, signed  # noqa: E402


def measure(iam: InProcessIam, repeat: int, actions: set[str] | None, profile: cProfile.Profile | None,
            show: bool) -> list[tuple[str, int, float]]:
    rows = []
    for case in CASES:
        if actions and case.action not in actions:
            continue
        times: list[float] = []
        statements = 0
        for i in range(repeat):
            params = iam.prepare(case, f"{case.action.lower()}-{i}")
            if i == 0:  # counted once (the count does not vary), then timed
                status, text, statements, texts = iam.counted(params)
                assert status == 200, (case.action, text)
                if show:
                    print(f"--- {case.action}: {statements} statements")
                    for s in texts:
                        print("    " + " ".join(s.split())[:160])
                continue
            request = signed(params)
            if profile is not None:
                profile.enable()
            began = time.process_time()
            status, text = iam.send(*request)
            spent = time.process_time() - began
            if profile is not None:
                profile.disable()
            assert status == 200, (case.action, text)
            times.append(spent)
        rows.append((case.action, statements, statistics.median(times) if times else 0.0))
    return rows


async def _inline(fn, *args):  # type: ignore[no-untyped-def]
    return fn(*args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--actions", default="", help="comma list (default: every case)")
    p.add_argument("--profile", type=Path, help="write cProfile stats of the timed calls here")
    p.add_argument("--statements", action="store_true", help="print each write's SQL")
    args = p.parse_args()
    pg = None
    if args.backend == "postgresql":
        from tests.conftest import fresh_database
        from tests.postgres import cluster

        pg = cluster.start()
        os.environ["OPENSTS_DATABASE_URL"] = fresh_database(pg.url)
    try:
        iam = InProcessIam(Path(tempfile.mkdtemp(prefix="opensts-iam-write-cost-")))
        iam.provision()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:  # the call's own thread is what to profile: run it on this one
            iam.app.control.run = _inline  # type: ignore[method-assign]
        rows = measure(iam, args.repeat, set(filter(None, args.actions.split(","))), profile, args.statements)
        iam.close()
        print(f"\n{args.backend}: {args.repeat - 1} timed calls per write (median process CPU)")
        print(f"{'action':<28} {'statements':>10} {'CPU µs':>9}")
        for action, statements, cpu in rows:
            print(f"{action:<28} {statements:>10} {cpu * 1e6:>9.0f}")
        if profile is not None:
            profile.dump_stats(args.profile)
            print(f"profile: {args.profile}")
    finally:
        if pg is not None:
            os.environ.pop("OPENSTS_DATABASE_URL", None)
            pg.stop()


if __name__ == "__main__":
    main()
