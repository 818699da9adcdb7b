"""Property-based tests (hypothesis) and a bounded random-JSON fuzz of the parser.

Invariants: the parser never raises anything but ``MalformedPolicyDocument`` / ``LimitExceeded``,
whatever the input; a document it accepts always evaluates without error; glob matching agrees with
a reference implementation; action matching is case-insensitive.  The fuzz loop is bounded by
wall-clock time (``OPENSTS_FUZZ_SECONDS``, default 10 s) so CI stays fast.
"""

from __future__ import annotations

import json
import os
import random
import time
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opensts.policy import (
    LimitExceeded,
    MalformedPolicyDocument,
    PolicyKind,
    PolicySet,
    Principal,
    RequestContext,
    evaluate,
    parse_policy,
)
from opensts.policy.matching import ActionMatcher, ArnPattern, compile_glob
from opensts.policy.variables import tokenize

KINDS = list(PolicyKind)
ALICE = Principal.user("arn:aws:iam::111122223333:user/alice", "AIDAALICEEXAMPLE1")

GLOB_ALPHABET = "ab*?:/.+()[]|\\$^{}x"


def reference_glob(pattern: str, value: str) -> bool:
    """Straightforward recursive glob: the oracle for the regex compiler."""
    @cache
    def m(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        ch = pattern[i]
        if ch == "*":
            return m(i + 1, j) or (j < len(value) and m(i, j + 1))
        if j == len(value):
            return False
        return (ch == "?" or ch == value[j]) and m(i + 1, j + 1)
    return m(0, 0)


@settings(max_examples=400, deadline=None)
@given(st.text(GLOB_ALPHABET, max_size=8), st.text(GLOB_ALPHABET, max_size=10))
def test_glob_matches_reference(pattern: str, value: str) -> None:
    assert compile_glob(pattern).match(value) == reference_glob(pattern, value)


@settings(max_examples=200, deadline=None)
@given(st.text("abcXYZ:*?", min_size=1, max_size=10), st.text("abcXYZ:", max_size=10))
def test_action_matching_is_case_insensitive(pattern: str, action: str) -> None:
    m = ActionMatcher([pattern])
    expected = reference_glob(pattern.lower(), action.lower())
    assert m(action, action.lower()) == expected
    assert m(action.upper(), action.upper().lower()) == expected


SEG = st.text("ab*?-/", max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(SEG, min_size=6, max_size=6), st.lists(st.text("ab-/", max_size=4), min_size=6, max_size=6))
def test_arn_segments_match_independently(pattern_segs: list[str], value_segs: list[str]) -> None:
    pattern_segs[0], value_segs[0] = "arn", "arn"
    pattern = ":".join(pattern_segs)
    value = ":".join(value_segs)
    expected = all(reference_glob(p, v) for p, v in zip(pattern_segs, value_segs))
    got = ArnPattern(pattern, tokenize(pattern), resource_mode=True).matches(value, {})
    assert got == expected or pattern == "*"


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
KEYS = st.sampled_from(["Version", "Statement", "Id", "Sid", "Effect", "Action", "NotAction", "Resource",
                        "NotResource", "Principal", "NotPrincipal", "Condition", "AWS", "Service", "Federated",
                        "StringEquals", "ForAnyValue:StringLike", "NumericLessThan", "DateGreaterThan",
                        "Null", "IpAddress", "ArnLike", "BoolIfExists", "aws:SourceIp", "x"])
VALUES = st.one_of(JSON_SCALARS, st.sampled_from(["2012-10-17", "2008-10-17", "Allow", "Deny", "*",
                                                   "sts:AssumeRole", "s3:Get*", "arn:aws:s3:::b/*",
                                                   "111122223333", "10.0.0.0/8", "2024-01-01T00:00:00Z",
                                                   "${aws:username}", "arn:aws:iam::111122223333:root"]))
JSONISH = st.recursive(VALUES, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)), max_leaves=25)


def check_parse(text: str | bytes) -> None:
    for kind in KINDS:
        try:
            policy = parse_policy(text, kind)
        except (MalformedPolicyDocument, LimitExceeded):
            continue
        ps = PolicySet(trust=policy) if kind is PolicyKind.TRUST else PolicySet(
            resource=policy) if kind in (PolicyKind.RESOURCE, PolicyKind.RCP) else PolicySet(identity=(policy,))
        ctx = RequestContext("sts:AssumeRole", "arn:aws:iam::111122223333:role/T", ALICE,
                             {"aws:SourceIp": "10.1.2.3", "aws:username": "alice", "aws:TagKeys": ["a"]})
        assert evaluate(ps, ctx).decision in ("Allow", "ExplicitDeny", "ImplicitDeny")
        assert evaluate(ps, ctx, explain=True).trace is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_parser_on_structured_garbage(value: Any) -> None:
    check_parse(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parser_on_arbitrary_text(text: str) -> None:
    check_parse(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_parser_on_arbitrary_bytes(data: bytes) -> None:
    check_parse(data)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if depth > 5 or pick < 0.45:
        return rng.choice([None, True, False, rng.randint(-5, 10**12), rng.random(), "",
                           rng.choice(["Allow", "Deny", "*", "sts:AssumeRole", "2012-10-17", "arn:aws:s3:::b",
                                       "${aws:username}", "a:b:c", "111122223333", "1.2.3.4/33", "::/0"]),
                           "".join(rng.choice("ab:*?${}/ \t\u00e9\u2603") for _ in range(rng.randint(0, 8)))])
    if pick < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["Version", "Statement", "Effect", "Action", "NotAction", "Resource", "Principal", "Condition", "Sid",
            "StringEquals", "ForAllValues:StringNotLike", "DateLessThanIfExists", "AWS", "Service", "k"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _mutate(text: str, rng: random.Random) -> str:
    if not text or rng.random() < 0.5:
        return text
    i = rng.randrange(len(text))
    op = rng.random()
    if op < 0.33:
        return text[:i] + text[i + 1:]
    if op < 0.66:
        return text[:i] + rng.choice('{}[]",:\\ 0aZ*') + text[i:]
    return text[:i] + text[i:][::-1]


def test_random_json_fuzz_bounded() -> None:
    """No crash, no hang: random JSON (and mutated text) for a bounded time."""
    seconds = float(os.environ.get("OPENSTS_FUZZ_SECONDS", "10"))
    rng = random.Random(int(os.environ.get("OPENSTS_FUZZ_SEED", "20240501")))
    deadline = time.monotonic() + seconds
    runs = 0
    template = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                                        "Action": "sts:AssumeRole", "Resource": "*",
                                                        "Condition": {"StringLike": {"k": "v*"}}}]}
    while time.monotonic() < deadline:
        value = _random_json(rng)
        if rng.random() < 0.5:
            doc = json.loads(json.dumps(template))
            doc["Statement"][0][rng.choice(list(doc["Statement"][0]))] = value
            value = doc
        text = _mutate(json.dumps(value), rng)
        started = time.monotonic()
        check_parse(text)
        assert time.monotonic() - started < 2.0, f"slow input: {text[:200]!r}"
        runs += 1
    assert runs > 0


def test_deep_nesting_is_a_clean_error() -> None:
    for text in ("[" * 100000, '{"Statement":' * 50000, '{"a":' * 3000 + "1" + "}" * 3000):
        try:
            parse_policy(text, "identity")
        except MalformedPolicyDocument:
            pass
