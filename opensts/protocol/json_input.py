"""Decode and validate JSON-protocol request bodies against a botocore service model
(Organizations, CloudTrail, Account).

``decode_json`` is the one strict decoder: UTF-8 only, no ``NaN``/``Infinity``, no lone surrogates
(JSON's ``\\ud800`` escapes decode to text no UTF-8 encoder, database or audit record accepts), nesting
at most ``MAX_DEPTH`` deep. Like ``inputs.py`` for awsQuery, every input shape is then compiled once
into a checker that checks each member's type exactly (a string is a ``str``, an integer a non-bool
``int`` within the model's bounds and its Java type's range, a timestamp a finite epoch number within
year 1–9999 …) and returns the input with only its modelled members: what the handlers and the audit
record see is what the model describes, nothing a client smuggled beside it.

A violation is a ``JsonInputError`` whose ``reason`` names the rule (``INPUT_REQUIRED``,
``INVALID_PATTERN``, ``INVALID_SYNTAX`` for a wrong type …) and whose ``member`` is the path;
Organizations reports it as is (``InvalidInputException`` with that ``Reason``), the other APIs map
it onto their own errors (``is_type_error`` → ``SerializationException``).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Callable
from typing import Any

from opensts.protocol.errors import ServiceError
from opensts.protocol.javaregex import compile_pattern
from opensts.protocol.numbers import parse_ascii_int

__all__ = ["JsonInputError", "JsonInputModel", "SerializationError", "load_json_model", "json_body", "decode_json",
           "offset_token", "has_surrogate", "MAX_DEPTH"]

#: Deepest nesting a request body may have; the deepest shape any served model uses is 4.
MAX_DEPTH = 32
#: Java's ranges for the model's integer types (AWS's servers are Java: larger values do not parse).
_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
#: Epoch seconds of 0001-01-01 and 9999-12-31T23:59:59: what a timestamp can name.
_TIME_RANGE = (-62135596800, 253402300799)
_SURROGATE = re.compile("[\ud800-\udfff]")

#: Organizations' documented message per InvalidInputException reason.
_MESSAGES = {
    "INPUT_REQUIRED": "You must include a value for all required parameters.",
    "INVALID_ENUM": "You specified an invalid value.",
    "INVALID_PATTERN": "You provided a value that does not match the required pattern.",
    "MAX_LENGTH_EXCEEDED": "You provided a string parameter that is longer than allowed.",
    "MIN_LENGTH_EXCEEDED": "You provided a string parameter that is shorter than allowed.",
    "MAX_VALUE_EXCEEDED": "You provided a numeric parameter that has a larger value than allowed.",
    "MIN_VALUE_EXCEEDED": "You provided a numeric parameter that has a smaller value than allowed.",
    "INVALID_SYNTAX": "You provided a value of the wrong type.",
}

Checker = Callable[[Any, str], Any]


class SerializationError(ServiceError):
    code = "SerializationException"
    status = 400


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone UTF-16 surrogate (not encodable as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def decode_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Strictly decoded JSON; ``ValueError`` for anything AWS's parsers would not read: invalid
    UTF-8, ``NaN``/``Infinity``, integers of more than 4300 digits, lone surrogates (in keys too)
    and nesting deeper than ``max_depth`` (checked without recursion, so any depth is an answer).
    A number literal too large for a double (``1e999``) is JSON and decodes to infinity, as in
    Java; the model checkers refuse it wherever a number is modelled."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    _check_tree(value, max_depth)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_tree(value: Any, max_depth: int) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise ValueError("lone surrogate")
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise ValueError("nested too deeply")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def json_body(raw: bytes) -> Any:
    """A JSON-protocol request body, parsed: ``{}`` when empty, SerializationException (400) when it
    is not strict JSON (``decode_json``). Callers check its type (each API words that refusal its
    own way)."""
    if not raw.strip():
        return {}
    try:
        return decode_json(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise SerializationError("The request body is not valid JSON.") from exc


class JsonInputError(ServiceError):
    """Organizations' InvalidInputException (HTTP 400) with its ``Reason``; ``member`` is the
    path of the offending member (``Tags[0].Key``), for the APIs that map it onto their own
    errors."""

    code = "InvalidInputException"
    status = 400

    def __init__(self, reason: str, member: str) -> None:
        super().__init__(f"{_MESSAGES[reason]} ({member})")
        self.reason, self.member = reason, member

    @property
    def is_type_error(self) -> bool:
        """A value of the wrong JSON type (or out of its type's range): what AWS's JSON services
        answer with ``SerializationException`` rather than a validation error."""
        return self.reason == "INVALID_SYNTAX"

    @property
    def top_member(self) -> str:
        """The request member the error is in (``LookupAttributes`` for ``LookupAttributes[0].…``)."""
        return re.split(r"[.\[]", self.member, maxsplit=1)[0]


class JsonInputModel:
    """Per-operation checkers compiled from a botocore ``service-2.json``."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.metadata = model["metadata"]
        self._shapes = model["shapes"]
        self._cache: dict[str, Checker] = {}
        self.operations = {
            name: self._checker(op["input"]["shape"]) if "input" in op else None
            for name, op in model["operations"].items()
        }
        self._inputs = {name: op["input"]["shape"] for name, op in model["operations"].items() if "input" in op}

    def members(self, operation: str) -> frozenset[str]:
        """The top-level members the model gives ``operation``'s input."""
        shape = self._inputs.get(operation)
        return frozenset(self._shapes[shape].get("members", {})) if shape else frozenset()

    def validate(self, operation: str, body: Any) -> dict[str, Any]:
        """``body`` checked against the operation's input shape; returns it with only its modelled
        members (and no ``null`` ones), raises ``JsonInputError`` on the first violation."""
        checker = self.operations[operation]
        if checker is None:
            if not isinstance(body, dict):
                raise JsonInputError("INVALID_SYNTAX", "body")
            return {}
        return checker(body, "")  # type: ignore[no-any-return]

    def _checker(self, shape_name: str) -> Checker:
        if shape_name not in self._cache:
            self._cache[shape_name] = lambda value, path: self._cache[shape_name + "!"](value, path)
            self._cache[shape_name + "!"] = self._build(self._shapes[shape_name])
        return self._cache[shape_name]

    def _build(self, shape: dict[str, Any]) -> Checker:
        kind = shape["type"]
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind in ("string", "blob"):
            return _string(shape)
        if kind in _RANGES:
            return _integer(shape, *_RANGES[kind])
        if kind in ("float", "double"):
            return _number(shape, -math.inf, math.inf)
        if kind == "timestamp":
            return _number(shape, *_TIME_RANGE)
        if kind == "boolean":
            return _boolean
        raise ValueError(f"shape type {kind} is not modelled")  # at compile time, never per request

    def _structure(self, shape: dict[str, Any]) -> Checker:
        members = {name: self._checker(ref["shape"]) for name, ref in shape.get("members", {}).items()}
        required = tuple(shape.get("required", ()))

        def check(value: Any, path: str) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise JsonInputError("INVALID_SYNTAX", path.rstrip(".") or "body")
            for name in required:
                if value.get(name) is None:
                    raise JsonInputError("INPUT_REQUIRED", path + name)
            return {name: member(value[name], path + name) for name, member in members.items()
                    if value.get(name) is not None}

        return check

    def _list(self, shape: dict[str, Any]) -> Checker:
        item_check = self._checker(shape["member"]["shape"])
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: str) -> list[Any]:
            if not isinstance(value, list):
                raise JsonInputError("INVALID_SYNTAX", path)
            if low is not None and len(value) < low:
                raise JsonInputError("MIN_LENGTH_EXCEEDED", path)
            if high is not None and len(value) > high:
                raise JsonInputError("MAX_LENGTH_EXCEEDED", path)
            return [item_check(item, f"{path}[{i}].") for i, item in enumerate(value)]

        return check

    def _map(self, shape: dict[str, Any]) -> Checker:
        key_check = self._checker(shape["key"]["shape"])
        value_check = self._checker(shape["value"]["shape"])

        def check(value: Any, path: str) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise JsonInputError("INVALID_SYNTAX", path)
            return {key_check(k, path): value_check(v, f"{path}.{k}") for k, v in value.items()}

        return check


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise JsonInputError("INVALID_SYNTAX", path.rstrip("."))
    return value


def _string(shape: dict[str, Any]) -> Checker:
    low, high = shape.get("min"), shape.get("max")
    enum = frozenset(shape["enum"]) if "enum" in shape else None
    match = compile_pattern(shape["pattern"]) if "pattern" in shape else None

    def check(value: Any, path: str) -> str:
        path = path.rstrip(".")
        if not isinstance(value, str) or has_surrogate(value):
            raise JsonInputError("INVALID_SYNTAX", path)
        if low is not None and len(value) < low:
            raise JsonInputError("MIN_LENGTH_EXCEEDED", path)
        if high is not None and len(value) > high:
            raise JsonInputError("MAX_LENGTH_EXCEEDED", path)
        if enum is not None and value not in enum:
            raise JsonInputError("INVALID_ENUM", path)
        if match is not None and not match(value):
            raise JsonInputError("INVALID_PATTERN", path)
        return value

    return check


def _integer(shape: dict[str, Any], lowest: int, highest: int) -> Checker:
    """A JSON integer (never a bool, never ``5.0``) within the Java type's range, then the model's."""
    low, high = shape.get("min"), shape.get("max")

    def check(value: Any, path: str) -> int:
        path = path.rstrip(".")
        if type(value) is not int or not lowest <= value <= highest:
            raise JsonInputError("INVALID_SYNTAX", path)
        if low is not None and value < low:
            raise JsonInputError("MIN_VALUE_EXCEEDED", path)
        if high is not None and value > high:
            raise JsonInputError("MAX_VALUE_EXCEEDED", path)
        return value

    return check


def _number(shape: dict[str, Any], lowest: float, highest: float) -> Checker:
    """A finite JSON number (timestamps: epoch seconds, as botocore sends them) within range; out
    of range is a value error (``MIN/MAX_VALUE_EXCEEDED``: CloudTrail's "outside the range of
    possible values"), a wrong type a syntax error."""
    low = max(lowest, shape.get("min", lowest))
    high = min(highest, shape.get("max", highest))

    def check(value: Any, path: str) -> float:
        path = path.rstrip(".")
        if type(value) not in (int, float) or value != value:  # bools are not numbers; NaN is not
            raise JsonInputError("INVALID_SYNTAX", path)
        if value < low or value == -math.inf:  # 1e999 is JSON, and overflows to infinity
            raise JsonInputError("MIN_VALUE_EXCEEDED", path)
        if value > high or value == math.inf:
            raise JsonInputError("MAX_VALUE_EXCEEDED", path)
        return value  # type: ignore[no-any-return]

    return check


def offset_token(token: object) -> int | None:
    """The offset an offset-pagination token names (0 without one); None for anything else: at
    most 9 ASCII digits (``numbers.parse_ascii_int``), and no leading zero, which no token of ours has."""
    if token is None:
        return 0
    if not isinstance(token, str) or (token.startswith("0") and token != "0"):
        return None
    return parse_ascii_int(token, max_digits=9)


def load_json_model(name: str, version: str, extra: dict[str, Any] | None = None) -> JsonInputModel:
    """Compile botocore's model of ``name`` (e.g. ``organizations``, ``2016-11-28``); ``extra``
    adds ``operations`` and ``shapes`` of our own (the Account API's STS-activation calls)."""
    from opensts.protocol.model import _model_path

    path = _model_path(name, version)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        model = json.loads(f.read())
    for section in ("operations", "shapes"):
        model[section].update((extra or {}).get(section, {}))
    return JsonInputModel(model)
