"""hypothesis: arbitrary params into every operation's parse never raise anything but ServiceError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opensts.protocol.errors import ServiceError
from opensts.protocol.model import load_service

OPS = [(s, n) for s in ("sts", "iam") for n in load_service(s).operations]
STS_OPS = [n for s, n in OPS if s == "sts"]

segments = st.sampled_from(
    ["member", "entry", "key", "value", "1", "2", "0", "01", "x", "", "Key", "Value", "arn", "Tags", "PolicyArns",
     "TransitiveTagKeys", "ProvidedContexts", "ProviderArn", "ContextAssertion", "DurationSeconds", "RoleArn",
     "TaskPolicyArn", "Audience", "ContextEntries", "ContextKeyValues", "ContextKeyType", "SummaryMap",
     "PolicyInputList", "ResourceArns", "MaxItems", "Filter", "RoleSessionName", "Policy"]
)
keys = st.one_of(st.text(max_size=12), st.lists(segments, min_size=1, max_size=6).map(".".join))
values = st.one_of(st.text(max_size=40), st.sampled_from(["", "1", "-1", "900", "true", "NaN", "2019-11-01T20:26:47Z", "a" * 3000]))
params = st.dictionaries(keys, values, max_size=25)


def _check(service: str, name: str, p: dict) -> None:
    op = load_service(service).operations[name]
    try:
        out = op.parse(p)
    except ServiceError as e:
        assert e.code in ("ValidationError", "MalformedInput") and e.message
        return
    assert isinstance(out, dict)


@pytest.mark.parametrize("name", STS_OPS)
@given(p=params)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_sts_ops(name: str, p: dict) -> None:
    _check("sts", name, p)


@given(op=st.sampled_from(OPS), p=params)
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_all_ops(op: tuple, p: dict) -> None:
    _check(*op, p)
