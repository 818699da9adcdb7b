"""The audit index's blocks (issue 19, the hot path): records are stored in blocks of one trail
(account, Region) and minute, with one lookup key row per block for the values its events share
and one EventId row per event. Whatever the mix of trails, times and ingestion rounds, and after
the index is bounded, LookupEvents must answer exactly what a scan of the records would: every
filter, every time range, newest first, each event once across pages. And a deferred record's
identifiers, spliced into its bytes at ingestion, must leave the record exactly as re-encoding it
would, whatever the caller put in it."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opensts.audit.delivery import Delivery, FolderStore
from opensts.audit.event_index import BLOCK_EVENTS, bound, stored_records, used_bytes
from opensts.audit.events import Call, build_events
from opensts.audit.index import _complete, _complete_parsed, connect, index_path, ingest
from opensts.audit.journal import Journal
from opensts.audit.lookup import ATTRIBUTES, JournalIndex, lookup_events
from opensts.auth.principals import Caller
from opensts.service.context import RequestInfo

ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("us-east-1", "eu-west-1")
NAMES = ("GetCallerIdentity", "AssumeRole", "GetSessionToken")
USERS = ("alice", "bob", "carol")
NOW = int(time.time())


def _record(i: int, account: str, region: str, name: str, user: str, when: int, role: int | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": f"arn:aws:iam::{account}:user/{user}",
                         "accountId": account, "accessKeyId": f"AKIA{user.upper():X<16}", "userName": user},
        "eventTime": datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com", "eventName": name, "awsRegion": region, "sourceIPAddress": "127.0.0.1",
        "requestParameters": None, "responseElements": None, "requestID": str(uuid.uuid4()), "eventID": f"ev-{i}",
        "readOnly": name != "GetSessionToken", "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": account, "eventCategory": "Management",
    }
    if role is not None:
        record["resources"] = [{"accountId": account, "type": "AWS::IAM::Role",
                                "ARN": f"arn:aws:iam::{account}:role/r{role}"}]
    return record


EVENT = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(REGIONS), st.sampled_from(NAMES),
                  st.sampled_from(USERS), st.integers(0, 400), st.one_of(st.none(), st.integers(0, 2)))
#: (events, ingestion rounds: how many of the events each round finds journaled)
TRAILS = st.lists(EVENT, min_size=1, max_size=400).flatmap(
    lambda events: st.tuples(st.just(events), st.lists(st.integers(1, 150), min_size=1, max_size=6)))


def _build(folder: Path, events: list[tuple[Any, ...]], rounds: list[int]) -> list[tuple[int, dict[str, Any]]]:
    """Journal the events in rounds, ingesting after each: [(epoch seconds, record)] in journal order."""
    journal = Journal(folder)
    made = [(NOW - 500 + ago, _record(i, a, r, n, u, NOW - 500 + ago, role))
            for i, (a, r, n, u, ago, role) in enumerate(events)]

    async def write(part: list[tuple[int, dict[str, Any]]]) -> None:
        for when, record in part:
            await journal.write([(record["awsRegion"], record["recipientAccountId"], record)], durable=False,
                                when=when)

    at, sizes = 0, list(rounds)
    while at < len(made):
        size = sizes.pop(0) if sizes else len(made)
        asyncio.run(write(made[at:at + size]))
        ingest(folder)
        at += size
    return made


def _value(record: dict[str, Any], attribute: str) -> list[str]:
    ident = record["userIdentity"]
    return {
        "EventId": [record["eventID"]], "EventName": [record["eventName"]],
        "ReadOnly": ["true" if record["readOnly"] else "false"], "Username": [ident["userName"]],
        "EventSource": [record["eventSource"]], "AccessKeyId": [ident["accessKeyId"]],
        "ResourceType": [r["type"] for r in record.get("resources", [])],
        "ResourceName": [r["ARN"] for r in record.get("resources", [])],
    }[attribute]


def _all_pages(folder: Path, account: str, region: str, params: dict[str, Any], size: int) -> list[str]:
    found: list[str] = []
    params = dict(params, MaxResults=size)
    for _ in range(1000):
        out = lookup_events(JournalIndex(folder), account, region, params)
        found += [e["EventId"] for e in out["Events"]]
        if "NextToken" not in out:
            return found
        params["NextToken"] = out["NextToken"]
    raise AssertionError("paging did not end")


def _expected(made: list[tuple[int, dict[str, Any]]], account: str, region: str, attribute: str | None,
              value: str, start: int, end: int) -> list[str]:
    """A scan: the trail's matching events (the order is checked against the index's seqs)."""
    hits = [r["eventID"] for when, r in made if r["recipientAccountId"] == account and r["awsRegion"] == region
            and start <= when <= end and (attribute is None or value in _value(r, attribute))]
    return hits


def _order(folder: Path) -> dict[str, int]:
    """eventID → its seq: the index's order (a trail's own order is kept, trails are regrouped)."""
    return {orjson.loads(body)["eventID"]: seq for seq, body in stored_records(connect(index_path(folder)))}


def _check_every_filter(folder: Path, made: list[tuple[int, dict[str, Any]]], size: int) -> None:
    order = _order(folder)
    values: dict[str, set[str]] = {a: set() for a in ATTRIBUTES}
    for _when, record in made:
        for attribute in ATTRIBUTES:
            values[attribute].update(_value(record, attribute))
    windows = [(0, NOW + 10), (NOW - 400, NOW - 300), (NOW - 500 + 60, NOW - 500 + 60)]
    for account in ACCOUNTS:
        for region in REGIONS:
            for start, end in windows:
                params: dict[str, Any] = {"StartTime": start, "EndTime": end}
                queries: list[tuple[str | None, str]] = [(None, "")]
                queries += [(a, v) for a in ATTRIBUTES for v in sorted(values[a])[:3]] + [("Username", "nobody")]
                for attribute, value in queries:
                    asked = dict(params)
                    if attribute is not None:
                        asked["LookupAttributes"] = [{"AttributeKey": attribute, "AttributeValue": value}]
                    got = _all_pages(folder, account, region, asked, size)
                    want = _expected(made, account, region, attribute, value, start, end)
                    assert sorted(got) == sorted(want), (account, region, attribute, value, start, end)
                    assert got == sorted(got, key=lambda i: -order[i])  # newest first, each once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trail=TRAILS, size=st.sampled_from([1, 3, 50]))
def test_lookup_events_answers_what_a_scan_of_the_records_would(tmp_path_factory: pytest.TempPathFactory,
                                                                trail: tuple[list[Any], list[int]], size: int) -> None:
    folder = tmp_path_factory.mktemp("blocks") / "audit"
    made = _build(folder, *trail)
    _check_every_filter(folder, made, size)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trail=TRAILS, cut=st.integers(0, 400), cap=st.floats(0.2, 1.0))
def test_a_bounded_index_still_answers_what_a_scan_of_what_is_left_would(
        tmp_path_factory: pytest.TempPathFactory, trail: tuple[list[Any], list[int]], cut: int, cap: float) -> None:
    """Retention and the size cap drop whole blocks, oldest first; what is left answers exactly."""
    folder = tmp_path_factory.mktemp("bound") / "audit"
    made = _build(folder, *trail)
    conn = connect(index_path(folder))
    top = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    older_than = NOW - 500 + cut
    bound(conn, droppable=top, older_than=older_than, max_bytes=1 << 40)  # the retention alone
    left = {orjson.loads(body)["eventID"] for _seq, body in stored_records(conn)}
    assert all(when < older_than for when, r in made if r["eventID"] not in left)  # never a newer one
    bound(conn, droppable=top, older_than=0, max_bytes=int(used_bytes(conn) * cap))  # then the cap
    left = {orjson.loads(body)["eventID"] for _seq, body in stored_records(conn)}
    orphans = conn.execute("SELECT COUNT(*) FROM event_keys k WHERE NOT EXISTS (SELECT 1 FROM events e "
                           "WHERE e.seq = k.seq)").fetchone()[0]
    conn.close()
    assert orphans == 0  # no key row outlives its event or block
    _check_every_filter(folder, [(when, r) for when, r in made if r["eventID"] in left], 50)


def test_blocks_hold_one_trail_and_minute_and_at_most_block_events(tmp_path: Path) -> None:
    events = [(ACCOUNTS[i % 2], REGIONS[(i // 2) % 2], "GetCallerIdentity", "alice", i // 3, None) for i in range(900)]
    folder = tmp_path / "audit"
    _build(folder, events, [900])
    conn = connect(index_path(folder))
    blocks = conn.execute("SELECT first_seq, last_seq FROM event_blocks ORDER BY first_seq").fetchall()
    for first, last in blocks:
        assert last - first + 1 <= BLOCK_EVENTS
        trails = conn.execute("SELECT DISTINCT account_id, trail_region, event_time / 60 FROM events "
                              "WHERE seq BETWEEN ? AND ?", (first, last)).fetchall()
        assert len(trails) == 1
    assert sum(last - first + 1 for first, last in blocks) == 900
    keys = conn.execute("SELECT COUNT(*) FROM event_keys").fetchone()[0]
    assert keys < 900 * 1.5  # one EventId row per event, the shared keys once per block (was 7 per event)


# ---- the identifiers spliced into a deferred record's bytes -------------------------------------
CALLER = Caller("IAMUser", "111122223333", "arn:aws:iam::111122223333:user/admin", "AIDAEXAMPLE", "admin",
                "AKIAEXAMPLEEXAMPLE12", "aws", "AIDAEXAMPLE")
TRICKY = st.one_of(st.text(max_size=40), st.sampled_from([
    '"eventID":null,"readOnly":', '","eventID":null,"readOnly":true', '"ExtendedRequestId":null,',
    '"ExtendedRequestId":null,"RequestDetails":{"endpointType":"regional","awsServingRegion":"x"}},"requestID":"a",',
    '\\"eventID\\":null', "\n", "\t", "\u2028", "é"]))


@settings(max_examples=300, deadline=None)
@given(service=st.sampled_from(["sts", "iam", "organizations"]), action=st.sampled_from(["AssumeRole", "GetUser",
       "CreateOrganizationalUnit", "GetCallerIdentity"]), params=st.dictionaries(st.sampled_from(
           ["RoleArn", "RoleSessionName", "eventID", "readOnly", "ExtendedRequestId", "RequestDetails", "Name"]),
           st.one_of(TRICKY, st.none(), st.dictionaries(st.sampled_from(["eventID", "readOnly", "x"]),
                                                         st.one_of(TRICKY, st.none()), max_size=3)), max_size=5),
       agent=TRICKY, error=st.one_of(st.none(), st.just("AccessDenied")), cross=st.booleans())
def test_splicing_the_identifiers_equals_re_encoding_the_record(service: str, action: str, params: dict[str, Any],
                                                                agent: str, error: str | None, cross: bool) -> None:
    info = RequestInfo("req-1", action, datetime.now(timezone.utc), CALLER, "eu-west-1", "eu-west-1")
    info.user_agent = agent
    if cross:
        info.extra["owner_account"] = "444455556666"
    call = Call(service, info, params, {"Out": params}, error, "denied" if error else None)
    for _region, _account, record in build_events(call, deferred=True):
        body = orjson.dumps(record)
        event_id, spliced = _complete(body, 1_790_000_000_123, 1_790_000_000)
        made = orjson.loads(spliced)
        assert made["eventID"] == event_id and uuid.UUID(event_id).version == 4
        extra = made.get("additionalEventData")
        if service == "sts":
            decoded = base64.b64decode(extra["ExtendedRequestId"]).decode()
            assert re.fullmatch(r"1:eu-west-1:S:1790000000123:R:[A-Za-z0-9]{8}", decoded)
            made["additionalEventData"]["ExtendedRequestId"] = None
        _same, parsed = _complete_parsed(body, 1_790_000_000_123, 1_790_000_000, event_id)
        reference = orjson.loads(parsed)
        if service == "sts":
            reference["additionalEventData"]["ExtendedRequestId"] = None
        assert list(made) == list(reference) and made == reference  # same fields, same order, same values
        assert made["requestParameters"] == orjson.loads(body)["requestParameters"]  # the caller's bytes untouched


def test_trail_files_are_few_under_steady_load(tmp_path: Path) -> None:
    """A round takes the interval's records as one transaction and one file per trail: steady load
    makes a file per trail per round, not one per handful of records (each was a transaction, a
    file and a sync: most of the delivery process's CPU)."""
    import threading

    folder = tmp_path / "audit"
    journal = Journal(folder)
    delivery = Delivery(folder, FolderStore(tmp_path / "trail"), interval=0.5)
    stop = threading.Event()
    runner = threading.Thread(target=delivery.run_forever, args=(stop,), daemon=True)
    runner.start()
    sent = 0

    async def steady() -> int:
        count, began = 0, time.monotonic()
        while time.monotonic() - began < 2.0:  # ≈ 2 s of records, written a few at a time
            for _ in range(5):
                record = _record(count, ACCOUNTS[0], REGIONS[0], "GetCallerIdentity", "alice", NOW, None)
                await journal.write([(REGIONS[0], ACCOUNTS[0], record)], durable=False, when=NOW)
                count += 1
            await asyncio.sleep(0.002)
        return count

    try:
        sent = asyncio.run(steady())
        deadline = time.monotonic() + 10
        while len(_delivered_ids(tmp_path)) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    files = list((tmp_path / "trail").rglob("*.json.gz"))
    assert sorted(_delivered_ids(tmp_path)) == sorted(f"ev-{i}" for i in range(sent))
    assert sent > 500 and len(files) <= 12, (sent, len(files))  # ≈ 2 s / 0.5 s rounds (+ the last)


def _delivered_ids(tmp_path: Path) -> list[str]:
    import gzip
    import json

    return [r["eventID"] for p in (tmp_path / "trail").rglob("*.json.gz")
            for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]


# ---- what a record carries, per operation (AWS's record contents) -------------------------------
def _operations(service: str) -> list[str]:
    import botocore.session

    return list(botocore.session.get_session().get_service_model(service).operation_names)


@pytest.mark.parametrize("service", ["iam", "organizations", "account", "sts"])
def test_reads_record_no_response_elements_and_changes_do(service: str) -> None:
    """CloudTrail: responseElements "is present in events for actions that make changes (create,
    update, or delete actions)"; a read (Get*, List*, Describe*, Simulate*) is readOnly and has
    none. STS's credential-issuing calls are the exception AWS makes: readOnly with their
    credentials (secret and token never)."""
    issuing = {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken",
               "GetFederationToken", "AssumeRoot", "GetDelegatedAccessToken"}
    quiet = {"GetCallerIdentity", "DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetWebIdentityToken"}
    for action in _operations(service):
        if service == "sts" and action not in issuing | quiet:
            continue  # STS's newer operations: as STS records them, outside this rule
        info = RequestInfo("req-1", action, datetime.now(timezone.utc), CALLER, "us-east-1", "us-east-1")
        ((_region, _account, record),) = build_events(Call(service, info, {}, {"Thing": {"Name": "x"}}), deferred=True)
        reading = action.startswith(("Get", "List", "Describe", "Simulate")) and action not in issuing
        if service == "sts" and action in issuing:
            assert record["responseElements"] == {"thing": {"name": "x"}}, action
        elif reading or action in quiet:
            assert record["responseElements"] is None, action
        else:
            assert record["responseElements"] == {"thing": {"name": "x"}}, action
        if service != "sts":
            assert record["readOnly"] is reading, action
