"""Wildcard matching is exact and linear: property tests against a slow reference, and adversarial
patterns (many ``*``, many ``?``, ``*:*:*…``) at AWS's size limits through the public engine.

The reference is a plain dynamic program over (pattern token, value position) with no cleverness:
a token is a literal character, ``*`` or ``?``, each optionally confined to one ARN head segment
(unable to match ``:``).  The engine must agree with it on random patterns over a small alphabet
that includes ``*``, ``?`` and ``:``, for plain globs (StringLike), ARNs (Resource, ArnLike with
variables that substitute text holding ``:``, ``*`` or ``?``) and case-insensitive actions.
"""

from __future__ import annotations

import gc
import json
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.policy import PolicySet, Principal, RequestContext, evaluate, parse_policy
from opensts.policy.matching import ActionMatcher, ArnPattern, compile_glob
from opensts.policy.variables import Lit, Part, Var, parse_inner, tokenize

# --------------------------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------------------------

STAR, ONE = "STAR", "ONE"
#: (kind, char, confined): kind STAR/ONE/"LIT"; confined: cannot match ':' (ARN head segment)
Tok = tuple[str, str, bool]


def ref_match(tokens: list[Tok], value: str) -> bool:
    """dp[i][j]: tokens[i:] match value[j:].  O(len(tokens) × len(value)), obviously right."""
    n = len(value)
    nxt = [False] * n + [True]  # row for i = len(tokens)
    for kind, ch, confined in reversed(tokens):
        cur = [False] * (n + 1)
        for j in range(n, -1, -1):
            if kind == STAR:
                cur[j] = nxt[j] or (j < n and not (confined and value[j] == ":") and cur[j + 1])
            elif j < n:
                if kind == ONE:
                    cur[j] = not (confined and value[j] == ":") and nxt[j + 1]
                else:
                    cur[j] = ch == value[j] and nxt[j + 1]
        nxt = cur
    return nxt[0]


def glob_tokens(text: str, confined: bool = False) -> list[Tok]:
    return [(STAR, "", confined) if c == "*" else (ONE, "", confined) if c == "?" else ("LIT", c, confined)
            for c in text]


def literal_tokens(text: str) -> list[Tok]:
    return [("LIT", c, False) for c in text]


def ref_arn(parts: list[Part], keys: dict[str, str], resource_mode: bool) -> list[Tok] | None:
    """§2.3 as tokens: head segments confined, the first five ':' of policy text separate them,
    missing segments are '*', in a Resource the first segment is 'arn' and variables in the head
    stay literal.  None when a variable has no value."""
    segments: list[list[Tok]] = [[]]
    for p in parts:
        if isinstance(p, str):
            for c in p:
                if c == ":" and len(segments) < 6:
                    segments.append([])
                else:
                    segments[-1].extend(glob_tokens(c, confined=len(segments) < 6))
        elif isinstance(p, Lit):
            segments[-1].extend(literal_tokens(p.text))
        else:
            head = len(segments) < 6
            if resource_mode and head:
                segments[-1].extend(literal_tokens(p.text))
            elif p.key in keys:
                segments[-1].extend(literal_tokens(keys[p.key]))
            else:
                return None
    while len(segments) < 6:
        segments.append(glob_tokens("*", confined=len(segments) < 5))
    if resource_mode:
        segments[0] = literal_tokens("arn")
    out: list[Tok] = []
    for i, seg in enumerate(segments):
        out.extend(seg)
        if i < 5:
            out.append(("LIT", ":", False))
    return out


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

PATTERN_ALPHABET = "ab*?:/.+()[]|\\$^{}\n"
VALUE_ALPHABET = "ab:/.+()[]|\\$^{}\n"
patterns = st.text(PATTERN_ALPHABET, max_size=14)
values = st.text(VALUE_ALPHABET, max_size=16)


@settings(max_examples=1500, deadline=None)
@given(patterns, values)
def test_glob_agrees_with_reference(pattern: str, value: str) -> None:
    assert compile_glob(pattern).match(value) == ref_match(glob_tokens(pattern), value)


@settings(max_examples=500, deadline=None)
@given(st.text("ab*?", max_size=10), st.text("ab", max_size=12))
def test_glob_agrees_on_dense_wildcards(pattern: str, value: str) -> None:
    """Small alphabet: many near-misses for the leftmost search to get wrong."""
    assert compile_glob(pattern).match(value) == ref_match(glob_tokens(pattern), value)


ACTION_ALPHABET = "abAB:*?sS" + "\u017f\u212aKk\u0130i\u00df\u1e9e"  # ſ, Kelvin K, İ, ß, ẞ: lower() corners


def ref_action(action_patterns: list[str], action: str) -> bool:
    """Case-insensitive = both sides ``str.lower()``-ed (as for exact names), then globbed."""
    return any(ref_match(glob_tokens(p.lower()), action.lower()) for p in action_patterns)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(ACTION_ALPHABET, min_size=1, max_size=10), min_size=1, max_size=4),
       st.text(ACTION_ALPHABET.replace("*", "").replace("?", ""), max_size=12))
def test_action_matching_agrees_with_reference(action_patterns: list[str], action: str) -> None:
    m = ActionMatcher(action_patterns)
    for value in (action, action.swapcase(), action.upper()):
        expected = ref_action(action_patterns, value)
        assert m(value, value.lower()) == expected
        assert (m.which(value) is not None) == expected


ARN_TEXT = st.text("ab*?:/", max_size=8)
VAR_VALUE = st.text("ab*?:/", max_size=5)


@st.composite
def arn_parts(draw: Any) -> tuple[list[Part], dict[str, str]]:
    """Policy text with ':' anywhere, ``${*}``-style literals and variables (some unset)."""
    parts: list[Part] = []
    keys: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["text", "text", "text", "lit", "var"]))
        if kind == "text":
            parts.append(draw(ARN_TEXT))
        elif kind == "lit":
            parts.append(Lit(draw(st.sampled_from(["*", "?", "$"])), "${*}"))
        else:
            name = draw(st.sampled_from(["v1", "v2", "v3"]))
            parts.append(Var(name, None, "${" + name + "}"))
            if draw(st.booleans()):
                keys[name] = draw(VAR_VALUE)
    return [p for p in parts if p != ""] or ["a"], keys


def source(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.text if isinstance(p, Var) else p.source for p in parts)


@settings(max_examples=1500, deadline=None)
@given(arn_parts(), st.text("ab:/", max_size=16), st.booleans())
def test_arn_agrees_with_reference(drawn: tuple[list[Part], dict[str, str]], value: str, resource_mode: bool) -> None:
    parts, keys = drawn
    text = source(parts)
    got = ArnPattern(text, tuple(parts), resource_mode=resource_mode).matches(value, keys)
    tokens = ref_arn(parts, keys, resource_mode)
    expected = (resource_mode and text == "*") or (tokens is not None and ref_match(tokens, value))
    assert got == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text("ab*?:", max_size=6), min_size=6, max_size=6), st.text("ab:", max_size=20))
def test_arn_with_six_segments_agrees_with_reference(segs: list[str], value: str) -> None:
    """Values with any number of colons against full six-segment patterns."""
    text = ":".join(segs)
    got = ArnPattern(text, tokenize(text), resource_mode=False).matches(value, {})
    assert got == ref_match(ref_arn([text], {}, False) or [], value)


# --------------------------------------------------------------------------------------------
# Adversarial complexity, through the public engine
# --------------------------------------------------------------------------------------------

ACCT = "111122223333"
ALICE = Principal.user(f"arn:aws:iam::{ACCT}:user/alice", "AIDAALICEEXAMPLE1")
BOUND = 0.05  # seconds of this thread's CPU per evaluation: generous (a match takes well under 1 ms)


@contextmanager
def hard_stop(seconds: float = 5.0) -> Iterator[None]:
    """Fail instead of hanging if a regression brings back exponential backtracking (``re`` checks
    signals while it backtracks)."""
    def boom(signum: int, frame: Any) -> None:
        raise TimeoutError(f"match did not finish in {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def timed_decision(statement: dict[str, Any], action: str, resource: str, keys: dict[str, Any]) -> tuple[str, float]:
    text = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    policy = parse_policy(text, "identity", strict=False)
    ctx = RequestContext(action, resource, ALICE, keys)
    ps = PolicySet(identity=(policy,))
    gc.collect()
    gc.disable()  # a full collection of the test process's heap (thousands of tests in) is not the engine's cost
    try:
        with hard_stop():
            start = time.thread_time()
            decision = evaluate(ps, ctx).decision
            elapsed = time.thread_time() - start
    finally:
        gc.enable()
    return decision, elapsed


def stars(piece: str, k: int, tail: str = "b") -> str:
    """``*a*a…*a*b``: k stars — the textbook backtracking blow-up for a value of only ``a``s."""
    return f"*{piece}" * (k - 1) + f"*{tail}"


USER = f"arn:aws:iam::{ACCT}:user/"
LONG_NAME = "a" * (2048 - len(USER))  # a 2048-character ARN, AWS's resource ARN limit
LONG_ARN = USER + LONG_NAME
QMARKS = "?a" * 40
POLICY_MAX = 10240  # an inline role policy's quota: the longest single pattern a caller can store
HUGE = "*a" * ((POLICY_MAX - 200) // 2)  # ~5,000 stars


def cases() -> Iterator[tuple[str, dict[str, Any], str, str, dict[str, Any], str]]:
    """(id, statement, action, resource, keys, expected decision)."""
    for k in (10, 12, 20, 30):
        yield (f"resource-{k}-stars", {"Effect": "Allow", "Action": "iam:GetUser", "Resource": USER + stars("a", k)},
               "iam:GetUser", LONG_ARN, {}, "ImplicitDeny")
        yield (f"notresource-{k}-stars", {"Effect": "Allow", "Action": "iam:GetUser",
                                          "NotResource": USER + stars("a", k)},
               "iam:GetUser", LONG_ARN, {}, "Allow")
        yield (f"action-{k}-stars", {"Effect": "Allow", "Action": "iam:" + stars("a", k), "Resource": "*"},
               "iam:" + "A" * 120, LONG_ARN, {}, "ImplicitDeny")
        yield (f"notaction-{k}-stars", {"Effect": "Allow", "NotAction": ["iam:" + stars("a", k), "sts:" + stars("a", k)],
                                        "Resource": "*"},
               "iam:" + "a" * 120, LONG_ARN, {}, "Allow")
        yield (f"stringlike-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                         "Condition": {"StringLike": {"aws:username": stars("a", k)}}},
               "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "ImplicitDeny")
        yield (f"stringnotlike-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                            "Condition": {"StringNotLike": {"aws:username": stars("a", k)}}},
               "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "Allow")
        yield (f"stringlike-variable-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                                  "Condition": {"StringLike": {
                                                      "aws:PrincipalTag/team": "${aws:username}" + stars("a", k)}}},
               "iam:GetUser", LONG_ARN, {"aws:username": "a", "aws:principaltag/team": LONG_NAME}, "ImplicitDeny")
        yield (f"resource-variable-{k}-stars", {"Effect": "Allow", "Action": "*",
                                                "Resource": USER + "${aws:username}" + stars("a", k)},
               "iam:GetUser", LONG_ARN, {"aws:username": "a"}, "ImplicitDeny")
        yield (f"foranyvalue-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                          "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": stars("a", k)}}},
               "iam:TagUser", LONG_ARN, {"aws:tagkeys": tuple("a" * 127 + c for c in "cdefghijklmnopqrstuvwxyz" * 2)},
               "ImplicitDeny")
        yield (f"forallvalues-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                           "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": stars("a", k)}}},
               "iam:TagUser", LONG_ARN, {"aws:tagkeys": tuple("a" * 127 + c for c in "cdefghijklmnopqrstuvwxyz" * 2)},
               "ImplicitDeny")
        yield (f"arnlike-resource-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                               "Condition": {"ArnLike": {"aws:SourceArn": USER + stars("a", k)}}},
               "iam:GetUser", LONG_ARN, {"aws:sourcearn": LONG_ARN}, "ImplicitDeny")
        yield (f"arnnotlike-head-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                              "Condition": {"ArnNotLike": {
                                                  "aws:SourceArn": "arn:aws:" + stars("a", k) + ":*:*:*"}}},
               "iam:GetUser", LONG_ARN, {"aws:sourcearn": "arn:aws:" + "a" * 1900 + ":x:y:z"}, "Allow")
        yield (f"arnlike-colons-{k}-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                             "Condition": {"ArnLike": {"aws:SourceArn": "*:" * k + "b"}}},
               "iam:GetUser", LONG_ARN, {"aws:sourcearn": ":" * 2047 + "a"}, "ImplicitDeny")
    yield ("resource-question-marks", {"Effect": "Allow", "Action": "*", "Resource": USER + "*" + QMARKS + "*" + QMARKS + "b"},
           "iam:GetUser", LONG_ARN, {}, "ImplicitDeny")
    yield ("stringlike-question-marks", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                         "Condition": {"StringLike": {"aws:username": ("*" + QMARKS) * 20 + "*b"}}},
           "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "ImplicitDeny")
    yield ("action-question-marks", {"Effect": "Allow", "Action": "iam:" + ("*" + "?" * 10) * 10 + "*b", "Resource": "*"},
           "iam:" + "a" * 120, LONG_ARN, {}, "ImplicitDeny")
    yield ("resource-policy-sized", {"Effect": "Allow", "Action": "*", "Resource": USER + HUGE + "*b"},
           "iam:GetUser", LONG_ARN, {}, "ImplicitDeny")
    yield ("stringlike-policy-sized", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                       "Condition": {"StringLike": {"aws:username": HUGE + "*b"}}},
           "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "ImplicitDeny")
    yield ("stringlike-long-near-miss-piece", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                               "Condition": {"StringLike": {"aws:username": "*" + "a" * 1000 + "b*" + "?" * 5}}},
           "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "ImplicitDeny")
    yield ("stringlike-long-near-miss-qmark-piece", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                                     "Condition": {"StringLike": {"aws:username": "*" + "a?" * 500 + "b*"}}},
           "iam:GetUser", LONG_ARN, {"aws:username": LONG_NAME}, "ImplicitDeny")
    yield ("resource-many-stars-match", {"Effect": "Allow", "Action": "*", "Resource": USER + stars("a", 30, tail="a")},
           "iam:GetUser", LONG_ARN, {}, "Allow")
    yield ("arnlike-head-segments-all-stars", {"Effect": "Allow", "Action": "*", "Resource": "*",
                                               "Condition": {"ArnLike": {"aws:SourceArn": "arn:*a*a*a*a*b:*a*a*b:*:*:*"}}},
           "iam:GetUser", LONG_ARN, {"aws:sourcearn": "arn:" + "a" * 1000 + ":" + "a" * 1000 + ":x:y:z"}, "ImplicitDeny")


CASES = list(cases())


@pytest.mark.parametrize("statement, action, resource, keys, expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_adversarial_patterns_are_fast(statement: dict[str, Any], action: str, resource: str,
                                       keys: dict[str, Any], expected: str) -> None:
    decision, elapsed = timed_decision(statement, action, resource, keys)
    assert decision == expected
    assert elapsed < BOUND, f"{elapsed * 1000:.1f} ms"


def test_policy_sized_pattern_costs_no_more_than_its_length() -> None:
    """The O(len(value) × len(pattern)) bound with a small constant, at its worst: a piece that
    almost matches at every position of the longest value."""
    pattern = "*" + "a" * 1023 + "b*"
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:username": [pattern] * 9}}}]})
    assert len(text) < POLICY_MAX
    decision, elapsed = timed_decision(json.loads(text)["Statement"][0], "iam:GetUser", LONG_ARN,
                                       {"aws:username": LONG_NAME})
    assert decision == "ImplicitDeny" and elapsed < BOUND


# --------------------------------------------------------------------------------------------
# Policy variables: ${name, 'default'} parsed in linear time
# --------------------------------------------------------------------------------------------

#: The regex the parser replaced (quadratic on long whitespace runs): the oracle on short input.
OLD_INNER = re.compile(r"^\s*([^,']+?)\s*(?:,\s*'([^']*)'\s*)?$")


@settings(max_examples=2000, deadline=None)
@given(st.text(" \t\n\x0b\x0c\x1c\u2003\u00a0,'ab:/", max_size=14))
def test_variable_syntax_agrees_with_the_regex(inner: str) -> None:
    m = OLD_INNER.match(inner)
    assert parse_inner(inner) == (None if m is None else (m.group(1), m.group(2)))


@pytest.mark.parametrize("inner", [
    "a" + " " * 100_000 + "'",              # lazy name against trailing whitespace
    " " * 100_000 + "'",
    "aws:username," + " " * 100_000 + "'x",  # unterminated default
    "aws:username, '" + "x" * 100_000,
])
def test_variable_syntax_is_linear(inner: str) -> None:
    """IAM does not count whitespace toward policy quotas, so such text fits in a stored policy."""
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${" + inner + "}"}]})
    with hard_stop():
        start = time.thread_time()
        assert tokenize("${" + inner + "}") == ("${" + inner + "}",)
        parse_policy(text, "identity", strict=False)
        assert time.thread_time() - start < 0.5


@st.composite
def like_pattern(draw: Any) -> tuple[str, list[Part], dict[str, str]]:
    """A StringLike value as policy text (with ``${v}`` variables and ``${*}``/``${?}`` escapes)."""
    text: list[str] = []
    parts: list[Part] = []
    keys: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["text", "text", "lit", "var"]))
        if kind == "text":
            chunk = draw(st.text("ab*?:", min_size=1, max_size=6))
            text.append(chunk)
            parts.append(chunk)
        elif kind == "lit":
            ch = draw(st.sampled_from("*?"))
            text.append("${" + ch + "}")
            parts.append(Lit(ch, "${" + ch + "}"))
        else:
            name = draw(st.sampled_from(["v1", "v2"]))
            text.append("${" + name + "}")
            parts.append(Var(name, None, "${" + name + "}"))
            if draw(st.booleans()):
                keys[name] = draw(st.text("ab*?:", max_size=4))
    return "".join(text), parts, keys


def ref_like(parts: list[Part], keys: dict[str, str], value: str) -> bool:
    tokens: list[Tok] = []
    for p in parts:
        if isinstance(p, str):
            tokens.extend(glob_tokens(p))
        elif isinstance(p, Lit):
            tokens.extend(literal_tokens(p.text))
        elif p.key in keys:
            tokens.extend(literal_tokens(keys[p.key]))
        else:
            return False  # unresolvable: the value matches nothing
    return ref_match(tokens, value)


@settings(max_examples=800, deadline=None)
@given(st.lists(like_pattern(), min_size=1, max_size=3), st.lists(st.text("ab*?:", max_size=10), max_size=4),
       st.sampled_from(["StringLike", "StringNotLike", "ForAnyValue:StringLike", "ForAllValues:StringLike",
                        "ForAnyValue:StringNotLike"]))
def test_string_like_through_the_engine_agrees_with_reference(
        patterns_drawn: list[tuple[str, list[Part], dict[str, str]]], request_values: list[str], operator: str) -> None:
    """Conditions as evaluated: variables, escapes, negation and set operators over multi-valued keys."""
    keys: dict[str, Any] = {}
    for _, _, k in patterns_drawn:
        keys.update(k)
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*",
                 "Condition": {operator: {"x:k": [text for text, _, _ in patterns_drawn]}}}
    single = not operator.startswith("For")
    value: Any = request_values[0] if single and request_values else tuple(request_values)
    if single and not request_values:
        return
    ctx_keys = {**keys, "x:k": value}
    decision, _ = timed_decision(statement, "iam:GetUser", LONG_ARN, ctx_keys)

    def one(v: str) -> bool:
        hit = any(ref_like(parts, {**keys}, v) for _, parts, _ in patterns_drawn)
        return not hit if "NotLike" in operator else hit
    if single:
        expected = one(value)
    elif operator.startswith("ForAllValues"):
        expected = all(one(v) for v in value)
    else:
        expected = bool(value) and any(one(v) for v in value)
    assert decision == ("Allow" if expected else "ImplicitDeny")
