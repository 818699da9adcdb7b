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

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from opensts.frozen import frozen
from opensts.policy import choices
from opensts.policy.conditions import BASE_OPERATORS, legacy_date_ok, parse_operator
from opensts.policy.errors import (
    NOTHING,
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
    Problem,
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

_SID = re.compile(r"^[A-Za-z0-9]*\Z")
_VENDOR_BAD = re.compile(r"[^a-zA-Z0-9\-.]")
_AWS_PRINCIPAL = re.compile(
    r"^(?:\d{12}"
    r"|arn:[a-z-]+:iam::\d{12}:(?:root|user/\S+|role/\S+)"
    r"|arn:[a-z-]+:sts::\d{12}:(?:assumed-role/[^/\s]+/\S+|federated-user/\S+)"
    r"|A[A-Z0-9]{15,127})\Z",
    re.ASCII,
)
_FEDERATED_ARN = re.compile(r"^arn:[a-z-]+:iam::\d{12}:(?:saml-provider|oidc-provider)/\S+\Z", re.ASCII)
_DOMAIN = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z", re.ASCII)
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
    except _Duplicate as exc:
        raise MalformedPolicyDocument(MSG_SYNTAX, Problem(expected=f"each key once in an object (\"{exc}\" "
                                                          "repeats)", got=str(exc), at_key=True)) from None
    except json.JSONDecodeError as exc:
        raise MalformedPolicyDocument(MSG_SYNTAX, Problem(expected=f"valid JSON: {exc.msg}", line=exc.lineno,
                                                          column=exc.colno)) from None
    except ValueError as exc:  # NaN / Infinity (parse_constant), undecodable bytes
        raise MalformedPolicyDocument(MSG_SYNTAX, Problem(expected=f"valid JSON (not {exc})")) from None
    except (RecursionError, TypeError):
        raise MalformedPolicyDocument(MSG_SYNTAX, Problem(expected="valid JSON, nested less deeply")) from None


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


# ------------------------------------------------------------------------------------------------
# Problems: where a document fails and what was expected (for the command line; the wire answer is
# AWS's message alone). Each helper answers None when the element is fine.
# ------------------------------------------------------------------------------------------------

Path = tuple[str | int, ...]
_EFFECTS = '"Allow" or "Deny"'
_STRINGS = "a string or an array of strings"
_CONDITION_VALUE = "a string, number or boolean, or an array of them"
_ARN_OR_STAR = 'an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE) or "*"'


def _did_you_mean(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _one_of(names: Any) -> str:
    return "one of " + ", ".join(sorted(names))


def _strings_problem(value: Any, path: Path) -> Problem | None:
    """A string or a list of strings; else the element (or the item) that is not."""
    if isinstance(value, str):
        return None
    if isinstance(value, list):
        for j, item in enumerate(value):
            if not isinstance(item, str):
                return Problem(path + (j,), "a string", item)
        return None
    return Problem(path, _STRINGS, value)


def _principal_problem(value: Any, path: Path) -> Problem | None:
    expected = '"*" or an object of AWS, Federated, Service, CanonicalUser'
    if value == "*" or value == {}:
        return None
    if not isinstance(value, dict):
        return Problem(path, expected, value)
    for ptype, raw in value.items():
        if ptype not in PRINCIPAL_TYPES:
            return Problem(path + (ptype,), "a principal type: " + _one_of(PRINCIPAL_TYPES)
                           + _did_you_mean(ptype, PRINCIPAL_TYPES),
                           ptype, at_key=True)
        problem = _strings_problem(raw, path + (ptype,))
        if problem is not None:
            return problem
    return None


def _operator_names() -> list[str]:
    return sorted(BASE_OPERATORS | {f"{b}IfExists" for b in BASE_OPERATORS})


def _condition_problem(cond: Any, path: Path) -> Problem | None:
    if not isinstance(cond, dict):
        return Problem(path, "an object of condition operators", cond)
    for op, body in cond.items():
        if not isinstance(body, dict):
            return Problem(path + (op,), "an object of condition keys and values", body)
        if parse_operator(op) is None:
            if body:
                base = op.split(":", 1)[1] if op.startswith(("ForAllValues:", "ForAnyValue:")) else op
                hint = _did_you_mean(base, _operator_names())
                return Problem(path + (op,), f"a condition operator{hint}", op, at_key=True)
            continue
        for key, values in body.items():
            items = values if isinstance(values, list) else [values]
            for v in items:
                if not isinstance(v, str | int | Decimal | bool) or isinstance(v, float):
                    return Problem(path + (op, key), _CONDITION_VALUE, v)
    return None


def _statement_problem(st: dict[str, Any], sp: Path) -> Problem | None:
    """Rank 1 ("Syntax errors in policy.") in one statement: the first problem, in IAM's order."""
    for k in st:
        if k not in STATEMENT_KEYS:
            return Problem(sp + (k,), "a statement element: " + _one_of(STATEMENT_KEYS)
                           + _did_you_mean(k, STATEMENT_KEYS), k, at_key=True)
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if a in st and b in st:
            return Problem(sp + (b,), f"{a} or {b}, not both", b, at_key=True)
    effect = st.get("Effect")
    if "Effect" not in st:
        return Problem(sp, f'an "Effect": {_EFFECTS}')
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        return Problem(sp + ("Effect",), _EFFECTS + (_did_you_mean(effect, ("Allow", "Deny"))
                                                    if isinstance(effect, str) else ""), effect)
    if "Sid" in st and not isinstance(st["Sid"], str):
        return Problem(sp + ("Sid",), "a string", st["Sid"])
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in st and (problem := _strings_problem(st[name], sp + (name,))) is not None:
            return problem
    for name in ("Principal", "NotPrincipal"):
        if name in st and (problem := _principal_problem(st[name], sp + (name,))) is not None:
            return problem
    if "Condition" in st:
        return _condition_problem(st["Condition"], sp + ("Condition",))
    return None


def _document_problem(doc: Any) -> Problem | None:
    """Rank 1 in the document's own shape (before any statement is looked at)."""
    if not isinstance(doc, dict):
        return Problem((), "a JSON object with Version and Statement", doc)
    for k in doc:
        if k not in TOP_KEYS:
            return Problem((k,), "a top-level element: " + _one_of(TOP_KEYS) + _did_you_mean(k, TOP_KEYS), k,
                           at_key=True)
    if "Version" in doc and doc["Version"] not in VERSIONS:
        return Problem(("Version",), '"2012-10-17" (or the legacy "2008-10-17")', doc["Version"])
    if "Id" in doc and not isinstance(doc["Id"], str):
        return Problem(("Id",), "a string", doc["Id"])
    raw = doc.get("Statement")
    if "Statement" not in doc:
        return Problem((), 'a "Statement": an object or a non-empty array of objects')
    if isinstance(raw, dict):
        return None
    if not isinstance(raw, list) or not raw:
        return Problem(("Statement",), "a statement object or a non-empty array of them", raw)
    for i, st in enumerate(raw):
        if not isinstance(st, dict):
            return Problem(("Statement", i), "a statement object", st)
    return None


def _items(st: dict[str, Any], names: tuple[str, str], sp: Path) -> Iterator[tuple[Path, str]]:
    """(path, value) of each string of Action/NotAction (or Resource/NotResource)."""
    for name in names:
        value = st.get(name)
        if isinstance(value, str):
            yield sp + (name,), value
        elif isinstance(value, list):
            for j, v in enumerate(value):
                yield sp + (name, j), v


def validate_document(doc: Any, kind: PolicyKind, *, strict: bool = True) -> ValidatedDocument:
    """Validate a parsed JSON document for ``kind``; raise the first error in IAM's order.

    ``strict=False`` enforces only the structural (rank 1, "Syntax errors in policy.") rules the
    compiler needs, for documents that are evaluated as given (case files, documents stored by an
    older validator): e.g. an action ``"sts:A,sts:B"`` is then kept and simply matches nothing.
    Every error carries a :class:`Problem` (where, what was expected) for the command line.
    """
    issues: list[tuple[int, str, Problem]] = []

    def bad(rank: int, message: str, problem: Problem) -> None:
        issues.append((rank, message, problem))

    problem = _document_problem(doc)
    if problem is not None:
        raise MalformedPolicyDocument(MSG_SYNTAX, problem)
    version = doc.get("Version", None)
    raw = doc["Statement"]
    single = isinstance(raw, dict)
    statements = [raw] if single else raw

    if kind is PolicyKind.MANAGED and version != "2012-10-17":
        bad(R_VERSION, MSG_VERSION, Problem(("Version",), '"2012-10-17" in a managed policy',
                                            doc.get("Version", NOTHING)))

    sids: set[str] = set()
    for i, st in enumerate(statements):
        sp: Path = ("Statement",) if single else ("Statement", i)
        # ---- rank 1: shape ------------------------------------------------------------------
        problem = _statement_problem(st, sp)
        if problem is not None:
            raise MalformedPolicyDocument(MSG_SYNTAX, problem)
        effect = st["Effect"]

        # ---- rank 3: legacy parsing ---------------------------------------------------------
        if effect not in ("Allow", "Deny"):
            bad(R_LEGACY, MSG_LEGACY, Problem(sp + ("Effect",), f"{_EFFECTS} (capitalised)", effect))
        for op, body in (st.get("Condition") or {}).items():
            spec = parse_operator(op)
            if spec is not None and spec.base.startswith("Date"):
                for key, values in body.items():
                    for v in values if isinstance(values, list) else [values]:
                        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                        if not legacy_date_ok(text):
                            bad(R_LEGACY, MSG_LEGACY, Problem(sp + ("Condition", op, key),
                                                              "a date: ISO 8601 or epoch seconds", v))

        # ---- rank 4: Sid --------------------------------------------------------------------
        sid = st.get("Sid")
        if sid:
            if kind in SID_CHECKED and not _SID.match(sid):
                bad(R_SID, MSG_SID_CHARS, Problem(sp + ("Sid",), "letters and digits only", sid))
            if sid in sids:
                bad(R_SID, MSG_SID_UNIQUE, Problem(sp + ("Sid",), "a Sid no other statement has", sid))
            sids.add(sid)

        # ---- rank 5/6: presence -------------------------------------------------------------
        actions = list(_items(st, ("Action", "NotAction"), sp))
        if not actions:
            bad(R_ACTIONS, MSG_NO_ACTIONS, Problem(sp, "a non-empty Action or NotAction"))
        resources = list(_items(st, ("Resource", "NotResource"), sp))
        if kind in IDENTITY_LIKE and not resources:
            bad(R_RESOURCES, MSG_NO_RESOURCES, Problem(sp, "a non-empty Resource or NotResource"))

        # ---- rank 7/3: resource format and legacy resource parse ----------------------------
        for path, r in sorted(resources, key=lambda pr: pr[1], reverse=True):
            err = resource_format_error(r)
            if err is not None:
                bad(R_RES_FORMAT, err, Problem(path, _ARN_OR_STAR, r))
            elif not _legacy_resource_ok(r):
                bad(R_LEGACY, MSG_LEGACY, Problem(path, "a complete ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:"
                                                        "RESOURCE)", r))

        # ---- rank 8: action vendors ---------------------------------------------------------
        for path, a in actions:
            err = _action_vendor_error(a)
            if err is not None:
                bad(R_VENDOR, err, Problem(path, 'SERVICE:ACTION (e.g. "s3:GetObject") or "*"', a))

        # ---- rank 9: per-kind rules ---------------------------------------------------------
        _kind_rules(st, sp, kind, [a for _p, a in actions], bad)

    if issues and strict:
        _rank, message, problem = min(issues, key=lambda i: i[0])
        raise MalformedPolicyDocument(message, problem)
    return ValidatedDocument(version=version or "2008-10-17", id=doc.get("Id"),
                             statements=tuple(statements), document=doc)


def _kind_rules(st: dict[str, Any], sp: Path, kind: PolicyKind, actions: list[str], bad: Any) -> None:
    """Rank 9: what each kind of policy may (not) say about principals, actions and resources."""
    if kind in IDENTITY_LIKE:
        for name in ("Principal", "NotPrincipal"):
            if name in st:
                bad(R_KIND, MSG_PRINCIPAL_FORBIDDEN,
                    Problem(sp + (name,), f"no {name} in a {kind.value} policy", name, at_key=True))
        return
    if kind is PolicyKind.TRUST:
        if "NotPrincipal" in st:
            bad(R_KIND, "Has prohibited field NotPrincipal",
                Problem(sp + ("NotPrincipal",), "Principal, not NotPrincipal, in a trust policy", at_key=True))
        elif "Principal" not in st:
            bad(R_KIND, MSG_NO_PRINCIPALS, Problem(sp, "a Principal in a trust policy"))
        else:
            err = _principal_errors(st["Principal"])
            if err:
                bad(R_KIND, err, Problem(sp + ("Principal",), "a valid principal", st["Principal"]))
        if any(not _is_trust_action(a) for a in actions if _action_vendor_error(a) is None):
            name = "Action" if "Action" in st else "NotAction"
            bad(R_KIND, MSG_TRUST_ACTIONS, Problem(sp + (name,), "only " + ", ".join(TRUST_ACTIONS), st[name]))
        for name in ("Resource", "NotResource"):
            if name in st:
                bad(R_KIND, MSG_TRUST_RESOURCE if name == "Resource" else "Has prohibited field NotResource",
                    Problem(sp + (name,), f"no {name} in a trust policy", name, at_key=True))
        return
    element = st.get("Principal", st.get("NotPrincipal"))  # RESOURCE, RCP
    if element is None:
        bad(R_KIND, MSG_NO_PRINCIPALS, Problem(sp, f"a Principal in a {kind.value} policy"))
    else:
        err = _principal_errors(element)
        if err:
            name = "Principal" if "Principal" in st else "NotPrincipal"
            bad(R_KIND, err, Problem(sp + (name,), "a valid principal", element))


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
