"""Throughput of ``opensts audit endpoints`` on a large synthetic gzip CloudTrail log set.

    .venv/bin/python bench/report_bench.py [--mb 500] [--sts-share 0.3] [--global-share 0.25] [--dir /tmp/ct-bench] [--jobs N]
    PYTHONPATH=OTHER_CHECKOUT .venv/bin/python bench/report_bench.py …   # measures that checkout's opensts

Generates (once; reused when present) CloudTrail delivery files laid out as CloudTrail writes them
(``AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz``, ~5 minutes of events per file, one
``{"Records":[…]}`` per file) with realistic records: random event/request ids, access keys,
session-token blobs in AssumeRole responses, S3/EC2/IAM/KMS/Lambda events besides STS.  STS events
are a mix of global (by field, by host, ``sts-global.REGION``), regional and unknown, with known
totals.  Then runs the CLI (``--json``) as a subprocess, checks the totals, and prints compressed
and uncompressed MB/s and peak RSS.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-north-1", "ap-northeast-1"]
UAS = [
    "aws-cli/1.18.136 Python/3.8.0 Linux/5.4.0 botocore/1.17.59",
    "aws-cli/2.15.33 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2023 prompt/off command/sts.assume-role",
    "Boto3/1.26.0 md/Botocore#1.29.0 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.9.16 cfg/retry-mode#legacy Botocore/1.29.0",
    "aws-sdk-go/1.44.122 (go1.19.3; linux; amd64)",
    "aws-sdk-java/1.12.300 Linux/5.10 OpenJDK_64-Bit_Server_VM/11.0.16+8 java/11.0.16 vendor/Amazon.com_Inc.",
    "aws-sdk-nodejs/2.1300.0 linux/v16.19.0 exec-env/AWS_Lambda_nodejs16.x promise",
    "APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/4.67.0 aws-sdk-go/1.44.260",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.22.0",
]
OTHER = [("s3.amazonaws.com", "GetObject"), ("ec2.amazonaws.com", "DescribeInstances"),
         ("kms.amazonaws.com", "Decrypt"), ("iam.amazonaws.com", "GetRole"), ("lambda.amazonaws.com", "Invoke"),
         ("logs.amazonaws.com", "CreateLogStream")]


def _rid(n: int) -> str:
    return "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


def _identity(acct: str, i: int) -> dict:
    role = f"app-{i % 40}"
    return {"type": "AssumedRole", "principalId": f"AROA{_rid(17)}:session-{i % 97}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/session-{i % 97}", "accountId": acct,
            "accessKeyId": "ASIA" + _rid(16),
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA" + _rid(17),
                                                 "arn": f"arn:aws:iam::{acct}:role/{role}", "accountId": acct,
                                                 "userName": role},
                               "webIdFederationData": {},
                               "attributes": {"creationDate": "2025-09-01T10:00:00Z", "mfaAuthenticated": "false"}}}


def _event(acct: str, region: str, when: str, i: int, sts_share: float, counts: dict[str, int],
           global_share: float = 0.25) -> dict:
    base = {"eventVersion": "1.11", "userIdentity": _identity(acct, i), "eventTime": when,
            "awsRegion": region, "sourceIPAddress": f"10.{i % 7}.{random.randrange(256)}.{random.randrange(256)}",
            "userAgent": random.choice(UAS), "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()),
            "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": acct,
            "eventCategory": "Management"}
    if random.random() >= sts_share:
        src, name = random.choice(OTHER)
        base.update(eventSource=src, eventName=name,
                    requestParameters={"bucketName": f"bucket-{i % 13}", "key": f"data/{uuid.uuid4()}.parquet"},
                    responseElements=None,
                    tlsDetails={"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                "clientProvidedHostHeader": f"{src.split('.')[0]}.{region}.amazonaws.com"})
        return base
    kind = random.random()
    base.update(eventSource="sts.amazonaws.com", eventName=random.choice(["AssumeRole", "GetCallerIdentity"]))
    if base["eventName"] == "AssumeRole":
        base["requestParameters"] = {"roleArn": f"arn:aws:iam::{acct}:role/target-{i % 9}",
                                     "roleSessionName": f"s{i % 1000}"}
        base["responseElements"] = {
            "credentials": {"accessKeyId": "ASIA" + _rid(16),
                            "sessionToken": base64.b64encode(os.urandom(420)).decode(),
                            "expiration": "Sep 1, 2025, 11:00:00 AM"},
            "assumedRoleUser": {"assumedRoleId": f"AROA{_rid(17)}:s{i % 1000}",
                                "arn": f"arn:aws:sts::{acct}:assumed-role/target-{i % 9}/s{i % 1000}"}}
        base["resources"] = [{"accountId": acct, "type": "AWS::IAM::Role",
                              "ARN": f"arn:aws:iam::{acct}:role/target-{i % 9}"}]
    else:
        base["requestParameters"] = None
        base["responseElements"] = None
    tls = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}
    if kind < global_share * 0.6:  # global, by field
        base["awsRegion"] = "us-east-1"
        base["additionalEventData"] = {"RequestDetails": {"endpointType": "global", "awsServingRegion": region}}
        tls["clientProvidedHostHeader"] = f"sts-global.{region}.amazonaws.com"
        counts["global"] += 1
    elif kind < global_share:  # global, by host only (pre-2025)
        base["awsRegion"] = "us-east-1"
        tls["clientProvidedHostHeader"] = "sts.amazonaws.com"
        counts["global"] += 1
    elif kind < max(0.95, global_share):  # regional
        base["additionalEventData"] = {"RequestDetails": {"endpointType": "regional", "awsServingRegion": region}}
        tls["clientProvidedHostHeader"] = f"sts.{region}.amazonaws.com"
        counts["regional"] += 1
    else:  # unknown (AWS service call, no TLS details)
        base["userIdentity"] = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
        base["userAgent"] = "ec2.amazonaws.com"
        tls = None
        counts["unknown"] += 1
    if tls:
        base["tlsDetails"] = tls
    return base


def generate(root: Path, target_mb: float, sts_share: float, seed: int = 7, global_share: float = 0.25) -> dict[str, int]:
    random.seed(seed)
    counts = {"global": 0, "regional": 0, "unknown": 0, "events": 0}
    acct = "111122223333"
    written = 0
    n = 0
    t0 = 1756720800  # 2025-09-01T10:00Z
    while written < target_mb * 1e6:
        region = REGIONS[n % len(REGIONS)]
        start = t0 + (n // len(REGIONS)) * 300
        day = time.strftime("%Y/%m/%d", time.gmtime(start))
        folder = root / "AWSLogs" / acct / "CloudTrail" / region / day
        folder.mkdir(parents=True, exist_ok=True)
        recs = []
        for k in range(random.randint(800, 1600)):
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + k * 300 // 1600))
            recs.append(_event(acct, region, when, n * 2000 + k, sts_share, counts, global_share))
        counts["events"] += len(recs)
        name = f"{acct}_CloudTrail_{region}_{time.strftime('%Y%m%dT%H%MZ', time.gmtime(start))}_{_rid(16)}.json.gz"
        data = gzip.compress(json.dumps({"Records": recs}, separators=(",", ":")).encode(), 6)
        (folder / name).write_bytes(data)
        written += len(data)
        n += 1
    (root / "expected.json").write_text(json.dumps(counts))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=500, help="compressed size of the log set")
    ap.add_argument("--sts-share", type=float, default=0.3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/opensts-report-bench"))
    ap.add_argument("--global-share", type=float, default=0.25,
                    help="share of STS events that reached the global endpoint (0.95: a trail before migration)")
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    root = args.dir / (f"{args.mb:g}MB-sts{args.sts_share:g}"
                       + (f"-global{args.global_share:g}" if args.global_share != 0.25 else ""))
    if not (root / "expected.json").exists():
        t = time.perf_counter()
        generate(root / "logs", args.mb, args.sts_share, global_share=args.global_share)
        (root / "expected.json").write_text((root / "logs" / "expected.json").read_text())
        (root / "logs" / "expected.json").unlink()
        print(f"generated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    expected = json.loads((root / "expected.json").read_text())
    cmd = [sys.executable, "-m", "opensts", "audit", "endpoints", str(root / "logs"), "--json", "--no-progress"]
    if args.jobs:
        cmd += ["--jobs", str(args.jobs)]

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # cwd outside the repository: `python -m` puts the cwd first on sys.path, which would shadow a
    # PYTHONPATH=OTHER_CHECKOUT given to compare two versions of the code.
    out = subprocess.run(cmd, check=True, capture_output=True, cwd=root)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(out.stdout)
    for k in ("global", "regional", "unknown"):
        assert report["totals"][k] == expected[k], (k, report["totals"][k], expected[k])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    inp = report["input"]
    print(f"command: {' '.join(cmd[1:])}")
    print(f"files {inp['files']}, events {expected['events']:,}, STS {sum(report['totals'].values()):,} "
          f"(global {report['totals']['global']:,}), totals match the generator")
    print(f"compressed {inp['bytes_read'] / 1e6:.1f} MB, uncompressed {inp['bytes_uncompressed'] / 1e6:.1f} MB "
          f"(ratio {inp['bytes_uncompressed'] / inp['bytes_read']:.1f}x)")
    print(f"wall {dt:.2f} s: {inp['bytes_read'] / 1e6 / dt:.1f} MB/s compressed, "
          f"{inp['bytes_uncompressed'] / 1e6 / dt:.1f} MB/s uncompressed; peak RSS of a process {peak:.0f} MB; "
          f"CPUs {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"CPU time {cpu:.2f} s: {inp['bytes_read'] / 1e6 / cpu:.1f} MB/s compressed per CPU-second")


if __name__ == "__main__":
    main()
