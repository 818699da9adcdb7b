"""Explain traces: what the engine looked at and why it decided.

A :class:`Trace` lists every policy consulted, every statement in it and — per statement — whether
the principal, action, resource and each condition matched, with the context value compared.  It is
the basis of DecodeAuthorizationMessage and of ``opensts policy evaluate``: :meth:`Trace.to_dict`
is the JSON form, :meth:`Trace.render` the text a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConditionTrace", "StatementTrace", "PolicyTrace", "Trace"]


def _show(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


@dataclass(slots=True)
class ConditionTrace:
    operator: str
    key: str
    values: list[str]
    context_value: Any  # None when the key is absent
    result: bool

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "key": self.key, "values": self.values,
                "context_value": _show(self.context_value), "result": self.result}

    def render(self) -> str:
        got = "absent" if self.context_value is None else repr(_show(self.context_value))
        mark = "true " if self.result else "FALSE"
        return f"{mark} {self.operator} {self.key} {self.values} (request value: {got})"


@dataclass(slots=True)
class StatementTrace:
    index: int
    sid: str | None
    effect: str
    applies: bool
    action: bool
    resource: bool | None = None  # None: the statement has no Resource (trust policies)
    principal: str | None = None  # match kind ("direct", "account"…), "no match", or None (n/a)
    conditions: list[ConditionTrace] = field(default_factory=list)

    @property
    def why_not(self) -> str | None:
        """The first element that failed, in evaluation order (None when the statement applies)."""
        if self.applies:
            return None
        if not self.action:
            return "action does not match"
        if self.principal == "no match":
            return "principal does not match"
        if self.resource is False:
            return "resource does not match"
        for c in self.conditions:
            if not c.result:
                return f"condition {c.operator} on {c.key} is false"
        return "does not apply"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "effect": self.effect, "applies": self.applies,
                               "action": self.action}
        if self.sid:
            out["sid"] = self.sid
        if self.principal is not None:
            out["principal"] = self.principal
        if self.resource is not None:
            out["resource"] = self.resource
        if self.conditions:
            out["conditions"] = [c.to_dict() for c in self.conditions]
        return out

    def render(self) -> list[str]:
        name = f"statement {self.index}" + (f" ({self.sid})" if self.sid else "")
        state = "APPLIES" if self.applies else f"skipped: {self.why_not}"
        lines = [f"{name}: {self.effect} — {state}"]
        if self.principal is not None:
            lines.append(f"    principal: {self.principal}")
        lines.append(f"    action:    {'match' if self.action else 'no match'}")
        if self.resource is not None:
            lines.append(f"    resource:  {'match' if self.resource else 'no match'}")
        for c in self.conditions:
            lines.append(f"    condition: {c.render()}")
        return lines


@dataclass(slots=True)
class PolicyTrace:
    label: str  # "identity[0]", "boundary", "session[1]", "trust", "resource", "scp[0]", "rcp[0]"
    result: str  # "Deny" | "Allow" | "NoMatch"
    statements: list[StatementTrace] = field(default_factory=list)
    grant: str | None = None  # best principal kind of an applicable Allow (resource policies)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.label, "result": self.result,
                               "statements": [s.to_dict() for s in self.statements]}
        if self.grant:
            out["grant"] = self.grant
        return out


@dataclass(slots=True)
class Trace:
    action: str
    resource: str
    principal: str
    decision: str = ""
    reason: str = ""
    policies: list[PolicyTrace] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"request": {"action": self.action, "resource": self.resource, "principal": self.principal},
                "decision": self.decision, "reason": self.reason, "steps": list(self.steps),
                "policies": [p.to_dict() for p in self.policies]}

    def render(self) -> str:
        """Multi-line text for a person."""
        lines = [f"Request: {self.principal} -> {self.action} on {self.resource}",
                 f"Decision: {self.decision} — {self.reason}"]
        if self.steps:
            lines.append("Steps:")
            lines.extend(f"  - {s}" for s in self.steps)
        for p in self.policies:
            grant = f", grant kind {p.grant}" if p.grant else ""
            lines.append(f"Policy {p.label}: {p.result}{grant}")
            for s in p.statements:
                lines.extend("  " + line for line in s.render())
        return "\n".join(lines)
