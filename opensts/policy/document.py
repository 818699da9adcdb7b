"""Parse and validate policy documents exactly as IAM does (``policy.md`` §1).

Validation walks the whole document and records every problem with its *rank* in IAM's validation
order (§1.7); the lowest rank wins, so a syntax error anywhere beats a legacy-parsing error in an
earlier statement, as IAM reports it.  The ranks:

1. ``Syntax errors in policy.`` — JSON (duplicate keys included), shape, types, element names,
   mutually exclusive pairs, Version value, unknown non-empty operators;
2. ``Policy document must be version 2012-10-17 or greater.`` (managed policies only, CHOICE);
3. ``The policy failed legacy parsing`` — Effect case, Date values, malformed short ARNs;
4. Sid uniqueness / Sid characters (IAM policies);
5. ``Policy statement must contain actions.``;
6. ``Policy statement must contain resources.`` (identity-like kinds);
7. Resource format messages (§1.5);
8. Action vendor messages (§1.5);
9. per-kind rules: principal forbidden (identity-like), trust-policy principal/action/resource
   rules, resource-policy principal rules.

Spec deviation (documented): the spec's table puts "must contain resources" at step 8, after the
resource and action format checks; moto's IAM test table (which mirrors IAM's answers) checks
resource presence right after action presence, before the format messages, and we follow that.

Size quotas (§1.8) count non-whitespace characters and are checked before anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from opensts.frozen import frozen
from opensts.policy import choices
from opensts.policy.conditions import legacy_date_ok, parse_operator
from opensts.policy.errors import (
    MSG_FEDERATED,
    MSG_LEGACY,
    MSG_NO_ACTIONS,
    MSG_NO_PRINCIPALS,
    MSG_NO_RESOURCES,
    MSG_PRINCIPAL_FORBIDDEN,
    MSG_SID_CHARS,
    MSG_SID_UNIQUE,
    MSG_SYNTAX,
    MSG_TRUST_ACTIONS,
    MSG_TRUST_RESOURCE,
    MSG_VERSION,
    LimitExceeded,
    MalformedPolicyDocument,
    ValidationError,
)
from opensts.policy.matching import compile_glob

__all__ = [
    "PolicyKind",
    "ValidatedDocument",
    "load_json",
    "validate_document",
    "policy_size",
    "check_size",
    "check_inline_quota",
    "check_session_policy_length",
]


class PolicyKind(str, Enum):
    """Which rules a document is validated and evaluated under."""

    IDENTITY = "identity"  # inline identity policy (user/group/role)
    MANAGED = "managed"  # customer managed policy version (CreatePolicy / CreatePolicyVersion)
    BOUNDARY = "boundary"  # permissions boundary (a managed policy used as boundary)
    SESSION = "session"  # STS session policy (Policy parameter or PolicyArns document)
    TRUST = "trust"  # role trust (AssumeRolePolicyDocument)
    RESOURCE = "resource"  # any other resource-based policy (generic engine)
    SCP = "scp"
    RCP = "rcp"


IDENTITY_LIKE = frozenset({PolicyKind.IDENTITY, PolicyKind.MANAGED, PolicyKind.BOUNDARY,
                           PolicyKind.SESSION, PolicyKind.SCP})
PRINCIPAL_KINDS = frozenset({PolicyKind.TRUST, PolicyKind.RESOURCE, PolicyKind.RCP})
SID_CHECKED = frozenset({PolicyKind.IDENTITY, PolicyKind.MANAGED, PolicyKind.BOUNDARY})

VERSIONS = ("2012-10-17", "2008-10-17")
TOP_KEYS = frozenset({"Version", "Id", "Statement"})
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                            "Resource", "NotResource", "Condition"})
PRINCIPAL_TYPES = frozenset({"AWS", "Federated", "Service", "CanonicalUser"})
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e",
                        "aws-iso-f", "aws-eusc", "*"})
IAM_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
             "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
             "report/", "access-report/")
TRUST_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
                 "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext")

_SID = re.compile(r"^[A-Za-z0-9]*$")
_VENDOR_BAD = re.compile(r"[^a-zA-Z0-9\-.]")
_AWS_PRINCIPAL = re.compile(
    r"^(?:\d{12}"
    r"|arn:[a-z-]+:iam::\d{12}:(?:root|user/\S+|role/\S+)"
    r"|arn:[a-z-]+:sts::\d{12}:(?:assumed-role/[^/\s]+/\S+|federated-user/\S+)"
    r"|A[A-Z0-9]{15,127})$"
)
_FEDERATED_ARN = re.compile(r"^arn:[a-z-]+:iam::\d{12}:(?:saml-provider|oidc-provider)/\S+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_WS = str.maketrans("", "", " \t\r\n")


@frozen
class ValidatedDocument:
    """A document that passed validation, normalised for compilation."""

    version: str  # "2012-10-17" or "2008-10-17" (absent ⇒ 2008)
    id: str | None
    statements: tuple[dict[str, Any], ...]
    document: dict[str, Any]


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------

class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def load_json(text: str | bytes) -> Any:
    """Strict JSON: duplicate keys, NaN/Infinity and trailing garbage are syntax errors."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_pairs, parse_float=Decimal,
                          parse_constant=_no_constant)
    except (ValueError, RecursionError, TypeError, UnicodeDecodeError):
        raise MalformedPolicyDocument(MSG_SYNTAX) from None


# ------------------------------------------------------------------------------------------------
# Size quotas
# ------------------------------------------------------------------------------------------------

def policy_size(text: str) -> int:
    """IAM's size: characters after deleting every space, TAB, CR and LF (§1.8)."""
    return len(text.translate(_WS))


def check_size(text: str, kind: PolicyKind, *, trust_quota: int | None = None) -> None:
    """Raise ``LimitExceeded`` when a managed policy or a trust policy exceeds its quota."""
    if kind is PolicyKind.MANAGED:
        if policy_size(text) > choices.MANAGED_POLICY_QUOTA:
            raise LimitExceeded(f"Cannot exceed quota for PolicySize: {choices.MANAGED_POLICY_QUOTA}")
    elif kind is PolicyKind.TRUST:
        quota = trust_quota or choices.TRUST_POLICY_QUOTA
        if policy_size(text) > quota:
            raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {quota}")


def check_inline_quota(texts: list[str], entity_type: str, entity_name: str) -> None:
    """Aggregate inline-policy quota of one user/group/role (§1.8)."""
    quota = choices.INLINE_POLICY_QUOTAS[entity_type]
    if sum(policy_size(t) for t in texts) > quota:
        raise LimitExceeded(f"Maximum policy size of {quota} bytes exceeded for {entity_type} {entity_name}")


def check_session_policy_length(text: str) -> None:
    """The STS model's cap on the session ``Policy`` parameter (raw characters, §1.8).

    Applies to AssumeRoleWithSAML, AssumeRoleWithWebIdentity and GetFederationToken (the current
    AssumeRole model has no maximum; the wire layer decides which operations call this).
    """
    limit = choices.SESSION_POLICY_MAX_CHARS
    if len(text) > limit:
        raise ValidationError(
            f"1 validation error detected: Value '{text}' at 'policy' failed to satisfy constraint: "
            f"Member must have length less than or equal to {limit}"
        )


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------

R_SYNTAX, R_VERSION, R_LEGACY, R_SID, R_ACTIONS, R_RESOURCES, R_RES_FORMAT, R_VENDOR, R_KIND = range(1, 10)


def _strings(value: Any) -> list[str] | None:
    """A string or list of strings as a list; None if the shape is wrong."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def resource_format_error(r: str) -> str | None:
    """§1.5 resource messages (None when the resource is acceptable)."""
    if r == "*":
        return None
    _, sep, rest = r.partition(":")
    if not sep:
        return f'Resource {r} must be in ARN format or "*".'
    partition, sep2, rest2 = rest.partition(":")
    if partition not in PARTITIONS:
        rem = rest2.split(":")
        a1 = rem[0] if rem[0] != "" or len(rem) > 1 else "*"
        a2 = rem[1] if len(rem) > 1 else "*"
        a3 = rem[2] if len(rem) > 2 else "*"
        a4 = ":".join(rem[3:]) if len(rem) > 3 else "*"
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{a1}:{a2}:{a3}:{a4}".'
    if sep2 != ":":
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, rest3 = rest2.partition(":")
    _region, _, rest4 = rest3.partition(":")
    resource_part = rest4.partition(":")[2]
    if service == "iam" and not rest3.startswith(":"):
        return f"IAM resource {r} cannot contain region information."
    if service == "s3" and not rest3.startswith(":") and not resource_part.startswith("accesspoint/"):
        return f"Resource {r} can not contain region information."
    # ``root`` is not in IAM's message, but AWS documents ``arn:aws:iam::*:root`` as the resource of
    # sts:AssumeRoot (a member account's root user), and IAM accepts it.
    if service == "iam" and resource_part not in ("*", "root") and not resource_part.startswith(IAM_PATHS):
        return ('IAM resource path must either be "*" or start with ' + ", ".join(IAM_PATHS) + ".")
    return None


def _legacy_resource_ok(r: str) -> bool:
    if r == "*":
        return True
    parts = r.split(":")
    return (r.count(":") >= 5 or "::" not in r) and len(parts) > 2 and parts[2] != ""


def _action_vendor_error(a: str) -> str | None:
    if a == "*":
        return None
    parts = a.split(":")
    if len(parts) == 1:
        return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    if len(parts) > 2:
        return "Actions/Condition can contain only one colon."
    if _VENDOR_BAD.search(parts[0]):
        return f"Vendor {parts[0]} is not valid"
    return None


def _is_trust_action(pattern: str) -> bool:
    glob = compile_glob(pattern, ignore_case=True)
    return any(glob.match(t) for t in TRUST_ACTIONS)


def _principal_shape_ok(value: Any) -> bool:
    if value == "*":
        return True
    if not isinstance(value, dict) or not value:
        return isinstance(value, dict)
    return all(k in PRINCIPAL_TYPES and _strings(v) is not None for k, v in value.items())


def _principal_errors(value: Any) -> str | None:
    """Rank-9 message for a Principal/NotPrincipal value (shape already valid)."""
    if value == "*":
        return None
    if not value or all(not _strings(v) for v in value.values()):
        return MSG_NO_PRINCIPALS
    for ptype, raw in value.items():
        for v in _strings(raw) or []:
            if ptype == "AWS":
                if v != "*" and ("*" in v or "?" in v or not _AWS_PRINCIPAL.match(v)):
                    return f'Invalid principal in policy: "AWS":"{v}"'
            elif ptype == "Federated":
                if not (_FEDERATED_ARN.match(v) or _DOMAIN.match(v)):
                    return MSG_FEDERATED
            elif ptype == "Service":
                if not v or "*" in v or " " in v:
                    return f'Invalid principal in policy: "SERVICE":"{v}"'
            elif not v:
                return f'Invalid principal in policy: "{ptype.upper()}":"{v}"'
    return None


def _condition_syntax_ok(cond: Any) -> bool:
    if not isinstance(cond, dict):
        return False
    for op, body in cond.items():
        if not isinstance(body, dict):
            return False
        if parse_operator(op) is None:
            if body:
                return False
            continue
        for values in body.values():
            items = values if isinstance(values, list) else [values]
            for v in items:
                if not isinstance(v, str | int | Decimal | bool) or isinstance(v, float):
                    return False
    return True


def validate_document(doc: Any, kind: PolicyKind, *, strict: bool = True) -> ValidatedDocument:
    """Validate a parsed JSON document for ``kind``; raise the first error in IAM's order.

    ``strict=False`` enforces only the structural (rank 1, "Syntax errors in policy.") rules the
    compiler needs, for documents that are evaluated as given (case files, documents stored by an
    older validator): e.g. an action ``"sts:A,sts:B"`` is then kept and simply matches nothing.
    """
    issues: list[tuple[int, str]] = []

    def bad(rank: int, message: str) -> None:
        issues.append((rank, message))

    def fail() -> MalformedPolicyDocument:
        _rank, message = min(issues, key=lambda i: i[0])
        return MalformedPolicyDocument(message)

    if not isinstance(doc, dict) or any(k not in TOP_KEYS for k in doc):
        raise MalformedPolicyDocument(MSG_SYNTAX)
    version = doc.get("Version", None)
    if "Version" in doc and version not in VERSIONS:
        raise MalformedPolicyDocument(MSG_SYNTAX)
    if "Id" in doc and not isinstance(doc["Id"], str):
        raise MalformedPolicyDocument(MSG_SYNTAX)
    raw = doc.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise MalformedPolicyDocument(MSG_SYNTAX)

    if kind is PolicyKind.MANAGED and version != "2012-10-17":
        bad(R_VERSION, MSG_VERSION)

    sids: set[str] = set()
    for st in statements:
        # ---- rank 1: shape ------------------------------------------------------------------
        if any(k not in STATEMENT_KEYS for k in st):
            raise MalformedPolicyDocument(MSG_SYNTAX)
        for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
            if a in st and b in st:
                raise MalformedPolicyDocument(MSG_SYNTAX)
        effect = st.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise MalformedPolicyDocument(MSG_SYNTAX)
        if "Sid" in st and not isinstance(st["Sid"], str):
            raise MalformedPolicyDocument(MSG_SYNTAX)
        for name in ("Action", "NotAction", "Resource", "NotResource"):
            if name in st and _strings(st[name]) is None:
                raise MalformedPolicyDocument(MSG_SYNTAX)
        for name in ("Principal", "NotPrincipal"):
            if name in st and not _principal_shape_ok(st[name]):
                raise MalformedPolicyDocument(MSG_SYNTAX)
        if "Condition" in st and not _condition_syntax_ok(st["Condition"]):
            raise MalformedPolicyDocument(MSG_SYNTAX)

        # ---- rank 3: legacy parsing ---------------------------------------------------------
        if effect not in ("Allow", "Deny"):
            bad(R_LEGACY, MSG_LEGACY)
        for op, body in (st.get("Condition") or {}).items():
            spec = parse_operator(op)
            if spec is not None and spec.base.startswith("Date"):
                for values in body.values():
                    for v in values if isinstance(values, list) else [values]:
                        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                        if not legacy_date_ok(text):
                            bad(R_LEGACY, MSG_LEGACY)

        # ---- rank 4: Sid --------------------------------------------------------------------
        sid = st.get("Sid")
        if sid:
            if kind in SID_CHECKED and not _SID.match(sid):
                bad(R_SID, MSG_SID_CHARS)
            if sid in sids:
                bad(R_SID, MSG_SID_UNIQUE)
            sids.add(sid)

        # ---- rank 5/6: presence -------------------------------------------------------------
        actions = _strings(st.get("Action", st.get("NotAction", []))) or []
        if not actions:
            bad(R_ACTIONS, MSG_NO_ACTIONS)
        resources = _strings(st.get("Resource", st.get("NotResource", []))) or []
        if kind in IDENTITY_LIKE and not resources:
            bad(R_RESOURCES, MSG_NO_RESOURCES)

        # ---- rank 7/3: resource format and legacy resource parse ----------------------------
        for r in sorted(resources, reverse=True):
            err = resource_format_error(r)
            if err is not None:
                bad(R_RES_FORMAT, err)
            elif not _legacy_resource_ok(r):
                bad(R_LEGACY, MSG_LEGACY)

        # ---- rank 8: action vendors ---------------------------------------------------------
        for a in actions:
            err = _action_vendor_error(a)
            if err is not None:
                bad(R_VENDOR, err)

        # ---- rank 9: per-kind rules ---------------------------------------------------------
        if kind in IDENTITY_LIKE:
            if "Principal" in st or "NotPrincipal" in st:
                bad(R_KIND, MSG_PRINCIPAL_FORBIDDEN)
        elif kind is PolicyKind.TRUST:
            if "NotPrincipal" in st:
                bad(R_KIND, "Has prohibited field NotPrincipal")
            elif "Principal" not in st:
                bad(R_KIND, MSG_NO_PRINCIPALS)
            else:
                err = _principal_errors(st["Principal"])
                if err:
                    bad(R_KIND, err)
            if any(not _is_trust_action(a) for a in actions if _action_vendor_error(a) is None):
                bad(R_KIND, MSG_TRUST_ACTIONS)
            for name in ("Resource", "NotResource"):
                if name in st:
                    bad(R_KIND, MSG_TRUST_RESOURCE if name == "Resource" else "Has prohibited field NotResource")
        else:  # RESOURCE, RCP
            element = st.get("Principal", st.get("NotPrincipal"))
            if element is None:
                bad(R_KIND, MSG_NO_PRINCIPALS)
            else:
                err = _principal_errors(element)
                if err:
                    bad(R_KIND, err)

    if issues and strict:
        raise fail()
    return ValidatedDocument(version=version or "2008-10-17", id=doc.get("Id"),
                             statements=tuple(statements), document=doc)


def parse_document(text: str | bytes | Mapping[str, Any], kind: PolicyKind, *,
                   strict: bool = True) -> ValidatedDocument:
    """Size check, strict JSON, validation."""
    if isinstance(text, Mapping):
        try:
            text = json.dumps(text)
        except (TypeError, ValueError, RecursionError):
            raise MalformedPolicyDocument(MSG_SYNTAX) from None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPolicyDocument(MSG_SYNTAX) from None
    if not isinstance(text, str):
        raise MalformedPolicyDocument(MSG_SYNTAX)
    if strict:
        check_size(text, kind)
    return validate_document(load_json(text), kind, strict=strict)
