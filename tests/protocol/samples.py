"""Generate fully-populated, model-valid values for botocore shapes (test helper)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from opensts.protocol.javaregex import compile_pattern
from opensts.protocol.overlay import OVERLAYS

#: Closed value sets OpenSTS enforces beyond botocore's model (protocol/overlay.py), by shape name.
_OVERLAY_ENUMS = {name: patch["enum"] for shapes in OVERLAYS.values() for name, patch in shapes.items() if "enum" in patch}

T0 = dt.datetime(2019, 11, 1, 20, 26, 47, tzinfo=dt.timezone.utc)

_CANDIDATES = [
    "Example_Value-1",
    "arn:aws:iam::123456789012:role/example",
    "123456",
    "123456789012",
    "AKIAIOSFODNN7EXAMPLE",
    "/",
    "/division_abc/",
    "v1",
    "o-abcdefghij",
    "o-abcdefghij/r-abcd/",
    "p-abcdefgh",
    "https://example.com/callback",
    "example-alias",
    "ABCDEF0123",
    "abc:def",
    "Example Value 1",
    "a",
]


def string_value(shape: Any, seed: str = "") -> str:
    enum = shape.enum or _OVERLAY_ENUMS.get(shape.name)
    if enum:
        return enum[min(1, len(enum) - 1)]
    md = shape.metadata
    lo, hi = md.get("min", 0), md.get("max", 10_000)
    pattern = md.get("pattern")
    match = compile_pattern(pattern) if pattern else (lambda s: True)
    cands = ([seed] if seed else []) + _CANDIDATES
    for cand in cands:
        for v in (cand, (cand * ((lo // max(len(cand), 1)) + 1))):
            if len(v) < lo:
                continue
            if len(v) > hi:
                v = v[:hi]
            if len(v) >= lo and match(v):
                return v
    for ch in "a1A/":
        v = ch * max(lo, 1)
        if len(v) <= hi and match(v):
            return v
    raise AssertionError(f"no sample for {shape.name} pattern={pattern!r} min={lo} max={hi}")


def value_for(shape: Any, depth: int = 0, seed: str = "") -> Any:
    t = shape.type_name
    md = shape.metadata
    if t == "structure":
        if depth > 6:
            return {}
        members = list(shape.members.items())
        if getattr(shape, "is_tagged_union", False) or shape.metadata.get("union"):
            members = members[:1]  # a tagged union carries exactly one member
        return {n: value_for(m, depth + 1, seed=n) for n, m in members}
    if t == "list":
        n = max(md.get("min", 0), 2)
        n = min(n, md.get("max", n))
        return [value_for(shape.member, depth + 1, seed=f"{seed}{i}") for i in range(n)]
    if t == "map":
        k = value_for(shape.key, depth + 1, seed="key")
        k2 = value_for(shape.key, depth + 1, seed="key2")
        return {k: value_for(shape.value, depth + 1), k2: value_for(shape.value, depth + 1)}
    if t == "string":
        return string_value(shape, seed)
    if t in ("integer", "long"):
        lo, hi = md.get("min", 1), md.get("max", 1_000_000)
        return max(lo, min(hi, 3600))
    if t == "boolean":
        return True
    if t in ("float", "double"):
        return 1.5
    if t == "timestamp":
        return T0
    if t == "blob":
        return b"blob\x00data"
    raise AssertionError(t)
