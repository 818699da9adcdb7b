"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``, ``${?}``, ``${$}``.

A value that may hold variables is *tokenised* once at compile time into a tuple of parts:

* ``str``  — literal policy text (wildcards in it keep their meaning where the operator globs);
* :class:`Lit` — text that must match literally (``${*}`` → ``*``, or a ``${…}`` that is not
  substituted in this position, e.g. the first five ARN segments of a Resource);
* :class:`Var` — a context key to substitute, with an optional default.

Substitution happens per request (:func:`resolve`).  Rules (``policy.md`` §3.6, [UG
reference_policies_variables]): names are case-insensitive; only single-valued keys substitute;
the default is used when the key is absent (and, CHOICE, when it is multivalued); substituted text
is literal, never a wildcard; with no value and no default the value is *unresolvable* (None):
a Resource entry then matches nothing, a positive condition value matches nothing, and a negated
condition treats it as "not equal".  Only ``Version: 2012-10-17`` substitutes at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from opensts.frozen import frozen
from opensts.policy import choices

__all__ = ["Var", "Lit", "Part", "tokenize", "parse_inner", "has_variables", "resolve", "resolve_var", "source_text"]


@frozen
class Var:
    """``${name}`` or ``${name, 'default'}``; ``key`` is the lower-cased context key."""

    key: str
    default: str | None
    text: str


@frozen
class Lit:
    """Text that matches itself only (no wildcard meaning)."""

    text: str
    source: str


Part = str | Var | Lit

_TOKEN = re.compile(r"\$\{([^{}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def tokenize(text: str, substitute: bool = True) -> tuple[Part, ...]:
    """Split ``text`` into literal text, :class:`Lit` and :class:`Var` parts.

    ``substitute=False`` (policy Version 2008-10-17 or absent) keeps everything literal text.
    A ``${…}`` that is not a well-formed variable stays ordinary text.
    """
    if not substitute or "${" not in text:
        return (text,)
    parts: list[Part] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        inner = m.group(1)
        special = _SPECIAL.get(inner)
        if special is not None:
            node: Part = Lit(special, m.group(0))
        else:
            parsed = parse_inner(inner)
            if parsed is None:
                continue
            node = Var(parsed[0].lower(), parsed[1], m.group(0))
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(node)
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return tuple(parts) if parts else (text,)


def parse_inner(inner: str) -> tuple[str, str | None] | None:
    """``name`` or ``name, 'default'`` (whitespace around each) → (name, default), else None.

    Written out rather than as the regex ``\\s*([^,']+?)\\s*(?:,\\s*'([^']*)'\\s*)?$``, whose lazy
    name and the whitespace after it backtrack quadratically: ``${a`` + 100,000 spaces + ``'}``
    (spaces do not count toward IAM's size quotas) cost minutes.  Same answers, linear time.
    """
    name_part, comma, rest = inner.partition(",")
    if "'" in name_part:
        return None
    name = name_part.strip() or name_part[-1:]  # all whitespace: the regex kept its last character
    if not name:
        return None
    if not comma:
        return name, None
    rest = rest.strip()
    if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'" or "'" in rest[1:-1]:
        return None
    return name, rest[1:-1]


def has_variables(parts: tuple[Part, ...]) -> bool:
    """True when resolution depends on the request (a :class:`Var` is present)."""
    return any(isinstance(p, Var) for p in parts)


def source_text(parts: tuple[Part, ...]) -> str:
    """The original policy text of ``parts``."""
    return "".join(p if isinstance(p, str) else p.text if isinstance(p, Var) else p.source
                   for p in parts)


def resolve_var(var: Var, keys: Mapping[str, object]) -> str | None:
    """The substituted text for ``var`` or None when it has no value and no default."""
    value = keys.get(var.key)
    if isinstance(value, str):
        return value
    if value is None or choices.VARIABLE_DEFAULT_ON_MULTIVALUED:
        return var.default
    return None


def resolve(parts: tuple[Part, ...], keys: Mapping[str, object]) -> str | None:
    """Plain-string resolution (for StringEquals, Bool…): every part becomes literal text."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, Lit):
            out.append(p.text)
        else:
            v = resolve_var(p, keys)
            if v is None:
                return None
            out.append(v)
    return "".join(out)
