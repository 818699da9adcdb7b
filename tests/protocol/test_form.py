from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.protocol.errors import InvalidQueryParameter, MalformedQueryString, ServiceError
from opensts.protocol.form import MAX_FORM_BYTES, MAX_FORM_PAIRS, parse_form


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b"", {}),
        (b"Action=GetCallerIdentity&Version=2011-06-15", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
        (b"a=1+2&b=%2B&c=%C3%A9%E2%82%AC%F0%9F%98%80", {"a": "1 2", "b": "+", "c": "é€😀"}),
        (b"a=&b&=x&&c=3", {"a": "", "b": "", "c": "3"}),
        (b"a=1=2", {"a": "1=2"}),
        (b"Tags.member.1.Key=k%20v", {"Tags.member.1.Key": "k v"}),
        (b"k%2Ey=v", {"k.y": "v"}),
        ("a=é".encode(), {"a": "é"}),  # raw UTF-8 (not percent-encoded) is accepted
        (b"a=%00", {"a": "\x00"}),
    ],
)
def test_parse(raw: bytes, expected: dict) -> None:
    assert parse_form(raw) == expected


def test_duplicate_key_first_wins() -> None:
    assert parse_form(b"Action=GetCallerIdentity&Action=AssumeRole") == {"Action": "GetCallerIdentity"}


@pytest.mark.parametrize("raw", [b"a=%", b"a=%4", b"a=%zz", b"a%=1", b"a=%C3", b"a=%ED%A0%80", b"a=\xff", b"a=%C3%28"])
def test_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedQueryString) as exc:
        parse_form(raw)
    assert exc.value.code == "MalformedQueryString" and 400 <= exc.value.status < 500


def test_size_limits() -> None:
    with pytest.raises(InvalidQueryParameter):
        parse_form(b"a=" + b"x" * MAX_FORM_BYTES)
    with pytest.raises(InvalidQueryParameter):
        parse_form(b"&".join(b"k%d=v" % i for i in range(MAX_FORM_PAIRS + 1)))


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=20))
def test_roundtrip_urlencode(d: dict) -> None:
    assert parse_form(urlencode(d).encode()) == d


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_arbitrary_bytes_only_service_errors(raw: bytes) -> None:
    try:
        out = parse_form(raw)
    except ServiceError:
        return
    for k, v in out.items():
        assert isinstance(k, str) and isinstance(v, str) and k


@given(st.text(alphabet="a=&%+.0123456789ABCDEFabcdef\u00e9", max_size=60))
@settings(max_examples=500)
def test_agrees_with_stdlib_when_valid(s: str) -> None:
    try:
        ours = parse_form(s.encode())
    except ServiceError:
        return
    first: dict = {}
    for k, v in parse_qsl(s, keep_blank_values=True):
        if k:  # we skip empty keys; the stdlib keeps them
            first.setdefault(k, v)
    assert ours == first
