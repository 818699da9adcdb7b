"""Compile validated documents into matchers and closures; cache compiled policies.

:func:`parse_policy` is the one entry point: it validates (raising AWS's errors) and compiles, and
memoises the result keyed by ``(document text, kind)`` — Python hashes the text once and keeps the
hash on the string, so a policy loaded from the store is compiled once per process and every later
call is a dictionary hit.  The cache is the only mutable global state in the package.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from opensts.policy import choices
from opensts.policy.conditions import Condition, compile_condition
from opensts.policy.document import PolicyKind, ValidatedDocument, parse_document
from opensts.policy.errors import MalformedPolicyDocument
from opensts.policy.matching import (
    KIND_ACCOUNT,
    KIND_NONE,
    KIND_WILDCARD,
    ActionMatcher,
    ArnPattern,
    PrincipalSpec,
)
from opensts.policy.variables import tokenize

__all__ = ["Policy", "Statement", "parse_policy", "compile_cache_info", "clear_compile_cache"]

_CACHE_SIZE = 4096


class Statement:
    """One compiled statement."""

    __slots__ = ("index", "sid", "allow", "principal", "not_principal", "actions", "not_action",
                 "resources", "not_resource", "conditions", "source", "check_identity", "check_resource")

    def __init__(self, index: int, st: Mapping[str, Any], substitute: bool) -> None:
        self.index = index
        self.source = st
        self.sid: str | None = st.get("Sid") or None
        self.allow = st["Effect"] == "Allow"
        element = st.get("Principal", st.get("NotPrincipal"))
        self.principal = PrincipalSpec(element) if element is not None else None
        self.not_principal = "NotPrincipal" in st
        raw_actions = st.get("Action", st.get("NotAction", []))
        self.actions = ActionMatcher([raw_actions] if isinstance(raw_actions, str) else raw_actions)
        self.not_action = "NotAction" in st
        if "Resource" in st or "NotResource" in st:
            raw = st.get("Resource", st.get("NotResource"))
            raw_list = [raw] if isinstance(raw, str) else list(raw)
            self.resources: tuple[ArnPattern, ...] | None = tuple(
                ArnPattern(r, tokenize(r, substitute), resource_mode=True) for r in raw_list)
        else:
            self.resources = None  # trust policies: the resource is the role itself
        self.not_resource = "NotResource" in st
        conds: list[Condition] = []
        for op, body in (st.get("Condition") or {}).items():
            for key, values in body.items():
                c = compile_condition(op, key, values, substitute=substitute)
                if c is not None:
                    conds.append(c)
        self.conditions = tuple(conds)
        #: check(ctx, keys, id_map, has_boundary) -> 0 (does not apply) or the principal match kind
        #: (1 for identity-style evaluation).  Specialised closures: the per-request hot path.
        self.check_identity = self._build(principal_based=False)
        self.check_resource = self._build(principal_based=True)

    def _build(self, principal_based: bool) -> Callable[..., int]:
        act = self.actions
        any_action, exact, action_wild = act.any, act.exact, act.wild
        not_action = self.not_action
        spec = self.principal
        not_principal, is_deny = self.not_principal, not self.allow
        notprin_kind = KIND_WILDCARD if choices.NOTPRINCIPAL_ALLOW_IS_WILDCARD else KIND_ACCOUNT
        resources, not_resource = self.resources, self.not_resource
        single_resource = resources[0] if resources is not None and len(resources) == 1 else None
        tests = tuple(c.test for c in self.conditions)

        def check(ctx: Any, keys: Mapping[str, Any], id_map: Mapping[str, str], has_boundary: bool) -> int:
            if any_action or ctx.action_l in exact:
                hit = True
            else:
                hit = action_wild is not None and action_wild(ctx.action_l)
            if hit is not_action:
                return KIND_NONE
            kind = KIND_ACCOUNT
            if principal_based:
                if spec is None:
                    return KIND_NONE
                if not_principal:
                    if spec.all_listed(ctx.principal, id_map) and not (has_boundary and is_deny):
                        return KIND_NONE
                    kind = notprin_kind
                else:
                    kind = spec.kind(ctx.principal, id_map)
                    if kind == KIND_NONE:
                        return KIND_NONE
            if resources is not None:
                if single_resource is not None:
                    hit = single_resource.matches(ctx.resource, keys)
                else:
                    hit = False
                    for r in resources:
                        if r.matches(ctx.resource, keys):
                            hit = True
                            break
                if hit is not_resource:
                    return KIND_NONE
            for test in tests:
                if not test(keys):
                    return KIND_NONE
            return kind
        return check

    @property
    def effect(self) -> str:
        return "Allow" if self.allow else "Deny"

    def label(self) -> str:
        return f"#{self.index}" + (f" ({self.sid})" if self.sid else "")

    def resource_matches(self, resource: str, keys: Mapping[str, Any]) -> bool:
        """Resource/NotResource test (True when the statement has neither)."""
        if self.resources is None:
            return True
        hit = False
        for r in self.resources:
            if r.matches(resource, keys):
                hit = True
                break
        return hit != self.not_resource


class Policy:
    """A validated, compiled policy document.  Immutable; share freely."""

    __slots__ = ("text", "kind", "version", "id", "statements", "document", "digest", "__weakref__")

    def __init__(self, text: str, kind: PolicyKind, validated: ValidatedDocument) -> None:
        self.text = text
        self.kind = kind
        self.version = validated.version
        self.id = validated.id
        self.document = validated.document
        substitute = validated.version == "2012-10-17"
        self.statements = tuple(Statement(i, st, substitute) for i, st in enumerate(validated.statements))
        self.digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def __repr__(self) -> str:
        return f"Policy(kind={self.kind.value}, statements={len(self.statements)}, digest={self.digest[:12]})"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str, kind: PolicyKind, strict: bool) -> Policy:
    return Policy(text, kind, parse_document(text, kind, strict=strict))


def parse_policy(document: str | bytes | Mapping[str, Any] | Policy,
                 kind: PolicyKind | str = PolicyKind.IDENTITY, *, strict: bool = True) -> Policy:
    """Validate and compile a policy document (JSON text, bytes or an already-parsed mapping).

    Raises :class:`~opensts.policy.errors.MalformedPolicyDocument` with AWS's message, or
    :class:`~opensts.policy.errors.LimitExceeded` for managed/trust size quotas.  Results are
    cached by (text, kind); a mapping is serialised first (duplicate keys cannot exist in it).
    A :class:`Policy` passes through unchanged when its kind matches.

    ``strict=False`` checks structure only (see :func:`~opensts.policy.document.validate_document`)
    and skips size quotas: for evaluating documents as given rather than admitting new ones.
    """
    kind = PolicyKind(kind)
    if isinstance(document, Policy):
        if document.kind is kind:
            return document
        document = document.text
    if isinstance(document, Mapping):
        try:
            document = json.dumps(document, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            raise MalformedPolicyDocument() from None
    elif isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPolicyDocument() from None
    if not isinstance(document, str):
        raise MalformedPolicyDocument()
    return _parse_cached(document, kind, strict)


def compile_cache_info() -> Any:
    """``functools`` cache statistics (hits, misses, size)."""
    return _parse_cached.cache_info()


def clear_compile_cache() -> None:
    _parse_cached.cache_clear()
