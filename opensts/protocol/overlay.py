"""Constraints AWS enforces on input that botocore's models leave out, merged in before compiling.

botocore's models are generated from the services' own, but some members the service cannot work
without are modelled as optional, and some closed value sets as plain strings. Rather than every
handler guarding its reads (and one forgetting: a ``KeyError`` is a 500), the compiled parser
enforces them like any modelled constraint, with Coral's ValidationError messages, so a handler can
rely on what it reads:

* ``PolicyDescriptorType.arn`` (STS ``PolicyArns.member.N`` and AssumeRoot's ``TaskPolicyArn``): a
  policy reference without an ARN names no policy;
* ``jwtAlgorithmType`` (GetWebIdentityToken ``SigningAlgorithm``): the API reference lists the
  only valid values, ``RS256`` and ``ES384``.

The model dict is never mutated: patched shapes are copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["OVERLAYS", "apply_overlay"]

#: service → shape name → keys merged into the botocore shape (``required`` members are added).
OVERLAYS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "sts": {
        "PolicyDescriptorType": {"required": ("arn",)},
        "jwtAlgorithmType": {"enum": ("RS256", "ES384")},
    },
}


def apply_overlay(service: str, shapes: dict[str, dict]) -> dict[str, dict]:
    """``shapes`` with ``service``'s overlay merged in (a new dict; unchanged shapes shared)."""
    patches = OVERLAYS.get(service)
    if not patches:
        return shapes
    out = dict(shapes)
    for name, patch in patches.items():
        shape = dict(out[name])
        for key, value in patch.items():
            if key == "required":
                shape["required"] = list(dict.fromkeys([*shape.get("required", ()), *value]))
            else:
                shape[key] = list(value) if isinstance(value, tuple) else value
        out[name] = shape
    return out
