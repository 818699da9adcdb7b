"""Properties of the pure JSON-protocol pieces: the strict decoder, the model checkers of every
Organizations, CloudTrail and Account operation, and the audit encoder's fallback.

* ``decode_json`` answers any bytes with a value or ``ValueError`` — never RecursionError,
  OverflowError or a value holding a lone surrogate, NaN or nesting past ``MAX_DEPTH``.
* every operation's checker answers any decoded body with ``JsonInputError`` or a dict holding only
  modelled members, of the modelled types, that the journal's encoder (orjson) accepts.
* ``encodable`` makes any JSON-like value encodable by orjson, and ``AuditTrail.record`` writes
  a readable record of any call.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opensts.audit.events import Call, encodable
from opensts.audit.event_index import stored_records
from opensts.audit.index import index_path, ingest
from opensts.fastrand import request_id
from opensts.protocol.json_input import MAX_DEPTH, JsonInputError, decode_json, has_surrogate, load_json_model, \
    offset_token
from opensts.service.context import RequestInfo

MODELS = {"organizations": load_json_model("organizations", "2016-11-28"),
          "cloudtrail": load_json_model("cloudtrail", "2013-11-01"),
          "account": load_json_model("account", "2021-02-01")}
OPERATIONS = [(s, op) for s, m in MODELS.items() for op in m.operations]

#: JSON values as Python's json module can produce them, plus what JSON text can smuggle in.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**200),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["\ud800", "a\udfffb", "\u00b2", "１２"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=20)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _clean(value: Any, finite: bool = False) -> bool:
    """No lone surrogate and no NaN anywhere (keys included); with ``finite``, no infinity either
    (``1e999`` decodes to one, as in Java, and only the checkers refuse it)."""
    if isinstance(value, str):
        return not has_surrogate(value)
    if isinstance(value, float):
        return math.isfinite(value) if finite else not math.isnan(value)
    if isinstance(value, dict):
        return all(_clean(k, finite) and _clean(v, finite) for k, v in value.items())
    if isinstance(value, list):
        return all(_clean(v, finite) for v in value)
    return True


@given(raw=st.one_of(st.binary(max_size=200), values.map(lambda v: orjson.dumps(encodable(v))),
                     st.sampled_from([b"[" * 5000, b'{"a":NaN}', b"Infinity", b'"\\ud800"', b"\xed\xa0\x80",
                                      b"1" * 5000, b"1e999", b"[" * MAX_DEPTH + b"]" * MAX_DEPTH])))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_the_decoder_is_total_and_strict(raw: bytes) -> None:
    try:
        value = decode_json(raw)
    except ValueError:
        return
    assert _clean(value) and _depth(value) <= MAX_DEPTH


@pytest.mark.parametrize("raw", [b"[" * 5000, b'{"a": NaN}', b"-Infinity", b'"\\ud800"', b'{"\\udc00": 1}',
                                 b"\xed\xa0\x80", b"\xff", b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)])
def test_the_decoder_refuses(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_json(raw)


def _conforms(value: Any) -> bool:
    """What a checked body may hold: JSON types the journal encodes, never bool-as-number."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return _clean(value, finite=True)


@given(op=st.sampled_from(OPERATIONS), body=st.dictionaries(st.text(max_size=24), values, max_size=6),
       extra=st.dictionaries(st.sampled_from(["MaxResults", "NextToken", "StartTime", "EndTime", "RegionName",
                                              "AccountId", "LookupAttributes", "Name", "Tags", "Active"]),
                             values, max_size=4))
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_every_checker_is_total_and_keeps_only_modelled_members(op: tuple[str, str], body: dict[str, Any],
                                                                 extra: dict[str, Any]) -> None:
    service, operation = op
    model = MODELS[service]
    try:
        out = model.validate(operation, {**body, **extra})
    except JsonInputError as exc:
        assert exc.status == 400 and exc.reason and exc.top_member is not None
        return
    assert isinstance(out, dict) and _conforms(out)
    modelled = model.members(operation)
    assert set(out) <= modelled


@pytest.mark.parametrize("service,operation,body,reason", [
    ("organizations", "ListAccounts", {"MaxResults": True}, "INVALID_SYNTAX"),
    ("organizations", "ListAccounts", {"MaxResults": 10**40}, "INVALID_SYNTAX"),
    ("organizations", "ListAccounts", {"MaxResults": 5.0}, "INVALID_SYNTAX"),
    ("organizations", "ListAccounts", {"MaxResults": 2**31}, "INVALID_SYNTAX"),  # Java int
    ("organizations", "CreateOrganizationalUnit", {"ParentId": "r-abcd", "Name": "\ud800"}, "INVALID_SYNTAX"),
    ("cloudtrail", "LookupEvents", {"StartTime": False}, "INVALID_SYNTAX"),
    ("cloudtrail", "LookupEvents", {"StartTime": float("nan")}, "INVALID_SYNTAX"),
    ("cloudtrail", "LookupEvents", {"EndTime": 10**30}, "MAX_VALUE_EXCEEDED"),
    ("cloudtrail", "LookupEvents", {"EndTime": float("inf")}, "MAX_VALUE_EXCEEDED"),
    ("cloudtrail", "LookupEvents", {"StartTime": -(10**12)}, "MIN_VALUE_EXCEEDED"),
    ("cloudtrail", "LookupEvents", {"LookupAttributes": ["x"]}, "INVALID_SYNTAX"),
    ("cloudtrail", "LookupEvents", {"LookupAttributes": {"AttributeKey": "EventName"}}, "INVALID_SYNTAX"),
    ("account", "ListRegions", {"MaxResults": True}, "INVALID_SYNTAX"),
    ("account", "GetRegionOptStatus", {"RegionName": "x", "AccountId": "\u0661" * 12}, "INVALID_PATTERN"),
])
def test_exact_member_types(service: str, operation: str, body: dict[str, Any], reason: str) -> None:
    with pytest.raises(JsonInputError) as exc:
        MODELS[service].validate(operation, body)
    assert exc.value.reason == reason


def test_unmodelled_and_null_members_are_dropped() -> None:
    out = MODELS["cloudtrail"].validate("LookupEvents", {"MaxResults": 5, "NextToken": None, "Zz": 10**40, "Deep": [[[]]],
                                                         "LookupAttributes": [{"AttributeKey": "EventName",
                                                                               "AttributeValue": "x", "More": 1}]})
    assert out == {"MaxResults": 5, "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "x"}]}


@pytest.mark.parametrize("token,expected", [(None, 0), ("0", 0), ("20", 20), ("999999999", 999999999),
                                            ("1000000000", None), ("9" * 30, None), ("\u00b2", None), ("\u0661", None),
                                            ("01", None), ("-1", None), (" 1", None), ("", None), (5, None)])
def test_offset_tokens_are_ascii_and_bounded(token: object, expected: int | None) -> None:
    assert offset_token(token) == expected


def _nest(n: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(n):
        value = [value]
    return value


deep_values = st.integers(min_value=250, max_value=400).map(_nest)


@given(value=st.one_of(values, deep_values, st.dictionaries(st.sampled_from(["\ud800", "k"]), values, max_size=3)))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_the_audit_encoder_fallback_is_total(value: Any) -> None:
    record = {"eventVersion": "1.11", "requestParameters": {"x": value}, "errorMessage": "\udfff"}
    orjson.dumps(encodable(record))  # never raises


@given(params=st.dictionaries(st.sampled_from(["Name", "\ud800", "Big", "Deep", "Tags"]),
                              st.one_of(values, deep_values, st.sampled_from([_nest(3000)])), min_size=1, max_size=4),
       message=st.text(max_size=8).map(lambda t: t + "\udc00"))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
def test_any_call_is_written_to_the_journal(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    """The root of "a write without its record": whatever a Call holds, ``AuditTrail.record``
    writes a record that the index reads back (the encoder fallback, through the real journal)."""
    from opensts.audit.trail import AuditTrail

    info = RequestInfo(request_id(), "CreateOrganizationalUnit", datetime.now(timezone.utc), None)
    trail = AuditTrail(tmp_path / str(uuid.uuid4()))
    asyncio.run(trail.record(Call("organizations", info, params, {"Out": params}, "X", message)))
    folder = trail.journal.folder
    ingest(folder)
    with sqlite3.connect(index_path(folder)) as conn:
        bodies = [json.loads(b) for _seq, b in stored_records(conn)]
    assert [b["requestID"] for b in bodies] == [info.request_id]
