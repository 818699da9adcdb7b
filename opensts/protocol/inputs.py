"""Compile a model's input shapes into request readers: flattened awsQuery params → validated dict.

Every shape becomes a closure once, at model-compile time. A request then runs only those closures:
dict look-ups for scalar members, one grouping pass over dotted keys for aggregates, precompiled
``fullmatch`` calls, integer comparisons. No botocore object is touched at request time.

Reader kinds (all take ``path`` — the Coral-style lowerCamel location used in messages — and ``errs``,
the list violations are appended to):

* scalar reader  ``(raw: str, path, errs) -> value | INVALID``
* aggregate reader ``(group: dict[str, str] | None, bare: str | None, path, errs) -> value | ABSENT``
  where ``group`` holds the keys below the member's wire name with the ``Name.`` prefix removed
  (``{'member.1.Key': 'k', ...}``) and ``bare`` is the value of a bare ``Name=`` key (the awsQuery
  spelling of an empty list).

Validation messages follow AWS's (Coral's) format, e.g.
``Value 'x' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression
pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+`` and ``Value null at 'roleSessionName' failed to satisfy
constraint: Member must not be null``. Values of ``sensitive`` members are left out (``Value at 'x'``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import MalformedInput
from .javaregex import compile_pattern
from .numbers import JAVA_INT_DIGITS, JAVA_LONG_DIGITS, parse_ascii_int

__all__ = ["InputCompiler", "ABSENT", "INVALID", "lower_camel"]

ABSENT: Any = type("ABSENT", (), {"__repr__": lambda self: "ABSENT"})()
INVALID: Any = type("INVALID", (), {"__repr__": lambda self: "INVALID"})()

_JAVA_INT_MAX = 2**31 - 1
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]?Infinity")
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_UTC = timezone.utc

ScalarReader = Callable[[str, str, list], Any]
AggReader = Callable[[Any, Any, str, list], Any]


def lower_camel(name: str) -> str:
    """Coral's member path spelling: first character lower-cased (``SAMLAssertion`` → ``sAMLAssertion``)."""
    return name[:1].lower() + name[1:]


def _fail(errs: list, shown: str, path: str, constraint: str) -> None:
    errs.append(f"{shown} at '{path}' failed to satisfy constraint: {constraint}")


def _java_list(items: list) -> str:
    """How a Java ``List.toString()`` shows a list of scalars in a Coral message: ``[a, b]``."""
    return "[" + ", ".join(str(i).lower() if isinstance(i, bool) else str(i) for i in items) + "]"


class InputCompiler:
    """Compiles the input side of one service model (raw botocore JSON ``shapes`` dict)."""

    def __init__(self, shapes: dict[str, dict]) -> None:
        self.shapes = shapes
        self._agg_cache: dict[tuple, AggReader] = {}

    # ------------------------------------------------------------------ scalars
    def scalar_reader(self, shape_name: str, sensitive: bool) -> ScalarReader:
        shape = self.shapes[shape_name]
        sensitive = sensitive or bool(shape.get("sensitive"))
        t = shape["type"]
        if t == "string":
            return self._string_reader(shape, sensitive)
        if t in ("integer", "long", "byte", "short"):
            return self._int_reader(shape, sensitive, _INT_RANGES.get(t, _INT_RANGES["integer"]))
        if t == "boolean":
            return self._bool_reader(sensitive)
        if t in ("float", "double"):
            return self._float_reader(shape, sensitive)
        if t == "timestamp":
            return self._timestamp_reader(shape.get("timestampFormat", "iso8601"), sensitive)
        if t == "blob":
            return self._blob_reader(shape, sensitive)
        raise ValueError(f"unsupported scalar type {t!r} for {shape_name}")

    @staticmethod
    def _string_reader(shape: dict, sensitive: bool) -> ScalarReader:
        lo = shape.get("min")
        hi = shape.get("max")
        pattern = shape.get("pattern")
        match = compile_pattern(pattern) if pattern is not None else None
        enum = shape.get("enum")
        enum_set = frozenset(enum) if enum else None
        enum_msg = f"Member must satisfy enum value set: [{', '.join(enum)}]" if enum else ""
        pat_msg = f"Member must satisfy regular expression pattern: {pattern}"
        lo_msg = f"Member must have length greater than or equal to {lo}"
        hi_msg = f"Member must have length less than or equal to {hi}"
        lo = lo or 0

        if match is None and enum_set is None and lo == 0 and hi is None:
            def read_plain(raw: str, path: str, errs: list) -> Any:
                return raw
            return read_plain

        def read(raw: str, path: str, errs: list) -> Any:
            ok = True
            if enum_set is not None and raw not in enum_set:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, enum_msg)
                ok = False
            if match is not None and match(raw) is None:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, pat_msg)
                ok = False
            n = len(raw)
            if n < lo:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, lo_msg)
                ok = False
            elif hi is not None and n > hi:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, hi_msg)
                ok = False
            return raw if ok else INVALID

        return read

    @staticmethod
    def _int_reader(shape: dict, sensitive: bool, bounds: tuple[int, int]) -> ScalarReader:
        lo = shape.get("min")
        hi = shape.get("max")
        tmin, tmax = bounds

        def read(raw: str, path: str, errs: list) -> Any:
            n = parse_ascii_int(raw, JAVA_LONG_DIGITS, signed=True)
            if n is None or not tmin <= n <= tmax:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, "Member must be a valid integer")
                return INVALID
            shown = "Value" if sensitive else f"Value '{n}'"
            if lo is not None and n < lo:
                _fail(errs, shown, path, f"Member must have value greater than or equal to {lo}")
                return INVALID
            if hi is not None and n > hi:
                _fail(errs, shown, path, f"Member must have value less than or equal to {hi}")
                return INVALID
            return n

        return read

    @staticmethod
    def _bool_reader(sensitive: bool) -> ScalarReader:
        def read(raw: str, path: str, errs: list) -> Any:
            low = raw.lower()
            if low == "true":
                return True
            if low == "false":
                return False
            _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, "Member must be a boolean (true or false)")
            return INVALID

        return read

    @staticmethod
    def _float_reader(shape: dict, sensitive: bool) -> ScalarReader:
        lo = shape.get("min")
        hi = shape.get("max")

        def read(raw: str, path: str, errs: list) -> Any:
            if _FLOAT_RE.fullmatch(raw) is None:
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, "Member must be a valid number")
                return INVALID
            x = float(raw)
            if not math.isnan(x):
                if lo is not None and x < lo:
                    _fail(errs, f"Value '{raw}'", path, f"Member must have value greater than or equal to {lo}")
                    return INVALID
                if hi is not None and x > hi:
                    _fail(errs, f"Value '{raw}'", path, f"Member must have value less than or equal to {hi}")
                    return INVALID
            return x

        return read

    @staticmethod
    def _timestamp_reader(fmt: str, sensitive: bool) -> ScalarReader:
        def read(raw: str, path: str, errs: list) -> Any:
            try:
                if _FLOAT_RE.fullmatch(raw) is not None and "N" not in raw and "I" not in raw:
                    # epoch seconds (the unixTimestamp format; accepted for any timestamp member)
                    return datetime.fromtimestamp(float(raw), _UTC)
                if fmt == "rfc822":
                    from email.utils import parsedate_to_datetime

                    d = parsedate_to_datetime(raw)
                else:
                    d = datetime.fromisoformat(raw)
                return d.replace(tzinfo=_UTC) if d.tzinfo is None else d.astimezone(_UTC)
            except (ValueError, TypeError, OverflowError, OSError):
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, "Member must be a valid timestamp")
                return INVALID

        return read

    @staticmethod
    def _blob_reader(shape: dict, sensitive: bool) -> ScalarReader:
        lo = shape.get("min")
        hi = shape.get("max")

        def read(raw: str, path: str, errs: list) -> Any:
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                _fail(errs, "Value" if sensitive else f"Value '{raw}'", path, "Member must be valid base64")
                return INVALID
            if lo is not None and len(data) < lo:
                _fail(errs, "Value", path, f"Member must have length greater than or equal to {lo}")
                return INVALID
            if hi is not None and len(data) > hi:
                _fail(errs, "Value", path, f"Member must have length less than or equal to {hi}")
                return INVALID
            return data

        return read

    # ------------------------------------------------------------------ aggregates
    def is_aggregate(self, shape_name: str) -> bool:
        return self.shapes[shape_name]["type"] in ("structure", "list", "map")

    def agg_reader(self, shape_name: str, sensitive: bool) -> AggReader:
        key = (shape_name, sensitive)
        cached = self._agg_cache.get(key)
        if cached is not None:
            return cached
        # Indirection for recursive shapes: register a trampoline before compiling the body.
        slot: list[AggReader] = []

        def trampoline(group: Any, bare: Any, path: str, errs: list) -> Any:
            return slot[0](group, bare, path, errs)

        self._agg_cache[key] = trampoline
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "structure":
            reader = self._struct_reader(shape, sensitive)
        elif t == "list":
            reader = self._list_reader(shape, sensitive)
        else:
            reader = self._map_reader(shape, sensitive)
        slot.append(reader)
        self._agg_cache[key] = reader
        return reader

    def struct_plan(self, shape: dict, sensitive: bool) -> tuple[list[tuple], frozenset[str]]:
        """Per-member plan: (name, wire, lname, is_agg, reader, required)."""
        required = set(shape.get("required", ()))
        plan = []
        agg_wires = set()
        for name, ref in shape.get("members", {}).items():
            target = ref["shape"]
            sens = sensitive or bool(ref.get("sensitive")) or bool(self.shapes[target].get("sensitive"))
            wire = ref.get("locationName", name)
            tshape = self.shapes[target]
            if tshape["type"] == "list" and tshape.get("flattened") and tshape["member"].get("locationName"):
                wire = tshape["member"]["locationName"]
            if self.is_aggregate(target):
                reader: Any = self.agg_reader(target, sens)
                agg_wires.add(wire)
                is_agg = True
            else:
                reader = self.scalar_reader(target, sens)
                is_agg = False
            plan.append((name, wire, lower_camel(name), is_agg, reader, name in required))
        return plan, frozenset(agg_wires)

    def top_reader(self, shape_name: str | None) -> Callable[[Any, list], dict]:
        """Reader for an operation's input structure over the full request params."""
        if shape_name is None:
            return lambda params, errs: {}
        shape = self.shapes[shape_name]
        plan, agg_wires = self.struct_plan(shape, False)
        if not plan:
            return lambda params, errs: {}
        body = _make_struct_body(plan, agg_wires)
        return lambda params, errs: body(params, "", errs)

    def _struct_reader(self, shape: dict, sensitive: bool) -> AggReader:
        plan, agg_wires = self.struct_plan(shape, sensitive)
        body = _make_struct_body(plan, agg_wires)

        def read(group: Any, bare: Any, path: str, errs: list) -> Any:
            if group is None:
                return ABSENT
            return body(group, path, errs)

        return read

    def _list_reader(self, shape: dict, sensitive: bool) -> AggReader:
        mref = shape["member"]
        target = mref["shape"]
        sens = sensitive or bool(mref.get("sensitive")) or bool(self.shapes[target].get("sensitive"))
        flattened = bool(shape.get("flattened"))
        prefix = "" if flattened else mref.get("locationName", "member") + "."
        plen = len(prefix)
        elem_is_agg = self.is_aggregate(target)
        elem: Any = self.agg_reader(target, sens) if elem_is_agg else self.scalar_reader(target, sens)
        lo = shape.get("min")
        hi = shape.get("max")
        lo_msg = f"Member must have length greater than or equal to {lo}"
        hi_msg = f"Member must have length less than or equal to {hi}"

        # Wire keys below a list repeat across requests ("member.1.Key", "member.2.Value"): remember how
        # each splits into (index, rest) so the hot path is one dict look-up per key.
        split_cache: dict[str, Any] = {}

        def split(k: str) -> Any:
            if plen:
                if not k.startswith(prefix):
                    return None
                k = k[plen:]
            dot = k.find(".")
            idx = list_index(k if dot == -1 else k[:dot])
            if idx is None:
                return None
            if elem_is_agg:
                return None if dot == -1 else (idx, k[dot + 1 :])
            return None if dot != -1 else (idx, None)

        def read(group: Any, bare: Any, path: str, errs: list) -> Any:
            out: list = []
            if group is not None:
                by_idx: dict[int, Any] = {}
                cache_get = split_cache.get
                for k, v in group.items():
                    parts = cache_get(k, False)
                    if parts is False:
                        parts = split(k)
                        if len(k) <= 64 and len(split_cache) < 4096:
                            split_cache[k] = parts
                    if parts is None:
                        continue
                    idx, rest = parts
                    if rest is None:
                        by_idx[idx] = v
                    else:
                        sub = by_idx.get(idx)
                        if sub is None:
                            by_idx[idx] = sub = {}
                        sub[rest] = v
                indices = sorted(by_idx) if len(by_idx) > 1 else list(by_idx)
                for pos, idx in enumerate(indices, 1):
                    epath = f"{path}.{pos}.member"
                    if elem_is_agg:
                        val = elem(by_idx[idx], None, epath, errs)
                        if val is ABSENT:
                            val = {}
                    else:
                        val = elem(by_idx[idx], epath, errs)
                    out.append(val)
            elif bare is None or bare != "":
                return ABSENT
            n = len(out)
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                if sens or elem_is_agg:
                    shown = "Value"
                else:
                    shown = f"Value '{_java_list([x for x in out if x is not INVALID])}'"
                _fail(errs, shown, path, lo_msg if lo is not None and n < lo else hi_msg)
            return out

        return read

    def _map_reader(self, shape: dict, sensitive: bool) -> AggReader:
        flattened = bool(shape.get("flattened"))
        prefix = "" if flattened else "entry."
        plen = len(prefix)
        kref, vref = shape["key"], shape["value"]
        kname = kref.get("locationName", "key")
        vname = vref.get("locationName", "value")
        kread = self.scalar_reader(kref["shape"], sensitive)
        v_is_agg = self.is_aggregate(vref["shape"])
        vread: Any = (
            self.agg_reader(vref["shape"], sensitive) if v_is_agg else self.scalar_reader(vref["shape"], sensitive)
        )
        lo = shape.get("min")
        hi = shape.get("max")

        def read(group: Any, bare: Any, path: str, errs: list) -> Any:
            if group is None:
                return {} if bare == "" else ABSENT
            entries: dict[int, dict[str, Any]] = {}
            for k, v in group.items():
                if plen:
                    if not k.startswith(prefix):
                        continue
                    k = k[plen:]
                dot = k.find(".")
                if dot == -1:
                    continue
                idx = list_index(k[:dot])
                if idx is None:
                    continue
                entries.setdefault(idx, {})[k[dot + 1 :]] = v
            out: dict = {}
            for pos, idx in enumerate(sorted(entries), 1):
                e = entries[idx]
                epath = f"{path}.{pos}"
                kraw = e.get(kname)
                if kraw is None:
                    _fail(errs, "Value null", f"{epath}.key", "Member must not be null")
                    continue
                key = kread(kraw, f"{epath}.key", errs)
                if v_is_agg:
                    sub = {kk[len(vname) + 1 :]: vv for kk, vv in e.items() if kk.startswith(vname + ".")}
                    val = vread(sub or None, e.get(vname), f"{epath}.value", errs)
                    if val is ABSENT:
                        _fail(errs, "Value null", f"{epath}.value", "Member must not be null")
                        continue
                else:
                    vraw = e.get(vname)
                    if vraw is None:
                        _fail(errs, "Value null", f"{epath}.value", "Member must not be null")
                        continue
                    val = vread(vraw, f"{epath}.value", errs)
                out[key] = val
            n = len(out)
            if lo is not None and n < lo:
                _fail(errs, "Value", path, f"Member must have length greater than or equal to {lo}")
            elif hi is not None and n > hi:
                _fail(errs, "Value", path, f"Member must have length less than or equal to {hi}")
            return out

        return read


def list_index(segment: str) -> int | None:
    """The position in ``Name.member.N`` / ``Name.entry.N``: ``None`` for a segment that is no number
    at all (the key is not a list element and is ignored like any unknown parameter); a number
    outside 1..2^31-1 is refused with ``MalformedInput`` ``N is not a valid index``, as AWS's query
    deserializer refuses ``.0`` (it parses indexes as Java ints)."""
    if not segment or not segment.isascii() or not segment.isdigit():
        return None
    idx = parse_ascii_int(segment, JAVA_INT_DIGITS)
    if idx is None or not 1 <= idx <= _JAVA_INT_MAX:
        raise MalformedInput(f"{segment} is not a valid index")
    return idx


def _make_struct_body(plan: list[tuple], agg_wires: frozenset[str]) -> Callable[[Any, str, list], dict]:
    """The hot loop shared by top-level and nested structures."""
    plan_t = tuple(plan)
    if not agg_wires:

        def body_flat(params: Any, path: str, errs: list) -> dict:
            out = {}
            get = params.get
            for name, wire, lname, _is_agg, reader, required in plan_t:
                raw = get(wire)
                if raw is None:
                    if required:
                        _fail(errs, "Value null", f"{path}.{lname}" if path else lname, "Member must not be null")
                    continue
                out[name] = reader(raw, f"{path}.{lname}" if path else lname, errs)
            return out

        return body_flat

    def body(params: Any, path: str, errs: list) -> dict:
        groups: dict[str, dict[str, str]] = {}
        for k, v in params.items():
            dot = k.find(".")
            if dot > 0:
                head = k[:dot]
                if head in agg_wires:
                    g = groups.get(head)
                    if g is None:
                        groups[head] = g = {}
                    g[k[dot + 1 :]] = v
        out = {}
        get = params.get
        for name, wire, lname, is_agg, reader, required in plan_t:
            if is_agg:
                group = groups.get(wire) if groups else None
                bare = get(wire) if group is None else None
                if group is None and bare is None:
                    if required:
                        _fail(errs, "Value null", f"{path}.{lname}" if path else lname, "Member must not be null")
                    continue
                val = reader(group, bare, f"{path}.{lname}" if path else lname, errs)
                if val is ABSENT:
                    if required:
                        _fail(errs, "Value null", f"{path}.{lname}" if path else lname, "Member must not be null")
                    continue
                out[name] = val
            else:
                raw = get(wire)
                if raw is None:
                    if required:
                        _fail(errs, "Value null", f"{path}.{lname}" if path else lname, "Member must not be null")
                    continue
                out[name] = reader(raw, f"{path}.{lname}" if path else lname, errs)
        return out

    return body
