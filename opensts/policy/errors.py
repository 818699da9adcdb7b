"""Errors the policy engine raises, as AWS wire errors.

Every refusal to accept a policy document is a :class:`MalformedPolicyDocument` (HTTP 400) carrying
AWS's exact message, or a :class:`LimitExceeded` (HTTP 409) for IAM size quotas.  Both subclass the
wire layer's :class:`~opensts.protocol.errors.ServiceError`, so a handler can let them propagate and
the protocol layer renders them unchanged.  The message texts live here as constants so tests and
callers never retype them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opensts.protocol.errors import ServiceError, ValidationError

__all__ = [
    "PolicyError",
    "Problem",
    "NOTHING",
    "MalformedPolicyDocument",
    "LimitExceeded",
    "ValidationError",
    "MSG_SYNTAX",
    "MSG_VERSION",
    "MSG_LEGACY",
    "MSG_SID_UNIQUE",
    "MSG_SID_CHARS",
    "MSG_NO_ACTIONS",
    "MSG_NO_RESOURCES",
    "MSG_PRINCIPAL_FORBIDDEN",
    "MSG_NO_PRINCIPALS",
    "MSG_TRUST_ACTIONS",
    "MSG_TRUST_RESOURCE",
    "MSG_FEDERATED",
]

MSG_SYNTAX = "Syntax errors in policy."
MSG_VERSION = "Policy document must be version 2012-10-17 or greater."
MSG_LEGACY = "The policy failed legacy parsing"
MSG_SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
MSG_SID_CHARS = (
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
    "expression [0-9A-Za-z]*"
)
MSG_NO_ACTIONS = "Policy statement must contain actions."
MSG_NO_RESOURCES = "Policy statement must contain resources."
MSG_PRINCIPAL_FORBIDDEN = "Policy document should not specify a principal."
MSG_NO_PRINCIPALS = (
    "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
    "The passed in policy has a statement with no principals!"
)
MSG_TRUST_ACTIONS = "AssumeRole policy may only specify STS AssumeRole actions."
MSG_TRUST_RESOURCE = "Has prohibited field Resource"
MSG_FEDERATED = "Federated principals must be valid domain names or SAML metadata ARNs"


class PolicyError(ServiceError):
    """Base class of every error this package raises (never raised itself)."""


NOTHING: Any = type("Nothing", (), {"__repr__": lambda self: "NOTHING"})()  # "got": the element is absent


@dataclass(frozen=True)
class Problem:
    """Where a document fails and what was expected there, for people: ``opensts policy validate``
    prints it; the wire answer stays AWS's message alone (IAM says no more than "Syntax errors in
    policy.").

    ``path`` walks the parsed document (``("Statement", 0, "Effect")``); ``at_key``: the path names
    a key that should not be there (point at the key, not its value); ``line``/``column`` (1-based)
    are set only by the JSON parser — for anything else the CLI finds them from the path."""

    path: tuple[str | int, ...] = ()
    expected: str = ""
    got: Any = NOTHING
    at_key: bool = False
    line: int | None = None
    column: int | None = None

    def where(self) -> str:
        """``Statement[0].Condition.StringEquals."aws:username"``-style path text."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                shown = part if part.replace("_", "").isalnum() else f'"{part}"'
                out += f".{shown}" if out else shown
        return out or "(document)"


class MalformedPolicyDocument(PolicyError):
    """``MalformedPolicyDocument`` (HTTP 400): the document fails IAM's validation. ``problem``
    (optional) says where and what was expected; the wire layer renders ``message`` only."""

    code = "MalformedPolicyDocument"
    status = 400

    def __init__(self, message: str = MSG_SYNTAX, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.problem = problem


class LimitExceeded(PolicyError):
    """``LimitExceeded`` (HTTP 409): an IAM size quota (policy size, trust policy size, inline total)."""

    code = "LimitExceeded"
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
