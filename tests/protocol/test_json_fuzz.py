"""hypothesis over the JSON APIs on the wire: bodies generated from botocore's models of every
Organizations, CloudTrail and Account operation, valid or mutated (wrong types, lone surrogates,
integers past 64 bits, deep nesting, extra members, non-object bodies, invalid UTF-8, truncation),
signed by botocore and sent to a real server on loopback.

Every answer must be a well-formed JSON error in the API's shape with a 4xx, or a 2xx — never a
5xx — and every Organizations or Account call the server authenticated (every 2xx write among them)
must have its CloudTrail record in the server's journal. Bounded: 300 requests.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server
from tests.json_wire import OPENSTS_ACCOUNT_PATHS, assert_json_answer, send

SERVED_ACCOUNT = ("EnableRegion", "DisableRegion", "GetRegionOptStatus", "ListRegions", *OPENSTS_ACCOUNT_PATHS)
EXAMPLES = 300


@cache
def _model(service: str) -> dict[str, Any]:
    loader = botocore.session.get_session().get_component("data_loader")
    model: dict[str, Any] = loader.load_service_model(service, "service-2")
    if service == "account":  # OpenSTS's own two calls, described like AWS's
        shapes = model["shapes"]
        shapes["OpenStsBoolean"] = {"type": "boolean"}
        shapes["OpenStsSetRequest"] = {"type": "structure", "required": ["RegionName", "Active"], "members": {
            "AccountId": {"shape": "AccountId"}, "RegionName": {"shape": "RegionName"},
            "Active": {"shape": "OpenStsBoolean"}}}
        shapes["OpenStsGetRequest"] = {"type": "structure", "required": ["RegionName"], "members": {
            "AccountId": {"shape": "AccountId"}, "RegionName": {"shape": "RegionName"}}}
        model["operations"]["SetStsRegionStatus"] = {"input": {"shape": "OpenStsSetRequest"}}
        model["operations"]["GetStsRegionStatus"] = {"input": {"shape": "OpenStsGetRequest"}}
    return model


#: Values that make generated requests name real things, so some of them act.
SAMPLES: dict[str, list[Any]] = {
    "AccountId": [ACCOUNT_ID, "123456789012", "000000000000"],
    "RegionName": ["af-south-1", "us-west-2", "us-east-1", "eu-south-2", "xx-nowhere-1"],
    "ServicePrincipal": ["ssm.amazonaws.com", "account.amazonaws.com", "iam.amazonaws.com"],
    "Email": ["fuzz@example.com"], "AccountName": ["Fuzz"], "Name": ["fuzz"], "Description": ["d"],
    "Content": ['{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}'],
    "NextToken": ["0", "1", "20", "\u00b2", "9" * 30],
    "AttributeValue": ["GetCallerIdentity", "admin", "%", "_", "sts.amazonaws.com"],
}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                 st.just([]), st.just({}))


def _value(service: str, shape_name: str, member: str, depth: int) -> st.SearchStrategy[Any]:
    shape = _model(service)["shapes"][shape_name]
    kind = shape["type"]
    if depth > 4:
        return st.none()
    if kind == "structure":
        members = shape.get("members", {})
        required = set(shape.get("required", ()))
        parts = {n: _value(service, r["shape"], n, depth + 1) for n, r in members.items()}
        return st.fixed_dictionaries({n: v for n, v in parts.items() if n in required},
                                     optional={n: v for n, v in parts.items() if n not in required})
    if kind == "list":
        return st.lists(_value(service, shape["member"]["shape"], member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), _value(service, shape["value"]["shape"], member, depth + 1),
                               max_size=3)
    if kind == "string":
        options = [st.text(max_size=24)]
        if "enum" in shape:
            options.append(st.sampled_from(shape["enum"]))
        if member in SAMPLES:
            options.append(st.sampled_from(SAMPLES[member]))
        return st.one_of(*options)
    if kind in ("integer", "long"):
        return st.integers(min_value=shape.get("min", -5), max_value=shape.get("max", 100))
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.one_of(st.integers(min_value=0, max_value=2**33), st.floats(min_value=0, max_value=2e9))
    return JUNK


@cache
def _body_strategy(service: str, operation: str) -> st.SearchStrategy[dict[str, Any]]:
    op = _model(service)["operations"][operation]
    if "input" not in op:
        return st.just({})
    return _value(service, op["input"]["shape"], "", 0)  # type: ignore[return-value]


def _operations() -> list[tuple[str, str]]:
    """Every operation of the three models; the ones OpenSTS serves weighted up."""
    out: list[tuple[str, str]] = []
    for service in ("organizations", "cloudtrail", "account"):
        for name in _model(service)["operations"]:
            served = service == "organizations" or name == "LookupEvents" or name in SERVED_ACCOUNT
            out += [(service, name)] * (6 if served and service != "organizations" else 1 + served)
    return out


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _splice(body: dict[str, Any], key: str, raw: str) -> bytes:
    """``body`` with member ``key`` set to the raw JSON text ``raw``."""
    rest = json.dumps({k: v for k, v in body.items() if k != key})[1:-1]
    return ("{" + json.dumps(key) + ": " + raw + ("," + rest if rest else "") + "}").encode()


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, str]:
    service, operation = draw(st.sampled_from(_operations()))
    body = draw(_body_strategy(service, operation))
    keys = list(body) + ["Extra", "x"]
    key = draw(st.sampled_from(keys))
    mutation = draw(st.sampled_from(["none", "none", "wrong type", "lone surrogate", "huge int", "deep", "extra",
                                     "not an object", "invalid utf-8", "truncated", "nan"]))
    if mutation == "none":
        raw = json.dumps(body).encode()
    elif mutation == "wrong type":
        raw = json.dumps(dict(body, **{key: draw(JUNK)})).encode()
    elif mutation == "lone surrogate":
        raw = _splice(body, key, json.dumps(draw(st.text(max_size=4)) + "\ud800"))  # json.dumps escapes it
    elif mutation == "huge int":
        raw = _splice(body, key, draw(st.sampled_from(["1" + "0" * 40, "-" + "9" * 25, "1e999", "9" * 5000])))
    elif mutation == "deep":
        raw = _splice(body, key, _deep(draw(st.sampled_from([33, 300, 3000]))))
    elif mutation == "extra":
        raw = json.dumps(dict(body, **{draw(st.text(min_size=1, max_size=8)): draw(JUNK)})).encode()
    elif mutation == "not an object":
        raw = draw(st.sampled_from([b"[]", b"1", b'"x"', b"null", b"true", b"[{}]", b" "]))
    elif mutation == "invalid utf-8":
        raw = json.dumps(body).encode()[:-1] + b', "s": "\xff\xfe\xed\xa0\x80"}' if body else b'{"s": "\xc3"}'
    elif mutation == "truncated":
        raw = json.dumps(body).encode()[:-1]
    else:
        raw = _splice(body, key, draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])))
    return service, operation, raw, mutation


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("opensts-json-fuzz"))
    org = server.client("organizations")
    org.create_organization(FeatureSet="ALL")
    org.create_account(Email="member@example.com", AccountName="Member")
    yield server
    stop_server(server)


def _journal_request_ids(server: Server) -> set[str]:
    server.client("cloudtrail").lookup_events(MaxResults=1)  # indexes every record written so far
    from opensts.audit.event_index import stored_records

    with sqlite3.connect(server.data_dir / "audit" / "index.db", timeout=30) as conn:  # packed records
        return {json.loads(body).get("requestID") for _seq, body in stored_records(conn)}


def test_json_apis_fuzz(fuzz_server: Server) -> None:
    audited: list[tuple[str, str, int, str]] = []  # (service, operation, status, request id) to find in the trail
    statuses: dict[int, int] = {}
    with httpx.Client() as client:

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(case=requests())
        def run(case: tuple[str, str, bytes, str]) -> None:
            service, operation, raw, mutation = case
            answer = send(fuzz_server, service, operation, raw, client=client)
            assert_json_answer(answer, service)
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            authenticated = answer.code not in ("UnknownOperationException",)
            if service == "organizations" or (service == "account" and operation in SERVED_ACCOUNT and authenticated):
                audited.append((service, operation, answer.status, answer.request_id))

        run()
    assert statuses.get(200, 0) >= 10 and sum(v for k, v in statuses.items() if k >= 400) >= 100, statuses
    recorded = _journal_request_ids(fuzz_server)
    missing = [a for a in audited if a[3] not in recorded]
    assert not missing, missing[:10]
