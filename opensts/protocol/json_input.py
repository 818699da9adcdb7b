"""Validate JSON-protocol request bodies against a botocore service model (AWS Organizations).

Like ``inputs.py`` for awsQuery, every input shape is compiled once into a checker; a request runs
only the checkers. A violation is reported the way Organizations reports it: an
``InvalidInputException`` whose ``Reason`` names the rule (``INPUT_REQUIRED``, ``INVALID_PATTERN``,
``MAX_LENGTH_EXCEEDED`` …) and whose message is that reason's documented sentence.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from opensts.protocol.errors import ServiceError
from opensts.protocol.javaregex import compile_pattern

__all__ = ["JsonInputError", "JsonInputModel", "load_json_model", "json_body"]

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

Checker = Callable[[Any, str], None]


class SerializationError(ServiceError):
    code = "SerializationException"
    status = 400


def json_body(raw: bytes) -> Any:
    """A JSON-protocol request body, parsed: ``{}`` when empty, SerializationException (400) when it
    is not JSON. Callers check its type (each API words that refusal its own way)."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationError("The request body is not valid JSON.") from exc


class JsonInputError(ServiceError):
    """Organizations' InvalidInputException (HTTP 400) with its ``Reason``."""

    code = "InvalidInputException"
    status = 400

    def __init__(self, reason: str, member: str) -> None:
        super().__init__(f"{_MESSAGES[reason]} ({member})")
        self.reason = reason


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

    def validate(self, operation: str, body: dict[str, Any]) -> None:
        checker = self.operations[operation]
        if checker is not None:
            checker(body, "")

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
        if kind == "string":
            return _string(shape)
        if kind in ("integer", "long"):
            return _number(shape)
        if kind == "boolean":
            return _typed(bool)
        return lambda value, path: None  # timestamps, blobs: not in any operation we serve

    def _structure(self, shape: dict[str, Any]) -> Checker:
        members = {name: self._checker(ref["shape"]) for name, ref in shape.get("members", {}).items()}
        required = tuple(shape.get("required", ()))

        def check(value: Any, path: str) -> None:
            if not isinstance(value, dict):
                raise JsonInputError("INVALID_SYNTAX", path or "body")
            for name in required:
                if value.get(name) is None:
                    raise JsonInputError("INPUT_REQUIRED", path + name)
            for name, item in value.items():
                member = members.get(name)
                if member is not None and item is not None:
                    member(item, path + name)

        return check

    def _list(self, shape: dict[str, Any]) -> Checker:
        item_check = self._checker(shape["member"]["shape"])
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: str) -> None:
            if not isinstance(value, list):
                raise JsonInputError("INVALID_SYNTAX", path)
            if low is not None and len(value) < low:
                raise JsonInputError("MIN_LENGTH_EXCEEDED", path)
            if high is not None and len(value) > high:
                raise JsonInputError("MAX_LENGTH_EXCEEDED", path)
            for i, item in enumerate(value):
                item_check(item, f"{path}[{i}].")

        return check

    def _map(self, shape: dict[str, Any]) -> Checker:
        key_check = self._checker(shape["key"]["shape"])
        value_check = self._checker(shape["value"]["shape"])

        def check(value: Any, path: str) -> None:
            if not isinstance(value, dict):
                raise JsonInputError("INVALID_SYNTAX", path)
            for k, v in value.items():
                key_check(k, path)
                value_check(v, f"{path}.{k}")

        return check


def _typed(kind: type) -> Checker:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, kind):
            raise JsonInputError("INVALID_SYNTAX", path)

    return check


def _string(shape: dict[str, Any]) -> Checker:
    low, high = shape.get("min"), shape.get("max")
    enum = frozenset(shape["enum"]) if "enum" in shape else None
    match = compile_pattern(shape["pattern"]) if "pattern" in shape else None

    def check(value: Any, path: str) -> None:
        path = path.rstrip(".")
        if not isinstance(value, str):
            raise JsonInputError("INVALID_SYNTAX", path)
        if low is not None and len(value) < low:
            raise JsonInputError("MIN_LENGTH_EXCEEDED", path)
        if high is not None and len(value) > high:
            raise JsonInputError("MAX_LENGTH_EXCEEDED", path)
        if enum is not None and value not in enum:
            raise JsonInputError("INVALID_ENUM", path)
        if match is not None and not match(value):
            raise JsonInputError("INVALID_PATTERN", path)

    return check


def _number(shape: dict[str, Any]) -> Checker:
    low, high = shape.get("min"), shape.get("max")

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise JsonInputError("INVALID_SYNTAX", path)
        if low is not None and value < low:
            raise JsonInputError("MIN_VALUE_EXCEEDED", path)
        if high is not None and value > high:
            raise JsonInputError("MAX_VALUE_EXCEEDED", path)

    return check


def load_json_model(name: str, version: str) -> JsonInputModel:
    """Compile botocore's model of ``name`` (e.g. ``organizations``, ``2016-11-28``)."""
    from opensts.protocol.model import _model_path

    path = _model_path(name, version)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return JsonInputModel(json.loads(f.read()))
