"""Writes ``sample-trail/``: six hours of one account's CloudTrail log (one gzip delivery file) with a
known answer for ``opensts audit endpoints``: 180 calls to the STS global endpoint by two workloads,
540 regional STS calls, 120 non-STS events.  Deterministic (same bytes every run), so the report
printed in README.md and docs/AUDIT-REPORT.md is checked as printed by tests/readme.

Run from the repository root: ``.venv/bin/python examples/make_sample_trail.py``."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ACCT = "111122223333"
START = datetime(2025, 9, 1, 10, 0, tzinfo=timezone.utc)
OUT = Path(__file__).resolve().parent / "sample-trail" / "AWSLogs" / ACCT / "CloudTrail" / "us-east-1" / "2025" / "09" / "01"
CLI_V1 = "aws-cli/1.29.0 Python/3.11.4 Linux/6.2 botocore/1.31.0"
GO_V1 = "aws-sdk-go/1.44.100 (go1.20.4; linux; amd64)"
BOTO3 = "Boto3/1.40.10 md/Botocore#1.40.10 ua/2.1 os/linux#6.2 lang/python#3.12.3 Botocore/1.40.10"


def record(n: int, when: datetime, role: str, session: str, name: str, ip: str, agent: str,
           region: str = "us-east-1", source: str = "sts.amazonaws.com", host: str | None = None,
           details: dict[str, str] | None = None) -> dict[str, Any]:
    """One assumed-role session's API call, as CloudTrail records it."""
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole", "principalId": f"AROAEXAMPLE{role.upper()[:6]}:{session}",
            "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}", "accountId": ACCT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": f"AROAEXAMPLE{role.upper()[:6]}",
                                                 "arn": f"arn:aws:iam::{ACCT}:role/{role}", "accountId": ACCT,
                                                 "userName": role}},
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": source, "eventName": name,
        "awsRegion": region, "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": None, "responseElements": None,
        "requestID": f"00000000-0000-4000-8000-{n:012d}", "eventID": f"00000000-0000-4000-9000-{n:012d}",
        "readOnly": name != "AssumeRole", "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": ACCT,
    }
    if details:
        rec["additionalEventData"] = {"RequestDetails": details}
    if host:
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": host}
    return rec


def records() -> list[dict[str, Any]]:
    """120 three-minute slots; in each: one global AssumeRole (an old AWS CLI, logged before the
    2025 fields), every other slot a global GetCallerIdentity (Go v1, served in eu-north-1),
    4 or 5 regional calls, one S3 call."""
    out: list[dict[str, Any]] = []
    for slot in range(120):
        t = START + timedelta(minutes=3 * slot)
        add = out.append
        add(record(len(out), t, "ci-deploy", "gh-run", "AssumeRole", "198.51.100.7", CLI_V1, host="sts.amazonaws.com"))
        if slot % 2 == 0:
            add(record(len(out), t, "batch", "i-0abc", "GetCallerIdentity", "10.1.2.3", GO_V1,
                       host="sts-global.eu-north-1.amazonaws.com",
                       details={"endpointType": "global", "awsServingRegion": "eu-north-1"}))
        for i in range(5 if slot % 2 == 0 else 4):
            region = ("us-east-1", "eu-west-1", "eu-north-1")[i % 3]
            add(record(len(out), t + timedelta(seconds=10 + i), "web", f"task-{i}",
                       ("AssumeRole", "GetCallerIdentity")[i % 2], "10.9.8.7", BOTO3, region=region,
                       host=f"sts.{region}.amazonaws.com",
                       details={"endpointType": "regional", "awsServingRegion": region}))
        add(record(len(out), t + timedelta(seconds=30), "web", "task-0", "ListBuckets", "10.9.8.7", BOTO3,
                   source="s3.amazonaws.com", host="s3.us-east-1.amazonaws.com"))
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": records()}, separators=(",", ":")).encode()
    name = f"{ACCT}_CloudTrail_us-east-1_20250901T1000Z_sample.json.gz"
    (OUT / name).write_bytes(gzip.compress(body, mtime=0))


if __name__ == "__main__":
    main()
