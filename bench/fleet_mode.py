"""``bench/run.py --fleet``: a fleet node next to the single server, in one run.

The fleet node is what a Region other than the control plane's runs: ``opensts serve --region
us-west-2`` on a hot-standby replica of the control plane's PostgreSQL primary, with its quota
buckets in the Region's Redis (quotas *on*, at a limit far above the load, so every request pays
the Redis path without ever being throttled). The single server is ``opensts serve`` as the rest
of bench/run.py runs it (SQLite in its data folder, quotas off).

The fleet's other pieces (primary, standby, the two Regions' Redis, the trail stores, and the
us-east-1 node that bootstraps the account) come from tools/localfleet (``make fleet``) and are
started once for the run; each fleet target starts its own us-west-2 node, like every other
target starts its own server. The nodes import the run's frozen copy of ``opensts/``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:  # tools.localfleet lives at the repository root
    sys.path.insert(0, str(REPO))

from tools.localfleet import fleet as fleet_mod  # noqa: E402
from tools.localfleet.node import Node  # noqa: E402
from tools.localfleet.ports import free_port  # noqa: E402

KIND = "fleet"
REGION = fleet_mod.DATA_REGION
#: Quota of the fleet node's buckets: on (so the Redis path runs), far above what one machine can send.
QUOTA_FLAGS = ["--quota-rps", "1000000", "--quota-burst", "1000000"]

_FLEET: list[fleet_mod.Fleet] = []


def start(src: Path | None, folder: Path, admin: tuple[str, str, str]) -> fleet_mod.Fleet:
    """The fleet without us-west-2 nodes (each fleet target starts its own)."""
    missing = fleet_mod.missing_prerequisites()
    if missing:
        sys.exit("bench --fleet needs: " + "; ".join(missing))
    extra = {"PYTHONPATH": str(src)} if src else {}
    fleet = fleet_mod.start(fleet_mod.Options(west_nodes=0, admin=admin, extra_env=extra, audit_interval=2),
                            folder)
    _FLEET[:] = [fleet]
    return fleet


def stop() -> None:
    while _FLEET:
        _FLEET.pop().stop()


@contextmanager
def running_node(slug: str, workers: int, log_dir: Path) -> Iterator[tuple[str, int]]:
    """A us-west-2 node with ``workers`` workers on a free port; yields (base URL, PID = its session)."""
    fleet = _FLEET[0]
    args = fleet.node_args() + ["--workers", str(workers), *QUOTA_FLAGS]
    node = Node(slug, REGION, fleet.folder / slug, fleet.node_env(REGION), [free_port()], args)
    try:
        node.start()
        yield node.url + "/", int(node.pid or 0)
    except Exception:
        print(f"  node log ({node.log_path}):\n" + node.log()[-3000:], file=sys.stderr)
        raise
    finally:
        node.stop()
        (log_dir / f"{slug}.log").write_text(node.log())


def describe() -> str:
    """One paragraph for RESULTS.md: what the fleet rows are."""
    return ("*fleet node* rows: `opensts serve --region us-west-2` on a PostgreSQL hot-standby replica of the "
            "control plane's primary (tools/localfleet, as `make fleet` starts it), quota buckets in us-west-2's "
            f"Redis (`OPENSTS_QUOTA_STORE`, `{' '.join(QUOTA_FLAGS)}`: on, never reached), requests signed for "
            "us-west-2 (its regional endpoint); AssumeRole's role is created through the node (IAM goes to the "
            "primary) and assumed once it has replicated. The single-server rows are `opensts serve` on SQLite, "
            "quotas off, as in every other section.")


def wait_assumable(check: Any, timeout: float = 15.0) -> None:
    """Until ``check()`` (one signed request) succeeds: the role has reached the replica."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
