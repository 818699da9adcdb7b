"""Audit events checked field by field, read back through LookupEvents (boto3 and the AWS CLI)
and from the delivered trail files; delivery through the outbox; kill -9 durability."""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, free_port, start_server, stop_server
from tests.dns import STS_HOSTS, resolving
from tests.tlsutil import make_cert


def trail(srv: Server, region: str = "us-east-1", key: str = ADMIN_KEY, secret: str = ADMIN_SECRET,
          verify: str | None = None) -> Any:
    return boto3.client("cloudtrail", endpoint_url=srv.url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, verify=verify, config=Config(retries={"total_max_attempts": 1}))


def find(srv: Server, request_id: str, region: str = "us-east-1", **kw: Any) -> list[dict[str, Any]]:
    """Records of one request, from LookupEvents (newest first), polling briefly."""
    client = trail(srv, region, **kw)
    for _ in range(50):
        events = client.lookup_events(MaxResults=50)["Events"]
        found = [json.loads(e["CloudTrailEvent"]) for e in events]
        found = [r for r in found if r["requestID"] == request_id]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_get_caller_identity_event(server: Server, sts: Any) -> None:
    rid = sts.get_caller_identity()["ResponseMetadata"]["RequestId"]
    [event] = find(server, rid)
    assert event["eventVersion"] == "1.11"
    assert event["eventSource"] == "sts.amazonaws.com" and event["eventName"] == "GetCallerIdentity"
    assert event["awsRegion"] == "us-east-1"
    assert event["readOnly"] is True and event["requestParameters"] is None and event["responseElements"] is None
    assert event["eventType"] == "AwsApiCall" and event["managementEvent"] is True
    assert event["eventCategory"] == "Management" and event["recipientAccountId"] == ACCOUNT_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["eventTime"])
    assert uuid.UUID(event["eventID"]) and event["sourceIPAddress"] == "127.0.0.1"
    assert event["userAgent"].startswith("Boto3/")
    ident = event["userIdentity"]
    assert ident["type"] == "IAMUser" and ident["userName"] == "admin" and ident["accessKeyId"] == ADMIN_KEY
    assert ident["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin" and ident["principalId"].startswith("AIDA")
    details = event["additionalEventData"]
    assert details["RequestDetails"] == {"endpointType": "regional", "awsServingRegion": "us-east-1"}
    decoded = base64.b64decode(details["ExtendedRequestId"]).decode()
    assert re.fullmatch(r"1:us-east-1:S:\d{13}:R:[A-Za-z0-9]{8}", decoded)
    assert "tlsDetails" not in event  # plain HTTP


def test_assume_role_event_has_credentials_without_secrets(server: Server, sts: Any) -> None:
    iam = server.client("iam")
    name = f"audited-{uuid.uuid4().hex[:6]}"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                   "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
    out = sts.assume_role(RoleArn=arn, RoleSessionName="audit-me", ExternalId="ext-1", DurationSeconds=900,
                          Tags=[{"Key": "Project", "Value": "Pegasus"}])
    [event] = find(server, out["ResponseMetadata"]["RequestId"])
    assert event["readOnly"] is True
    assert event["requestParameters"] == {"roleArn": arn, "roleSessionName": "audit-me", "externalId": "ext-1",
                                          "durationSeconds": 900, "tags": [{"key": "Project", "value": "Pegasus"}]}
    creds = event["responseElements"]["credentials"]
    assert creds["accessKeyId"] == out["Credentials"]["AccessKeyId"]
    assert "secretAccessKey" not in creds and "sessionToken" not in creds
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M", creds["expiration"])
    assert event["responseElements"]["assumedRoleUser"] == {
        "assumedRoleId": out["AssumedRoleUser"]["AssumedRoleId"], "arn": out["AssumedRoleUser"]["Arn"]}
    assert event["resources"] == [{"accountId": ACCOUNT_ID, "type": "AWS::IAM::Role", "ARN": arn}]
    # The session's own later calls carry its identity with the session context.
    temp = server.client(key=out["Credentials"]["AccessKeyId"], secret=out["Credentials"]["SecretAccessKey"],
                         token=out["Credentials"]["SessionToken"])
    rid = temp.get_caller_identity()["ResponseMetadata"]["RequestId"]
    [later] = find(server, rid)
    ident = later["userIdentity"]
    assert ident["type"] == "AssumedRole" and ident["arn"] == out["AssumedRoleUser"]["Arn"]
    issuer = ident["sessionContext"]["sessionIssuer"]
    assert issuer == {"type": "Role", "principalId": out["AssumedRoleUser"]["AssumedRoleId"].split(":")[0],
                      "arn": arn, "accountId": ACCOUNT_ID, "userName": name}
    assert ident["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"


def test_failed_call_is_recorded_with_its_error(server: Server, sts: Any) -> None:
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:role/ghost-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=ghost, RoleSessionName="nope")
    [event] = find(server, exc.value.response["ResponseMetadata"]["RequestId"])
    assert event["errorCode"] == "AccessDenied"
    assert event["errorMessage"] == exc.value.response["Error"]["Message"]
    assert event["responseElements"] is None


def test_cross_account_assume_role_has_two_copies(server: Server, sts: Any) -> None:
    other = json.loads(server.cli("account", "create", "333344445555", "--json").stdout)
    iam = server.client("iam", key=other["AccessKeyId"], secret=other["SecretAccessKey"])
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                   "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="Partner", AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
    rid = sts.assume_role(RoleArn=arn, RoleSessionName="x-acct")["ResponseMetadata"]["RequestId"]
    [mine] = find(server, rid)
    [theirs] = find(server, rid, key=other["AccessKeyId"], secret=other["SecretAccessKey"])
    assert mine["sharedEventID"] == theirs["sharedEventID"] and mine["eventID"] != theirs["eventID"]
    assert mine["recipientAccountId"] == ACCOUNT_ID and theirs["recipientAccountId"] == "333344445555"
    assert mine["userIdentity"]["type"] == "IAMUser"
    assert theirs["userIdentity"] == {"type": "AWSAccount", "principalId": mine["userIdentity"]["principalId"],
                                      "accountId": ACCOUNT_ID}


def test_lookup_filters_and_pages(server: Server, sts: Any) -> None:
    for _ in range(3):
        sts.get_session_token(DurationSeconds=900)
    client = trail(server)
    events = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetSessionToken"}],
                                  MaxResults=2)
    assert len(events["Events"]) == 2 and "NextToken" in events
    assert all(e["EventName"] == "GetSessionToken" for e in events["Events"])
    more = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetSessionToken"}],
                                MaxResults=2, NextToken=events["NextToken"])
    assert {e["EventId"] for e in more["Events"]}.isdisjoint({e["EventId"] for e in events["Events"]})
    assert client.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "admin"}],
                                MaxResults=5)["Events"]
    with pytest.raises(ClientError) as exc:
        client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "a"},
                                               {"AttributeKey": "Username", "AttributeValue": "b"}])
    assert exc.value.response["Error"]["Code"] == "InvalidLookupAttributesException"


def test_aws_cli_lookup_events(server: Server, sts: Any) -> None:
    sts.get_caller_identity()
    env = dict(server.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run([sys.executable, "-m", "awscli", "cloudtrail", "lookup-events", "--endpoint-url", server.url,
                          "--region", "us-east-1", "--max-results", "5", "--lookup-attributes",
                          "AttributeKey=EventSource,AttributeValue=sts.amazonaws.com"],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    events = json.loads(out.stdout)["Events"]
    assert events and all(e["EventSource"] == "sts.amazonaws.com" for e in events)


def _trail_records(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in folder.rglob("*.json.gz"):
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def test_trail_files_as_cloudtrail_delivers_them(server: Server, sts: Any) -> None:
    rid = sts.get_caller_identity()["ResponseMetadata"]["RequestId"]
    folder = server.data_dir / "trail"
    for _ in range(100):
        if any(r["requestID"] == rid for r in _trail_records(folder)):
            break
        time.sleep(0.1)
    paths = [p.relative_to(folder).as_posix() for p in folder.rglob("*.json.gz")]
    assert paths and all(re.fullmatch(
        r"AWSLogs/\d{12}/CloudTrail/[a-z0-9-]+/\d{4}/\d\d/\d\d/\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_[0-9a-z]{16}\.json\.gz",
        p) for p in paths)
    assert any(r["requestID"] == rid for r in _trail_records(folder))


def test_no_secret_in_any_record(server: Server, sts: Any) -> None:
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    time.sleep(2.5)  # let delivery run
    blobs = [p.read_bytes() for p in (server.data_dir / "audit").iterdir() if p.is_file()]
    assert any(p.suffix == ".jsonl" or p.name.startswith("index.db") for p in (server.data_dir / "audit").iterdir())
    blobs += [gzip.decompress(p.read_bytes()) for p in (server.data_dir / "trail").rglob("*.json.gz")]
    for blob in blobs:
        assert ADMIN_SECRET.encode() not in blob
        assert creds["SecretAccessKey"].encode() not in blob
        assert creds["SessionToken"].encode() not in blob


@pytest.fixture(scope="module")
def regional(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("audit-regions")
    cert, key, ca = make_cert(folder, ["127.0.0.1", *STS_HOSTS])
    west = free_port()
    srv = start_server(folder / "data", args=("--listen", f"127.0.0.1:{west}=us-west-2", "--tls-cert", str(cert),
                                              "--tls-key", str(key)), scheme="https")
    yield srv, west, str(ca)
    stop_server(srv)


def test_global_and_regional_events_go_to_the_right_trail(regional: Any) -> None:
    import botocore.session

    srv, west, ca = regional
    for mode, host, trail_region in (("legacy", "sts.amazonaws.com", "us-east-1"),
                                     ("regional", "sts.us-west-2.amazonaws.com", "us-west-2")):
        core = botocore.session.Session()
        core.set_config_variable("sts_regional_endpoints", mode)
        client = boto3.Session(botocore_session=core).client(
            "sts", region_name="us-west-2", verify=ca, aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
        with resolving(west):
            rid = client.get_caller_identity()["ResponseMetadata"]["RequestId"]
        [event] = find(srv, rid, region=trail_region, verify=ca)
        assert event["awsRegion"] == trail_region
        details = event["additionalEventData"]["RequestDetails"]
        assert details == {"endpointType": "global" if mode == "legacy" else "regional", "awsServingRegion": "us-west-2"}
        tls = event["tlsDetails"]
        assert tls["clientProvidedHostHeader"] == host and tls["tlsVersion"].startswith("TLSv1.") and tls["cipherSuite"]
        other = "us-west-2" if trail_region == "us-east-1" else "us-east-1"
        assert not find(srv, rid, region=other, verify=ca)


def test_outbox_delivers_exactly_once_after_the_store_returns(tmp_path: Path) -> None:
    blocked = tmp_path / "east-trail"
    blocked.write_text("not a folder: the us-east-1 trail store is down")
    data = tmp_path / "data"
    data.mkdir()
    (data / "opensts.toml").write_text(f'[audit]\ninterval = 0.2\n[audit.region_folders]\nus-east-1 = "{blocked}"\n')
    srv = start_server(data)
    try:
        client = srv.client()
        rids = [client.get_caller_identity()["ResponseMetadata"]["RequestId"] for _ in range(5)]
        time.sleep(1.5)
        assert not any(blocked.parent.glob("east-trail/**/*.json.gz"))
        assert all(find(srv, rid) for rid in rids)  # recorded, waiting in the outbox
        blocked.unlink()  # the store comes back
        deadline = time.monotonic() + 40
        records: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if blocked.is_dir():
                records = _trail_records(blocked)
                if all(any(r["requestID"] == rid for r in records) for rid in rids):
                    break
            time.sleep(0.2)
        for rid in rids:
            assert sum(r["requestID"] == rid for r in records) == 1
        ids = [r["eventID"] for r in records]
        assert len(ids) == len(set(ids))
    finally:
        stop_server(srv)


@pytest.mark.parametrize("durability", ["process", "disk"])
def test_kill_9_never_loses_the_record_of_issued_credentials(tmp_path: Path, durability: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "opensts.toml").write_text(f'[audit]\ndurability = "{durability}"\n')
    srv = start_server(tmp_path / "data")
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        client = srv.client()
        while not stop.is_set():
            try:
                key = client.get_session_token(DurationSeconds=900)["Credentials"]["AccessKeyId"]
            except Exception:  # noqa: BLE001 - the server died mid-call: that call issued nothing
                return
            with lock:
                received.append(key)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30  # a loaded machine answers the first calls late: kill mid-load, not before it
    while time.monotonic() < deadline and len(received) < 20:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.0))
    os.kill(srv.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    srv.proc.wait(timeout=10)
    assert received, "the load generator received no credentials before the kill"
    again = start_server(tmp_path / "data")
    try:
        recorded: set[str] = set()
        client = trail(again)
        token = None
        while True:
            page = client.lookup_events(MaxResults=50, **({"NextToken": token} if token else {}))
            for e in page["Events"]:
                rec = json.loads(e["CloudTrailEvent"])
                if rec["eventName"] == "GetSessionToken" and rec.get("responseElements"):
                    recorded.add(rec["responseElements"]["credentials"]["accessKeyId"])
            token = page.get("NextToken")
            if not token:
                break
        missing = [k for k in received if k not in recorded]
        assert not missing, f"{len(missing)} of {len(received)} issued credentials have no audit record"
    finally:
        stop_server(again)
