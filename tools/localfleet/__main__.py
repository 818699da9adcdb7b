"""``python -m tools.localfleet`` (``make fleet``): start a local multi-Region fleet, print how to
reach each Region, and stop everything on Ctrl-C (SIGINT) or SIGTERM, leaving nothing running."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path

from tools.localfleet import fleet as fleet_mod
from tools.localfleet.fleet import CONTROL_PLANE_REGION, DATA_REGION, TRAIL_BUCKET, Fleet, Options


def _stop_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def describe(fleet: Fleet, aws: str = ".venv/bin/aws") -> str:
    """What a user on this machine can do with the fleet: every piece, and commands that work as printed."""
    assert fleet.primary and fleet.replica and fleet.s3 and fleet.admin
    east = fleet.nodes_in(CONTROL_PLANE_REGION)[0]
    west = fleet.nodes_in(DATA_REGION)
    account, key, _secret = fleet.admin
    lines = [
        "OpenSTS local fleet is running (Ctrl-C stops everything).",
        "",
        f"  {CONTROL_PLANE_REGION} (control plane)",
        f"    PostgreSQL primary   {fleet.primary_url}",
        f"    Redis                {fleet.redis[CONTROL_PLANE_REGION].url}",
        f"    trail store          s3://{TRAIL_BUCKET} at {fleet.s3.endpoint_url} (moto's server)",
        f"    node {east.name:<15} {east.url}   (PID {east.pid}, log {east.log_path})",
        f"  {DATA_REGION}",
        f"    PostgreSQL standby   {fleet.replica_url}   (hot standby of the primary)",
        f"    Redis                {fleet.redis[DATA_REGION].url}",
        f"    trail store          {fleet.trail_folder(DATA_REGION)}",
    ]
    lines += [f"    node {n.name:<15} {n.url}   (PID {n.pid}, log {n.log_path})" for n in west]
    w1 = west[0].url if west else east.url
    w2 = west[-1].url if west else east.url
    creds = shlex.quote(str(fleet.credentials_path))
    lines += [
        "",
        f"  administrator of account {account}: access key {key} (secret in {fleet.credentials_path},",
        "  profile opensts). In another terminal, from the repository root:",
        "",
        f"export AWS_SHARED_CREDENTIALS_FILE={creds} AWS_PROFILE=opensts",
        f"# {DATA_REGION}'s regional endpoint, on either node (a load balancer would pick one):",
        f"{aws} sts get-caller-identity --endpoint-url {w1} --region {DATA_REGION}",
        f"{aws} sts get-session-token --endpoint-url {w2} --region {DATA_REGION}",
        f"# the global endpoint as DNS inside {DATA_REGION} answers it: served in {DATA_REGION}, recorded in "
        f"{CONTROL_PLANE_REGION}'s trail",
        f"{aws} sts get-session-token --endpoint-url {w1}/sts.amazonaws.com --region us-east-1",
        f"# IAM goes to the control plane (the primary) through any node; {DATA_REGION} sees the change "
        "within about a second",
        f"{aws} iam list-roles --endpoint-url {w1} --region us-east-1",
        f"# each Region's trail: global-endpoint calls in {CONTROL_PLANE_REGION}'s, regional calls in their Region's",
        f"{aws} cloudtrail lookup-events --endpoint-url {east.url} --region {CONTROL_PLANE_REGION} --max-results 1 "
        "--lookup-attributes AttributeKey=EventName,AttributeValue=GetSessionToken",
        f"{aws} cloudtrail lookup-events --endpoint-url {w1} --region {DATA_REGION} --max-results 5",
        f"# {CONTROL_PLANE_REGION} itself: {east.url} (regional endpoint), {east.url}/sts.amazonaws.com (global)",
        "",
        f"  health: curl {w1}/readyz    docs/DEPLOYMENT.md explains each piece and what to try when one is lost.",
    ]
    return "\n".join(lines)


def _watch(fleet: Fleet) -> None:
    """Until Ctrl-C: say once when a node ends by itself (its log names why)."""
    reported: set[str] = set()
    while True:
        time.sleep(1)
        for node in fleet.nodes:
            if node.proc is not None and node.proc.poll() is not None and node.name not in reported:
                reported.add(node.name)
                print(f"node {node.name} exited with status {node.proc.returncode}; its log: {node.log_path}",
                      flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.localfleet", description=__doc__)
    parser.add_argument("--west-nodes", type=int, default=2, help="us-west-2 nodes (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per node (default 1)")
    parser.add_argument("--quota-rps", type=float, default=None, help="--quota-rps of every node")
    parser.add_argument("--quota-burst", type=float, default=None, help="--quota-burst of every node")
    parser.add_argument("--folder", type=Path, default=None,
                        help="where the fleet keeps its files (default: a new temporary folder; removed at the end)")
    args = parser.parse_args(argv)
    _stop_on_sigterm()
    fleet: Fleet | None = None
    try:
        missing = fleet_mod.missing_prerequisites()
        if missing:
            print("make fleet needs: " + "; ".join(missing), file=sys.stderr)
            return 1
        print("starting PostgreSQL (primary + hot standby), Redis, the trail stores and the nodes ...", flush=True)
        fleet = fleet_mod.start(Options(west_nodes=args.west_nodes, workers=args.workers, quota_rps=args.quota_rps,
                                        quota_burst=args.quota_burst), args.folder)
        print(describe(fleet), flush=True)
        _watch(fleet)
    except KeyboardInterrupt:
        print("\nstopping the fleet ...", flush=True)
    except RuntimeError as exc:
        print(f"the fleet could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half a fleet running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if fleet is not None:
            fleet.stop()
    print("fleet stopped; nothing left running.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
