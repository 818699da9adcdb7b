"""Audit across a fleet, with real components: `opensts serve --region us-west-2` nodes (each its own
process and data folder), us-west-2's trail in an S3-compatible bucket (moto's server on loopback),
us-east-1's trail in a folder or a second bucket, boto3 clients.

* every node's regional calls land in us-west-2's trail exactly once, and LookupEvents on either
  node returns both nodes' events, newest first, within 10 s of their delivery;
* a global-endpoint call served by a us-west-2 node goes to us-east-1's trail
  (endpointType global, awsServingRegion us-west-2), not us-west-2's;
* us-east-1's store lost (its endpoint stopped, the node killed with kill -9 and restarted
  meanwhile): us-west-2's delivery goes on, and when a new us-east-1 store appears every record
  of the outage arrives in it exactly once.

Calls go to the node's own Region (a listener marked ``=us-west-2``; the endpoint by path prefix,
``http://127.0.0.1:PORT/sts.us-west-2.amazonaws.com``), as a Region's DNS sends them.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, Server, free_port, start_server, stop_server
from tests.trail_s3 import S3Server, start_s3, stop_s3

INTERVAL = 0.3  # delivery rounds and trail scans, seconds


@dataclass
class Node:
    server: Server
    port: int  # the listener marked us-west-2
    data_dir: Path
    config: Path

    def sts(self, endpoint: str = "sts.us-west-2.amazonaws.com") -> Any:
        region = "us-east-1" if endpoint == "sts.amazonaws.com" else "us-west-2"
        return boto3.client("sts", endpoint_url=f"http://127.0.0.1:{self.port}/{endpoint}", region_name=region,
                            aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET,
                            config=Config(retries={"total_max_attempts": 1}))

    def trail(self) -> Any:
        return boto3.client("cloudtrail", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-west-2",
                            aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET,
                            config=Config(retries={"total_max_attempts": 1}))

    def call(self, endpoint: str = "sts.us-west-2.amazonaws.com") -> str:
        return str(self.sts(endpoint).get_caller_identity()["ResponseMetadata"]["RequestId"])


def start_node(data_dir: Path, config: Path) -> Node:
    port = free_port()
    srv = start_server(data_dir, args=("--region", "us-west-2", "--config", str(config),
                                       "--listen", f"127.0.0.1:{port}=us-west-2"))
    return Node(srv, port, data_dir, config)


def restart(node: Node) -> Node:
    return start_node(node.data_dir, node.config)


def bucket_records(s3: S3Server, bucket: str) -> list[dict[str, Any]]:
    client = s3.client()
    records: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            records += json.loads(gzip.decompress(body))["Records"]
    return records


def folder_records(folder: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in folder.rglob("*.json.gz"):
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def lookup(node: Node) -> list[dict[str, Any]]:
    """Every record LookupEvents on ``node`` returns for us-west-2 (all pages), in its order."""
    client, token, out = node.trail(), None, []
    while True:
        page = client.lookup_events(MaxResults=50, **({"NextToken": token} if token else {}))
        out += [json.loads(e["CloudTrailEvent"]) | {"_time": e["EventTime"]} for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            return out


def wait_for(what: Callable[[], list[dict[str, Any]]], rids: list[str], timeout: float) -> list[dict[str, Any]]:
    """``what()`` once it holds a record of every request id (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        records = what()
        if {r["requestID"] for r in records} >= set(rids) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def once_each(records: list[dict[str, Any]], rids: list[str]) -> None:
    for rid in rids:
        assert sum(r["requestID"] == rid for r in records) == 1, rid
    ids = [r["eventID"] for r in records]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two us-west-2 nodes; us-west-2's trail in a bucket, us-east-1's in a folder."""
    tmp = tmp_path_factory.mktemp("audit-fleet")
    s3 = start_s3(log=tmp / "s3.log")
    nodes: list[Node] = []
    try:
        s3.client().create_bucket(Bucket="west-trail")
        config = tmp / "fleet.toml"
        config.write_text(f'[audit]\ninterval = {INTERVAL}\n'
                          f'[audit.regions.us-west-2]\ns3 = {s3.toml("west-trail", prefix="trails")}\n'
                          f'[audit.regions.us-east-1]\nfolder = "{tmp / "east-trail"}"\n')
        nodes += [start_node(tmp / "node1", config), start_node(tmp / "node2", config)]
        yield {"s3": s3, "nodes": nodes, "east": tmp / "east-trail"}
    finally:
        for node in nodes:
            stop_server(node.server)
        stop_s3(s3)


def test_both_nodes_regional_calls_in_the_regions_trail_once_and_in_lookup_on_either_node(fleet: dict[str, Any]) -> None:
    s3, (one, two) = fleet["s3"], fleet["nodes"]
    rids = [node.call() for node in (one, two, one, two, one, two)]
    delivered = wait_for(lambda: bucket_records(s3, "west-trail"), rids, 20)
    at = time.monotonic()
    once_each(delivered, rids)
    assert {r["awsRegion"] for r in delivered if r["requestID"] in rids} == {"us-west-2"}
    for node in (one, two):
        seen = wait_for(lambda node=node: lookup(node), rids, 10)
        once_each(seen, rids)
        assert time.monotonic() - at <= 10, "LookupEvents did not show the delivered events within 10 s"
        times = [r["_time"] for r in seen]
        assert times == sorted(times, reverse=True)  # newest first
    # both nodes wrote files of their own into the one store (their node ids in the names)
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="west-trail")["Contents"]]
    assert all(k.startswith("trails/AWSLogs/") for k in keys)
    node_ids = {(node.data_dir / "node-id").read_text().strip() for node in (one, two)}
    assert len(node_ids) == 2 and {k.rsplit("_", 1)[1][:8] for k in keys} >= node_ids


def test_a_global_call_goes_to_us_east_1s_trail_wherever_served(fleet: dict[str, Any]) -> None:
    s3, (one, _two) = fleet["s3"], fleet["nodes"]
    rid = one.call("sts.amazonaws.com")
    [record] = [r for r in wait_for(lambda: folder_records(fleet["east"]), [rid], 20) if r["requestID"] == rid]
    assert record["awsRegion"] == "us-east-1"
    assert record["additionalEventData"]["RequestDetails"] == {"endpointType": "global",
                                                               "awsServingRegion": "us-west-2"}
    regional = one.call()  # delivered after the global one: once it is in us-west-2's trail, so would the other be
    wait_for(lambda: lookup(one), [regional], 10)
    assert not any(r["requestID"] == rid for r in bucket_records(s3, "west-trail") + lookup(one))


def test_records_of_a_lost_store_arrive_exactly_once_when_it_returns(tmp_path: Path) -> None:
    east = start_s3(log=tmp_path / "s3.log")
    port = east.port
    east.client().create_bucket(Bucket="east-trail")
    config = tmp_path / "fleet.toml"
    config.write_text(f'[audit]\ninterval = {INTERVAL}\n'
                      f'[audit.regions.us-east-1]\ns3 = {east.toml("east-trail")}\n'
                      f'[audit.regions.us-west-2]\nfolder = "{tmp_path / "west-trail"}"\n')
    node = start_node(tmp_path / "node", config)
    try:
        before = node.call("sts.amazonaws.com")
        wait_for(lambda: bucket_records(east, "east-trail"), [before], 20)
        stop_s3(east)  # us-east-1's store is lost, with everything in it
        outage = [node.call("sts.amazonaws.com") for _ in range(5)]
        regional = [node.call() for _ in range(2)]
        west = wait_for(lambda: folder_records(tmp_path / "west-trail"), regional, 10)
        once_each(west, regional)  # the other Region's delivery goes on meanwhile
        time.sleep(3 * INTERVAL)  # claimed into batches, attempted, pending
        os.kill(node.server.proc.pid, signal.SIGKILL)
        node.server.proc.wait(timeout=10)
        node = restart(node)
        outage += [node.call("sts.amazonaws.com") for _ in range(3)]
        east = start_s3(port, log=tmp_path / "s3.log")  # a new, empty store where the old one was
        east.client().create_bucket(Bucket="east-trail")
        records = wait_for(lambda: bucket_records(east, "east-trail"), outage, 30)
        time.sleep(5 * INTERVAL)  # more delivery rounds: nothing delivered twice
        records = bucket_records(east, "east-trail")
        once_each(records, outage)
        assert all(r["additionalEventData"]["RequestDetails"] == {"endpointType": "global",
                                                                   "awsServingRegion": "us-west-2"}
                   for r in records if r["requestID"] in outage)
    finally:
        stop_server(node.server)
        stop_s3(east)
