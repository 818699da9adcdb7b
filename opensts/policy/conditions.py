"""Condition operators, compiled to closures.

``Condition`` semantics (``policy.md`` §3, [UG reference_policies_elements_condition_operators],
[UG reference_policies_condition-logic-multiple-context-keys-or-values]):

* blocks (operators) AND, keys within a block AND, values within a key OR for positive operators
  and **NOR** for negated ones (``StringNotEquals [a, b]`` ⇔ equals neither);
* key absent: positive ⇒ false, negated ⇒ true, any ``…IfExists`` ⇒ true;
* a list (multivalued) context value with a plain operator ⇒ false (use a set operator);
* ``ForAllValues:`` — true for an absent/empty key, else every request value satisfies the base
  operator (negation applied per value); ``ForAnyValue:`` — false for absent/empty (true with
  ``IfExists``), else some request value satisfies it;
* an unparseable *context* value (number, date, IP, ARN, bool, base64) never matches, and makes a
  negated operator false as well; an unparseable *policy* value simply never matches.

Each compiled :class:`Condition` exposes ``test(keys) -> bool`` where ``keys`` is the request's
lower-cased key dict.  ``describe`` is used only by explain traces.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import ipaddress
import operator as _op
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from opensts.policy import choices
from opensts.policy.matching import ArnPattern, compile_tokens, resolve_tokens
from opensts.policy.variables import Part, has_variables, resolve, tokenize

__all__ = ["Condition", "OperatorSpec", "parse_operator", "compile_condition", "BASE_OPERATORS",
           "parse_date", "legacy_date_ok"]

STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike"}
_CMP = {"Equals": _op.eq, "NotEquals": _op.eq, "LessThan": _op.lt, "LessThanEquals": _op.le,
        "GreaterThan": _op.gt, "GreaterThanEquals": _op.ge}
NUMERIC_OPS = {f"Numeric{k}" for k in _CMP}
DATE_OPS = {f"Date{k}" for k in _CMP}
ARN_OPS = {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
BASE_OPERATORS = frozenset(STRING_OPS | NUMERIC_OPS | DATE_OPS | ARN_OPS
                           | {"Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null"})
NEGATED = frozenset({"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals",
                     "DateNotEquals", "NotIpAddress", "ArnNotEquals", "ArnNotLike"})
#: Operators whose values take policy variables (§3.6).
VARIABLE_OPS = frozenset(STRING_OPS | ARN_OPS | {"Bool"})

ALL, ANY = "ForAllValues", "ForAnyValue"


class OperatorSpec:
    """A parsed operator name: ``[ForAllValues:|ForAnyValue:] BASE [IfExists]``."""

    __slots__ = ("name", "base", "set_op", "if_exists")

    def __init__(self, name: str, base: str, set_op: str | None, if_exists: bool) -> None:
        self.name, self.base, self.set_op, self.if_exists = name, base, set_op, if_exists

    @property
    def negated(self) -> bool:
        return self.base in NEGATED


def parse_operator(name: str) -> OperatorSpec | None:
    """Parse an operator name (case-sensitive); None when unknown."""
    rest, set_op = name, None
    for prefix in (ALL, ANY):
        if rest.startswith(prefix + ":"):
            rest, set_op = rest[len(prefix) + 1:], prefix
            break
    if_exists = False
    if rest not in BASE_OPERATORS and rest.endswith("IfExists"):
        rest, if_exists = rest[: -len("IfExists")], True
    if rest not in BASE_OPERATORS:
        return None
    return OperatorSpec(name, rest, set_op, if_exists)


# ------------------------------------------------------------------------------------------------
# Value parsers
# ------------------------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|z|[+-]\d{2}:\d{2})?)?)?)?\Z",
    re.ASCII,
)
_DIGITS = re.compile(r"^\d+(?:\.\d+)?\Z", re.ASCII)


def parse_date(value: object) -> float | None:
    """Seconds since the epoch (UTC) for an ISO-8601 W3C profile or an all-digit epoch value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    if _DIGITS.match(value):
        try:
            return float(value)
        except (ValueError, OverflowError):
            return None
    m = _ISO.match(value)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        dt = _dt.datetime(int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0), int(ss or 0),
                          tzinfo=_dt.UTC)
    except ValueError:
        return None
    seconds = dt.timestamp() + (float("0." + frac) if frac else 0.0)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        seconds -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return seconds


def legacy_date_ok(value: str) -> bool:
    """IAM's save-time ("legacy") check on Date values; False ⇒ ``The policy failed legacy parsing``.

    Mirrors the permissive parser moto's IAM test table documents (``"01T"`` passes, ``"234-13"``,
    ``"sdfdsf"`` and ``"9223372036854775808"`` fail).
    """
    if not value.isascii() or "_" in value or any(ch.isspace() for ch in value):
        return False  # int() would take Unicode digits, '1_0' and padding: IAM's parser takes none
    try:
        low = value.lower()
        if "t" not in low and "-" not in low:
            return 0 <= int(value) <= 9223372036854775807
        date_part, _, time_part = low.partition("t")
        negative = date_part.startswith("-")
        pieces = (date_part[1:] if negative else date_part).split("-")
        year = int(("-" if negative else "") + pieces[0])
        ok = -292275054 <= year <= 292278993 and len(pieces) < 4
        if len(pieces) > 1:
            ok = ok and 1 <= int(pieces[1]) <= 12
        if len(pieces) > 2:
            ok = ok and 1 <= int(pieces[2]) <= 31
        tparts = time_part.split(":")
        if tparts[0] != "":
            ok = ok and 0 <= int(tparts[0]) <= 23
        if len(tparts) > 1:
            ok = ok and 0 <= int(tparts[1]) <= 59
        if len(tparts) > 2:
            sec = tparts[2]
            if "z" in sec:
                sec, _, after = sec.partition("z")
                ok = ok and after == ""
            elif "+" in sec:
                sec, _, zone = sec.partition("+")
                zh, colon, zm = zone.partition(":")
                ok = ok and len(zh) == 2 and 0 <= int(zh) <= 23
                if colon:
                    ok = ok and len(zm) == 2 and 0 <= int(zm) <= 59
            whole, dot, fraction = sec.partition(".")
            ok = ok and 0 <= int(whole) <= 59
            if dot:
                ok = ok and 0 <= int(fraction) <= 999999999
        return ok
    except (ValueError, IndexError):
        return False


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        return None
    try:
        d = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _as_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ------------------------------------------------------------------------------------------------
# Compiled conditions
# ------------------------------------------------------------------------------------------------

#: match(x, keys) -> True/False (any policy value matches x) or None (x unparseable)
Matcher = Callable[[Any, Mapping[str, Any]], "bool | None"]


class Condition:
    """One (operator, key, values) triple of a Condition block."""

    __slots__ = ("operator", "key", "key_l", "values", "spec", "test", "_match")

    def __init__(self, spec: OperatorSpec, key: str, values: Sequence[object], match: Matcher) -> None:
        self.spec = spec
        self.operator = spec.name
        self.key = key
        self.key_l = key.lower()
        self.values = tuple(_as_text(v) for v in values)
        self._match = match
        self.test: Callable[[Mapping[str, Any]], bool] = self._build()

    def _build(self) -> Callable[[Mapping[str, Any]], bool]:
        key_l, match, spec = self.key_l, self._match, self.spec
        negated, if_exists, set_op = spec.negated, spec.if_exists, spec.set_op
        empty_absent = choices.EMPTY_LIST_IS_ABSENT

        if spec.base == "Null":
            wants = {v.lower() for v in self.values}
            want_absent, want_present = "true" in wants, "false" in wants

            def null_test(keys: Mapping[str, Any]) -> bool:
                v = keys.get(key_l)
                absent = v is None or v == ()
                return want_absent if absent else want_present
            return null_test

        def one(x: Any, keys: Mapping[str, Any]) -> bool:
            r = match(x, keys)
            if r is None:
                return False
            return not r if negated else r

        if set_op is None:
            if not negated and not if_exists and isinstance(match, _StaticEquals):
                members = match.members

                def fast_equals(keys: Mapping[str, Any]) -> bool:
                    return keys.get(key_l) in members  # tuples/bytes/None are never members
                return fast_equals

            absent_result = if_exists or negated

            if negated:
                def plain_negated(keys: Mapping[str, Any]) -> bool:
                    v = keys.get(key_l)
                    if v is None or (empty_absent and v == ()):
                        return absent_result
                    if v.__class__ is tuple:
                        return False
                    return match(v, keys) is False
                return plain_negated

            def plain(keys: Mapping[str, Any]) -> bool:
                v = keys.get(key_l)
                if v is None or (empty_absent and v == ()):
                    return absent_result
                if v.__class__ is tuple:
                    return False
                return match(v, keys) is True
            return plain

        every = set_op == ALL

        def quantified(keys: Mapping[str, Any]) -> bool:
            v = keys.get(key_l)
            if v is None or v == ():
                return every or if_exists
            if isinstance(v, tuple):
                if every:
                    return all(one(x, keys) for x in v)
                return any(one(x, keys) for x in v)
            return one(v, keys)
        return quantified

    def context_value(self, keys: Mapping[str, Any]) -> Any:
        return keys.get(self.key_l)

    def __repr__(self) -> str:
        return f"Condition({self.operator!r}, {self.key!r}, {list(self.values)!r})"


class _StaticEquals:
    """StringEquals without variables: a frozenset membership test (the hot path)."""

    __slots__ = ("members",)

    def __init__(self, members: frozenset[str]) -> None:
        self.members = members

    def __call__(self, x: Any, keys: Mapping[str, Any]) -> bool | None:
        if not isinstance(x, str):
            return None
        return x in self.members


def _string_matcher(base: str, templates: list[tuple[Part, ...]]) -> Matcher:
    if base in ("StringLike", "StringNotLike"):
        return _like_matcher(templates)
    ignore_case = base.endswith("IgnoreCase")
    if not any(has_variables(t) for t in templates):
        texts = [resolve(t, {}) or "" for t in templates]
        if ignore_case:
            lowered = frozenset(t.lower() for t in texts)

            def ieq_static(x: Any, keys: Mapping[str, Any]) -> bool | None:
                return x.lower() in lowered if isinstance(x, str) else None
            return ieq_static
        return _StaticEquals(frozenset(texts))

    def dynamic_equals(x: Any, keys: Mapping[str, Any]) -> bool | None:
        if not isinstance(x, str):
            return None
        for t in templates:
            text = resolve(t, keys)
            if text is not None and ((x.lower() == text.lower()) if ignore_case else (x == text)):
                return True
        return False
    return dynamic_equals


def _like_matcher(templates: list[tuple[Part, ...]]) -> Matcher:
    """StringLike/StringNotLike: the matching module's linear-time globs, never a regex.

    Policy text keeps its wildcards; ``${*}``-style escapes and substituted values are literal.
    Without variables the globs are compiled once; with them, once per distinct resolved text.
    """
    if not any(has_variables(t) for t in templates):
        globs = tuple(compile_tokens(resolve_tokens(t, {}) or ()) for t in templates)

        def like_static(x: Any, keys: Mapping[str, Any]) -> bool | None:
            if not isinstance(x, str):
                return None
            for g in globs:
                if g.match(x):
                    return True
            return False
        return like_static

    def like_dynamic(x: Any, keys: Mapping[str, Any]) -> bool | None:
        if not isinstance(x, str):
            return None
        for t in templates:
            tokens = resolve_tokens(t, keys)
            if tokens is not None and compile_tokens(tokens).match(x):
                return True
        return False
    return like_dynamic


def _ordered_matcher(parse: Callable[[object], Any], cmp: Callable[[Any, Any], bool],
                     raw: Sequence[object]) -> Matcher:
    policy_vals = [p for p in (parse(v) for v in raw) if p is not None]

    def ordered(x: Any, keys: Mapping[str, Any]) -> bool | None:
        cv = parse(x)
        if cv is None:
            return None
        return any(cmp(cv, pv) for pv in policy_vals)
    return ordered


def _b64(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _ip_matcher(raw: Sequence[object]) -> Matcher:
    nets = []
    for v in raw:
        try:
            nets.append(ipaddress.ip_network(str(v).strip(), strict=False))
        except ValueError:
            continue

    def ip(x: Any, keys: Mapping[str, Any]) -> bool | None:
        if not isinstance(x, str):
            return None
        try:
            addr = ipaddress.ip_address(x.strip())
        except ValueError:
            return None
        return any(addr.version == n.version and addr in n for n in nets)
    return ip


def compile_condition(op_name: str, key: str, raw_values: object, *, substitute: bool) -> Condition | None:
    """Compile one condition entry; None for an unknown operator (validated documents only)."""
    spec = parse_operator(op_name)
    if spec is None:
        return None
    values = list(raw_values) if isinstance(raw_values, list) else [raw_values]
    base = spec.base
    subst = substitute and base in VARIABLE_OPS
    match: Matcher
    if base in STRING_OPS:
        match = _string_matcher(base, [tokenize(_as_text(v), subst) for v in values])
    elif base in NUMERIC_OPS:
        match = _ordered_matcher(_decimal, _CMP[base[len("Numeric"):]], values)
    elif base in DATE_OPS:
        match = _ordered_matcher(parse_date, _CMP[base[len("Date"):]], values)
    elif base == "Bool":
        templates = [tokenize(_as_text(v), subst) for v in values]
        if not any(has_variables(t) for t in templates):
            wanted = frozenset((resolve(t, {}) or "").lower() for t in templates)

            def bool_static(x: Any, keys: Mapping[str, Any]) -> bool | None:
                if not isinstance(x, str):
                    return None
                xl = x.lower()
                if xl != "true" and xl != "false":
                    return None
                return xl in wanted
            match = bool_static
            return Condition(spec, key, values, match)

        def boolean(x: Any, keys: Mapping[str, Any]) -> bool | None:
            if not isinstance(x, str) or x.lower() not in ("true", "false"):
                return None
            xl = x.lower()
            return any((r := resolve(t, keys)) is not None and r.lower() == xl for t in templates)
        match = boolean
    elif base == "BinaryEquals":
        wanted = [b for b in (_b64(_as_text(v)) for v in values) if b is not None]

        def binary(x: Any, keys: Mapping[str, Any]) -> bool | None:
            got = _b64(x)
            return None if got is None else got in wanted
        match = binary
    elif base in ("IpAddress", "NotIpAddress"):
        match = _ip_matcher(values)
    elif base in ARN_OPS:
        patterns = [ArnPattern(_as_text(v), tokenize(_as_text(v), subst), resource_mode=False)
                    for v in values]

        def arn(x: Any, keys: Mapping[str, Any]) -> bool | None:
            if not isinstance(x, str) or x.count(":") < 5:
                return None
            return any(p.matches(x, keys) for p in patterns)
        match = arn
    else:  # Null
        def never(x: Any, keys: Mapping[str, Any]) -> bool | None:
            return False
        match = never
    return Condition(spec, key, values, match)
