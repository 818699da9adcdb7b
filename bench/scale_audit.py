"""The audit trail at volume (issue 19 items 3 and 4), reproduced: one command, bounded, and it
stops everything it started.

``journal`` — a real server (``opensts serve``, N workers, quotas off) under wrk load on
GetCallerIdentity or AssumeRole for ``--seconds``: the peak journal rate (records/s = calls/s:
each call journals one record), then the delivery process's progress every second — records
journaled, delivered, the backlog — during the load and after it stops, until the backlog is zero
(or ``--drain-limit``). Delivered = records of the index's batches whose trail files were written.

``delivery`` — the delivery process's own ceiling: ``--records`` realistic records (taken from a
real server's journal) written straight into journal logs, then delivered by ``Delivery`` alone
(ingest + claim + gzip + write), records/s; also the index size per record.

``index`` — LookupEvents at ``--events`` (default 1,000,000) generated events, built directly into
an index: the index size per event and the latency (median of 5, the index opened per call as a
request does) of every filter kind.

    .venv/bin/python bench/scale_audit.py journal --seconds 30 --workers 2
    .venv/bin/python bench/scale_audit.py delivery --records 300000
    .venv/bin/python bench/scale_audit.py index --events 1000000
    .venv/bin/python bench/scale_audit.py all        # the three, as reported in the issue
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import run  # noqa: E402 - bench/run.py: wrk, its Lua hook, server helpers
import scenarios  # noqa: E402

from opensts.audit.delivery import Delivery, FolderStore  # noqa: E402
from opensts.audit.event_index import event_keys, used_bytes  # noqa: E402
from opensts.audit.index import connect, index_path, insert_parsed  # noqa: E402
from opensts.audit.lookup import JournalIndex, lookup_events  # noqa: E402


# --------------------------------------------------------------------------------------------
# journal: peak journal rate vs delivery, backlog over time
# --------------------------------------------------------------------------------------------
def _start(data_dir: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = run.free_port()
    cmd = [sys.executable, "-m", "opensts", "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
           "--workers", str(workers), "--quota-rps", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=run.server_env(REPO), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    run.wait_listening(port, proc)
    return proc, f"http://127.0.0.1:{port}/"


def _counts(folder: Path) -> tuple[int, int]:
    """(records journaled, records delivered) as the index and the logs say now."""
    try:
        conn = sqlite3.connect(f"file:{index_path(folder)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0, 0
    try:
        ingested = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        offsets = dict(conn.execute("SELECT log, offset FROM ingested").fetchall())
        delivered = conn.execute(
            "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM batches b WHERE NOT EXISTS "
            "(SELECT 1 FROM batch_parts p WHERE p.batch_id = b.id AND p.delivered = 0)").fetchone()[0]
    except sqlite3.Error:
        return 0, 0
    finally:
        conn.close()
    pending = 0
    for log in folder.glob("log-*.jsonl"):
        try:
            with open(log, "rb") as fh:
                fh.seek(offsets.get(log.name, 0))
                data = fh.read()
        except FileNotFoundError:
            continue
        nul = data.find(b"\0")
        pending += data[: nul if nul >= 0 else len(data)].count(b"\n") - data.count(b'["end"]\n')
    return ingested + pending, delivered


def journal_mode(args: argparse.Namespace) -> dict[str, Any]:
    wrk = run.ensure_wrk(False)
    work = Path(tempfile.mkdtemp(prefix="opensts-scale-audit-"))
    data_dir = work / "data"
    data_dir.mkdir()
    proc, url = _start(data_dir, args.workers, work / "server.log")
    samples: list[dict[str, Any]] = []
    try:
        action = scenarios.AR if args.action == "AssumeRole" else scenarios.GCI
        build = scenarios.prepare(scenarios.Target("opensts", action, args.workers), url, None)
        headers, body = build()
        run.check_once(url, headers, body, action)
        script = work / "load.lua"
        run.write_lua(script, headers, body)
        folder = data_dir / "audit"
        began = time.monotonic()
        result: dict[str, Any] = {}
        load = threading.Thread(target=lambda: result.update(
            run.run_wrk(wrk, url, script, args.connections, 2, args.seconds, proc.pid)))
        load.start()
        while load.is_alive() or samples[-1]["backlog"] > 0:
            time.sleep(1.0)
            journaled, delivered = _counts(folder)
            samples.append({"t": round(time.monotonic() - began, 1), "journaled": journaled, "delivered": delivered,
                            "backlog": journaled - delivered, "loading": load.is_alive()})
            print(f"  t={samples[-1]['t']:6.1f}s journaled={journaled:>9} delivered={delivered:>9} "
                  f"backlog={journaled - delivered:>8}{'  (load)' if samples[-1]['loading'] else ''}", flush=True)
            if not load.is_alive() and time.monotonic() - began > args.seconds + args.drain_limit:
                break
    finally:
        run.stop_server(proc)
    stopped = next((s["t"] for s in samples if not s["loading"]), samples[-1]["t"])
    zero = next((s["t"] for s in samples if not s["loading"] and s["backlog"] <= 0), None)
    peak = result["requests"] / (result["duration_us"] / 1e6)
    at_stop = max((s for s in samples if s["loading"]), key=lambda s: s["t"], default=samples[0])
    drained = [s for s in samples if not s["loading"]]
    drain_rate = ((drained[-1]["delivered"] - at_stop["delivered"]) / max(0.1, drained[-1]["t"] - at_stop["t"])
                  if drained else 0.0)
    out = {"action": args.action, "workers": args.workers, "connections": args.connections, "seconds": args.seconds,
           "journal_rate": round(peak), "errors": {k: result[k] for k in ("connect", "read", "write", "status", "timeout")},
           "backlog_at_stop": at_stop["backlog"], "delivered_during_load": at_stop["delivered"],
           "delivery_rate_after_stop": round(drain_rate),
           "seconds_to_zero_after_stop": None if zero is None else round(zero - stopped, 1)}
    shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------
# delivery: the delivery process's ceiling
# --------------------------------------------------------------------------------------------
def _sample_lines() -> list[bytes]:
    """Journal lines of a real server: one GetCallerIdentity, one AssumeRole (of the admin user)."""
    work = Path(tempfile.mkdtemp(prefix="opensts-scale-audit-sample-"))
    proc, url = _start(work / "data", 1, work / "server.log")
    try:
        for action in (scenarios.GCI, scenarios.AR):
            headers, body = scenarios.prepare(scenarios.Target("opensts", action, 1), url, None)()
            run.check_once(url, headers, body, action)
    finally:
        run.stop_server(proc)
    lines = []
    for log in sorted((work / "data" / "audit").glob("log-*.jsonl")):
        data = log.read_bytes()
        lines += [line for line in data[: data.find(b"\0")].split(b"\n") if line and line.startswith(b'["us')]
    shutil.rmtree(work, ignore_errors=True)
    return [line for line in lines if b'"GetCallerIdentity"' in line or b'"AssumeRole"' in line]


def _fresh(line: bytes) -> bytes:
    """The line with a new eventID when its record has one (journals before ingestion made them)."""
    import orjson

    event_id = orjson.loads(line.split(b"\t", 1)[0])[3]
    return line if event_id is None else line.replace(event_id.encode(), str(uuid.uuid4()).encode())


def delivery_mode(args: argparse.Namespace) -> dict[str, Any]:
    lines = _sample_lines()
    work = Path(tempfile.mkdtemp(prefix="opensts-scale-audit-delivery-"))
    folder = work / "audit"
    folder.mkdir(mode=0o700)
    per_log = args.records // 4
    for writer in range(4):  # four finished logs (their writers gone), as four workers leave them
        with open(folder / f"log-{999_000 + writer}-1-000000.jsonl", "wb") as fh:
            for i in range(per_log):  # eventIDs are made by ingestion (a record of a version
                fh.write(_fresh(lines[i % len(lines)]) + b"\n")  # before that: replaced, _fresh)
    delivery = Delivery(folder, FolderStore(work / "trail"))
    began = time.perf_counter()
    total = 0
    while (done := delivery.deliver_once()) or total < per_log * 4:
        total += done
        if not done:
            time.sleep(0.01)
    took = time.perf_counter() - began
    conn = connect(index_path(folder))
    size = used_bytes(conn)
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    return {"records": total, "seconds": round(took, 2), "records_per_s": round(total / took),
            "index_bytes_per_record": round(size / total)}


# --------------------------------------------------------------------------------------------
# index: LookupEvents per filter kind at 1M events
# --------------------------------------------------------------------------------------------
ACCOUNT, REGION = scenarios.ACCOUNT_ID, "us-east-1"


def _record(event_id: str, name: str, when: int, user: str, read_only: bool = True,
            role: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAYW7BDRQ4TNWJWBPDW",
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT,
                         "accessKeyId": f"AKIA{user.upper():0<16}"[:20], "userName": user},
        "eventTime": datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com", "eventName": name, "awsRegion": REGION, "sourceIPAddress": "10.1.2.3",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/sts.assume-role",
        "requestParameters": ({"roleArn": role, "roleSessionName": "s"} if role else None),
        "responseElements": None,
        "additionalEventData": {"ExtendedRequestId": "MTp1cy1lYXN0LTE6UzoxNzk2NDA5MTk0Mzg4OlI6dXlHam4xdGY=",
                                "RequestDetails": {"endpointType": "regional", "awsServingRegion": REGION}},
        "requestID": str(uuid.uuid4()), "eventID": event_id, "readOnly": read_only, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
    }
    if role:
        record["resources"] = [{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": role}]
    return record


def _build_index(folder: Path, events: int, start: int) -> None:
    """``events`` events, 20 a second from ``start``, stored as ingestion stores them (blocks of
    one trail and minute: ``index.insert_parsed``), every record its own text; 50 users,
    GetCallerIdentity and AssumeRole of 20 roles; a handful of rare ones."""
    import orjson

    conn = connect(index_path(folder))
    rows: list[tuple[Any, ...]] = []
    conn.execute("BEGIN")
    for seq in range(1, events + 1):
        when = start + seq // 20
        if seq == events // 4:
            record = _record("rare-event", "DecodeAuthorizationMessage", when, "auditor", read_only=False,
                             role=f"arn:aws:iam::{ACCOUNT}:role/rare")
        elif seq % 3:
            record = _record(str(uuid.uuid4()), "GetCallerIdentity", when, f"user{seq % 50}")
        else:
            record = _record(str(uuid.uuid4()), "AssumeRole", when, f"user{seq % 50}",
                             role=f"arn:aws:iam::{ACCOUNT}:role/app{seq % 20}")
        ident = record["userIdentity"]
        keys = event_keys(ACCOUNT, REGION, record["eventID"], record["eventName"], record["eventSource"],
                          ident["userName"], ident["accessKeyId"], record["readOnly"], record.get("resources"))
        rows.append((REGION, ACCOUNT, when, keys, orjson.dumps(record), None))
        if len(rows) == 50_000:
            insert_parsed(conn, rows)
            rows = []
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            print(f"  {seq:>9} events indexed", flush=True)
    insert_parsed(conn, rows)
    conn.execute("COMMIT")
    conn.close()


def index_mode(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="opensts-scale-audit-index-"))
    folder = work / "audit"
    folder.mkdir(mode=0o700)
    start = int(time.time()) - args.events // 20 - 60
    began = time.perf_counter()
    _build_index(folder, args.events, start)
    built = time.perf_counter() - began
    conn = connect(index_path(folder))
    size = used_bytes(conn)
    conn.close()
    middle = start + args.events // 40
    filters: list[tuple[str, dict[str, Any]]] = [
        ("none (newest 50)", {}),
        ("EventId (one event)", {"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": "rare-event"}]}),
        ("EventName rare", {"LookupAttributes": [{"AttributeKey": "EventName",
                                                  "AttributeValue": "DecodeAuthorizationMessage"}]}),
        ("EventName common", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}]}),
        ("EventName matching nothing", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Nope"}]}),
        ("ReadOnly false (rare)", {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]}),
        ("Username", {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "user7"}]}),
        ("Username rare", {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "auditor"}]}),
        ("EventSource", {"LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": "sts.amazonaws.com"}]}),
        ("AccessKeyId", {"LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAUSER300000000000"}]}),
        ("ResourceType", {"LookupAttributes": [{"AttributeKey": "ResourceType", "AttributeValue": "AWS::IAM::Role"}]}),
        ("ResourceName rare", {"LookupAttributes": [{"AttributeKey": "ResourceName",
                                                     "AttributeValue": f"arn:aws:iam::{ACCOUNT}:role/rare"}]}),
        ("time range of 1 minute in the middle", {"StartTime": middle, "EndTime": middle + 60}),
        ("EventName in 1 minute in the middle", {"StartTime": middle, "EndTime": middle + 60, "LookupAttributes": [
            {"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}]}),
    ]
    latency = {}
    for name, params in filters:
        times, found = [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            found = len(lookup_events(JournalIndex(folder), ACCOUNT, REGION, dict(params))["Events"])
            times.append(time.perf_counter() - t0)
        latency[name] = {"ms": round(statistics.median(times) * 1000, 1), "events": found}
        print(f"  {name:<40} {latency[name]['ms']:>7.1f} ms  ({found} events)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return {"events": args.events, "build_s": round(built, 1), "index_bytes": size,
            "bytes_per_event": round(size / args.events), "lookup": latency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("journal", "delivery", "index", "all"))
    parser.add_argument("--action", choices=("GetCallerIdentity", "AssumeRole"), default="GetCallerIdentity")
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration (journal)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--drain-limit", type=float, default=120.0, help="seconds to wait for the backlog after load")
    parser.add_argument("--records", type=int, default=300_000, help="records (delivery)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events (index)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # finally-blocks stop the server
    results: dict[str, Any] = {}
    for mode in (("journal", "delivery", "index") if args.mode == "all" else (args.mode,)):
        print(f"== {mode}", flush=True)
        results[mode] = {"journal": journal_mode, "delivery": delivery_mode, "index": index_mode}[mode](args)
        print(json.dumps(results[mode], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if "journal" in results and "delivery" in results:
        ratio = results["delivery"]["records_per_s"] / max(1, results["journal"]["journal_rate"])
        print(f"delivery ceiling ÷ peak journal rate: {ratio:.1f}×")
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
