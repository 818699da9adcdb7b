"""Condition operators: every family, negation, IfExists, set operators, missing/empty keys, variables."""

from __future__ import annotations

from typing import Any

import pytest

from opensts.policy.conditions import legacy_date_ok, parse_date, parse_operator
from tests.policy.conftest import cond_decide

A, D = "Allow", "ImplicitDeny"


def c(op: str, key: str, values: Any, keys: dict[str, Any], version: str = "2012-10-17") -> bool:
    return cond_decide({op: {key: values}}, keys, version) == A


K = "ex:k"

TABLE: list[tuple[str, Any, dict[str, Any], bool]] = [
    # String
    ("StringEquals", "a", {K: "a"}, True),
    ("StringEquals", "a", {K: "A"}, False),
    ("StringEquals", ["x", "a"], {K: "a"}, True),
    ("StringEquals", "a*", {K: "abc"}, False),
    ("StringEquals", "", {K: ""}, True),  # empty string is a present value
    ("StringEquals", "a", {}, False),
    ("StringEquals", [], {K: "a"}, False),
    ("StringEquals", "a", {K: ["a"]}, False),  # list without set operator
    ("StringEquals", "123", {K: 123}, True),  # numbers carried as strings
    ("StringEquals", 123, {K: "123"}, True),
    ("StringNotEquals", "a", {K: "b"}, True),
    ("StringNotEquals", ["a", "b"], {K: "b"}, False),  # NOR
    ("StringNotEquals", ["a", "b"], {K: "c"}, True),
    ("StringNotEquals", "a", {}, True),  # missing key: negated is true
    ("StringNotEquals", [], {K: "a"}, True),  # NOR over nothing
    ("StringNotEquals", "a", {K: ["b"]}, False),  # list without set operator
    ("StringEqualsIgnoreCase", "HeLLo", {K: "hello"}, True),
    ("StringEqualsIgnoreCase", "straße", {K: "STRASSE"}, False),  # no Unicode case folding
    ("StringNotEqualsIgnoreCase", "a", {K: "A"}, False),
    ("StringNotEqualsIgnoreCase", "a", {K: "b"}, True),
    ("StringLike", "a*", {K: "abc"}, True),
    ("StringLike", "a?c", {K: "abc"}, True),
    ("StringLike", "a?c", {K: "ac"}, False),
    ("StringLike", "arn:aws:s3:::*", {K: "arn:aws:s3:::b/c:d"}, True),
    ("StringLike", "A*", {K: "abc"}, False),
    ("StringLike", "a.c", {K: "abc"}, False),
    ("StringNotLike", ["a*", "b*"], {K: "cat"}, True),
    ("StringNotLike", ["a*", "b*"], {K: "bat"}, False),
    ("StringNotLike", "a*", {}, True),
    # Numeric
    ("NumericEquals", "10", {K: "10.0"}, True),
    ("NumericEquals", 10, {K: "10"}, True),
    ("NumericNotEquals", ["1", "2"], {K: "2"}, False),
    ("NumericNotEquals", ["1", "2"], {K: "3"}, True),
    ("NumericNotEquals", "1", {K: "x"}, False),  # unparseable context value: negated false too
    ("NumericLessThan", "3600", {K: "3599"}, True),
    ("NumericLessThan", "3600", {K: "3600"}, False),
    ("NumericLessThanEquals", "3600", {K: "3600"}, True),
    ("NumericGreaterThan", "-1", {K: "0"}, True),
    ("NumericGreaterThanEquals", "1.5", {K: "1.5"}, True),
    ("NumericLessThan", "abc", {K: "1"}, False),  # unparseable policy value never matches
    ("NumericLessThan", "10", {K: "NaN"}, False),
    ("NumericLessThan", "10", {K: "1e1"}, False),
    ("NumericLessThan", "10", {K: "9e0"}, True),
    # Date
    ("DateGreaterThan", "2024-01-01T00:00:00Z", {K: "2024-01-01T00:00:01Z"}, True),
    ("DateLessThan", "2024-01-01", {K: "2023-12-31T23:59:59Z"}, True),
    ("DateEquals", "2024-01-01T02:00:00+02:00", {K: "2024-01-01T00:00:00Z"}, True),
    ("DateEquals", "1704067200", {K: "2024-01-01T00:00:00Z"}, True),
    ("DateEquals", "2024-01-01T00:00:00.500Z", {K: "2024-01-01T00:00:00.5Z"}, True),
    ("DateGreaterThan", "2024", {K: "1971-01-01T00:00:00Z"}, True),  # all digits = epoch seconds
    ("DateNotEquals", "2024-01-01", {}, True),
    ("DateNotEquals", "2024-01-01", {K: "garbage"}, False),
    ("DateLessThanEquals", "2024-01-01t10:00:00z", {K: "2024-01-01T10:00:00Z"}, True),
    ("DateGreaterThan", "2024-01-01T00:00:00Z", {K: "1704067201"}, True),
    # Bool
    ("Bool", "true", {K: "true"}, True),
    ("Bool", "TRUE", {K: "True"}, True),
    ("Bool", True, {K: "true"}, True),
    ("Bool", False, {K: "true"}, False),
    ("Bool", "true", {K: "yes"}, False),
    ("Bool", "true", {}, False),
    ("Bool", ["false", "true"], {K: "false"}, True),
    # Binary
    ("BinaryEquals", "QmluYXJ5", {K: "QmluYXJ5"}, True),
    ("BinaryEquals", "QmluYXJ5", {K: b"Binary"}, True),
    ("BinaryEquals", "QmluYXJ5", {K: "QmluYXJ6"}, False),
    ("BinaryEquals", "QmluYXJ5", {K: "not base64!"}, False),
    # IP
    ("IpAddress", "203.0.113.0/24", {K: "203.0.113.7"}, True),
    ("IpAddress", "203.0.113.0/24", {K: "203.0.114.7"}, False),
    ("IpAddress", "203.0.113.99/24", {K: "203.0.113.1"}, True),  # host bits ignored
    ("IpAddress", "203.0.113.5", {K: "203.0.113.5"}, True),  # bare address = /32
    ("IpAddress", "2001:DB8::/32", {K: "2001:db8:1::1"}, True),
    ("IpAddress", "2001:db8::/32", {K: "203.0.113.5"}, False),
    ("IpAddress", "0.0.0.0/0", {K: "::ffff:1.2.3.4"}, False),
    ("IpAddress", "10.0.0.0/8", {K: "garbage"}, False),
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], {K: "192.168.1.1"}, False),
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], {K: "8.8.8.8"}, True),
    ("NotIpAddress", "10.0.0.0/8", {}, True),
    ("NotIpAddress", "10.0.0.0/8", {K: "garbage"}, False),
    # Arn
    ("ArnLike", "arn:aws:iam::*:role/*", {K: "arn:aws:iam::123456789012:role/x"}, True),
    ("ArnEquals", "arn:aws:iam::*:role/*", {K: "arn:aws:iam::123456789012:role/x"}, True),
    ("ArnLike", "arn:aws:someservice:*:111122223333:finance/*",
     {K: "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, False),
    ("ArnLike", "arn:aws:iam::123456789012:role/X", {K: "arn:aws:iam::123456789012:role/x"}, False),
    ("ArnNotLike", "arn:aws:iam::*:role/Admin", {K: "arn:aws:iam::1:role/Dev"}, True),
    ("ArnNotLike", "arn:aws:iam::*:role/Admin", {}, True),
    ("ArnNotEquals", "arn:aws:iam::*:role/Admin", {K: "garbage"}, False),
    # Null
    ("Null", "true", {}, True),
    ("Null", "true", {K: "x"}, False),
    ("Null", "false", {K: "x"}, True),
    ("Null", "false", {}, False),
    ("Null", "true", {K: []}, True),  # empty list = no value
    ("Null", "TRUE", {K: ""}, False),  # empty string is present
    ("Null", ["true", "false"], {K: "x"}, True),
    ("Null", True, {}, True),
    ("NullIfExists", "false", {}, False),  # CHOICE: NullIfExists == Null
    # IfExists
    ("StringEqualsIfExists", "a", {}, True),
    ("StringEqualsIfExists", "a", {K: "b"}, False),
    ("StringNotEqualsIfExists", "a", {}, True),
    ("NumericLessThanIfExists", "5", {}, True),
    ("NumericLessThanIfExists", "5", {K: "x"}, False),
    ("BoolIfExists", "false", {}, True),
    ("IpAddressIfExists", "10.0.0.0/8", {}, True),
    ("ArnLikeIfExists", "arn:*:*:*:*:*", {}, True),
    ("DateLessThanIfExists", "2030-01-01", {}, True),
    ("StringEqualsIfExists", "a", {K: ["a"]}, False),  # list without set operator stays false
    # Set operators
    ("ForAllValues:StringEquals", ["a", "b"], {K: ["a"]}, True),
    ("ForAllValues:StringEquals", ["a", "b"], {K: ["a", "c"]}, False),
    ("ForAllValues:StringEquals", ["a", "b"], {}, True),
    ("ForAllValues:StringEquals", ["a", "b"], {K: []}, True),
    ("ForAllValues:StringEquals", ["a", "b"], {K: "a"}, True),  # single value = one-element set
    ("ForAnyValue:StringEquals", ["a", "b"], {K: ["c", "b"]}, True),
    ("ForAnyValue:StringEquals", ["a", "b"], {K: ["c"]}, False),
    ("ForAnyValue:StringEquals", ["a", "b"], {}, False),
    ("ForAnyValue:StringEquals", ["a", "b"], {K: []}, False),
    ("ForAnyValue:StringEqualsIfExists", ["a"], {}, True),
    ("ForAllValues:StringNotLike", "key1*", {K: ["key1:legal"]}, False),
    ("ForAllValues:StringNotLike", "key1*", {K: ["key2:audit"]}, True),
    ("ForAllValues:StringNotLike", "key1*", {K: ["key1:legal", "key2:audit"]}, False),
    ("ForAllValues:StringNotLike", "key1*", {}, True),
    ("ForAnyValue:StringNotEquals", ["a", "b"], {K: ["a", "z"]}, True),
    ("ForAnyValue:StringNotEquals", ["a", "b"], {K: ["a", "b"]}, False),
    ("ForAnyValue:StringLike", ["a*"], {K: ["xa", "ab"]}, True),
    ("ForAllValues:StringEqualsIgnoreCase", ["project", "dept"], {K: ["Project", "DEPT"]}, True),
    ("ForAnyValue:NumericGreaterThan", "5", {K: ["1", "7"]}, True),
    ("ForAllValues:IpAddress", "10.0.0.0/8", {K: ["10.1.1.1", "10.2.2.2"]}, True),
    ("ForAllValues:IpAddress", "10.0.0.0/8", {K: ["10.1.1.1", "11.2.2.2"]}, False),
    ("ForAnyValue:ArnLike", "arn:aws:iam::*:role/*", {K: ["x", "arn:aws:iam::1:role/r"]}, True),
    ("ForAnyValue:Null", "true", {}, True),
]


@pytest.mark.parametrize("op, values, keys, expected", TABLE, ids=[f"{i}-{t[0]}" for i, t in enumerate(TABLE)])
def test_operator(op: str, values: Any, keys: dict[str, Any], expected: bool) -> None:
    assert c(op, K, values, keys) is expected


def test_key_names_are_case_insensitive() -> None:
    assert c("StringEquals", "AWS:PrincipalTag/Dept", "hr", {"aws:principaltag/dept": "hr"})
    assert c("StringEquals", "aws:principaltag/dept", "hr", {"AWS:PrincipalTag/DEPT": "hr"})
    assert not c("StringEquals", "aws:principaltag/dept", "HR", {"aws:PrincipalTag/Dept": "hr"})


def test_blocks_and_keys_are_anded() -> None:
    cond = {"StringEquals": {"a": "1", "b": "2"}, "Bool": {"c": "true"}}
    assert cond_decide(cond, {"a": "1", "b": "2", "c": "true"}) == A
    assert cond_decide(cond, {"a": "1", "b": "2", "c": "false"}) == D
    assert cond_decide(cond, {"a": "1", "c": "true"}) == D
    assert cond_decide({"StringEquals": {}}, {}) == A  # an operator with no keys is true
    assert cond_decide({"UnknownOp": {}}, {}) == A


@pytest.mark.parametrize("value, keys, expected", [
    ("${aws:username}", {"aws:username": "alice", K: "alice"}, True),
    ("${aws:username}", {"aws:username": "alice", K: "bob"}, False),
    ("${AWS:UserName}", {"aws:username": "alice", K: "alice"}, True),
    ("${aws:PrincipalTag/team, 'none'}", {K: "none"}, True),
    ("${aws:PrincipalTag/team,'none'}", {K: "none"}, True),
    ("${aws:PrincipalTag/team, 'none'}", {"aws:PrincipalTag/team": "red", K: "none"}, False),
    ("${aws:TagKeys, 'dflt'}", {"aws:TagKeys": ["a"], K: "dflt"}, True),  # CHOICE: multivalued => default
    ("${aws:TagKeys}", {"aws:TagKeys": ["a"], K: "a"}, False),
    ("pre-${aws:username}-post", {"aws:username": "x", K: "pre-x-post"}, True),
    ("${*}", {K: "*"}, True),
    ("${?}", {K: "?"}, True),
    ("${$}", {K: "$"}, True),
    ("$notvar", {K: "$notvar"}, True),
    ("${unterminated", {K: "${unterminated"}, True),
    ("${aws:missing}", {K: "${aws:missing}"}, False),  # no value: matches nothing
])
def test_variables_in_string_equals(value: str, keys: dict[str, Any], expected: bool) -> None:
    assert c("StringEquals", K, value, keys) is expected


def test_variables_in_like_are_literal() -> None:
    assert c("StringLike", K, "${aws:username}-*", {"aws:username": "a*", K: "a*-x"})
    assert not c("StringLike", K, "${aws:username}-*", {"aws:username": "a*", K: "abc-x"})
    assert not c("StringLike", K, "a${?}", {K: "ab"})
    assert c("StringLike", K, "a${?}", {K: "a?"})
    assert c("StringNotLike", K, "${aws:missing}", {K: "x"})  # negated with no value: true


def test_version_2008_has_no_variables() -> None:
    assert c("StringEquals", K, "${aws:username}", {K: "${aws:username}", "aws:username": "u"}, version="2008-10-17")
    assert not c("StringEquals", K, "${aws:username}", {K: "u", "aws:username": "u"}, version="2008-10-17")


def test_variables_in_bool_and_arn() -> None:
    assert c("Bool", K, "${ex:flag}", {"ex:flag": "true", K: "true"})
    assert c("ArnLike", K, "arn:aws:iam::${aws:PrincipalAccount}:role/*",
             {"aws:PrincipalAccount": "111122223333", K: "arn:aws:iam::111122223333:role/x"})
    # Numeric values never substitute
    assert not c("NumericEquals", K, "${ex:n}", {"ex:n": "5", K: "5"})


@pytest.mark.parametrize("name, base, set_op, if_exists", [
    ("StringEquals", "StringEquals", None, False),
    ("ForAllValues:StringLikeIfExists", "StringLike", "ForAllValues", True),
    ("ForAnyValue:Null", "Null", "ForAnyValue", False),
    ("NullIfExists", "Null", None, True),
])
def test_parse_operator(name: str, base: str, set_op: str | None, if_exists: bool) -> None:
    spec = parse_operator(name)
    assert spec is not None and (spec.base, spec.set_op, spec.if_exists) == (base, set_op, if_exists)


@pytest.mark.parametrize("name", ["stringequals", "ForAnyValue::StringEquals", "StringEqualsIfExistsIfExists",
                                  "IfExists", "ForAllValues:", "Foo"])
def test_unknown_operators(name: str) -> None:
    assert parse_operator(name) is None


@pytest.mark.parametrize("value, seconds", [
    ("1970-01-01T00:00:00Z", 0.0), ("1970-01-02", 86400.0), ("1970-01", 0.0), ("1971", 1971.0),
    ("1970-01-01T01:00:00+01:00", 0.0), ("1970-01-01T00:00:00-00:30", 1800.0), ("1970-01-01T00:01", 60.0),
    ("bad", None), ("2024-13-01", None), ("2024-02-30", None), ("", None),
])
def test_parse_date(value: str, seconds: float | None) -> None:
    assert parse_date(value) == seconds


@pytest.mark.parametrize("value, ok", [
    ("2024-01-01T00:00:00Z", True), ("01T", True), ("1700000000", True), ("234-13", False),
    ("9223372036854775808", False), ("sdfdsf", False), ("2024-01-01T25:00:00Z", False),
])
def test_legacy_date(value: str, ok: bool) -> None:
    assert legacy_date_ok(value) is ok
