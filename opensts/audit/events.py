"""CloudTrail records, built the way AWS writes them for STS and IAM (sts-api.md §6).

One record per call: ``userIdentity`` per principal type, camelCase ``requestParameters``
(sensitive members — SAML assertions, web identity tokens — never included), ``responseElements``
with credentials but without the secret key or the session token, ``additionalEventData`` with
``ExtendedRequestId`` and ``RequestDetails {endpointType, awsServingRegion}`` on every STS event,
``tlsDetails`` when the call came over TLS, ``errorCode``/``errorMessage`` for failures. A
cross-account AssumeRole yields two copies sharing ``sharedEventID``, one per account.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from opensts.auth.principals import Caller
from opensts.fastrand import alnum, request_id
from opensts.service.context import RequestInfo

__all__ = ["build_events", "encodable", "EVENT_VERSION", "READ_ONLY_STS", "java_time", "extended_request_id",
           "extended_request_id_at", "Call"]

EVENT_VERSION = "1.11"
_SOURCES = {"sts": "sts.amazonaws.com", "iam": "iam.amazonaws.com", "account": "account.amazonaws.com",
            "organizations": "organizations.amazonaws.com"}
#: readOnly per STS action (IAM docs): AssumeRole* are readOnly true with responseElements.
READ_ONLY_STS = {
    "AssumeRole": True, "AssumeRoleWithSAML": True, "AssumeRoleWithWebIdentity": True, "GetCallerIdentity": True,
    "DecodeAuthorizationMessage": True, "GetAccessKeyInfo": True, "GetWebIdentityToken": True,
    "AssumeRoot": False, "GetFederationToken": False, "GetSessionToken": False, "GetDelegatedAccessToken": False,
}
_NO_RESPONSE = {"GetCallerIdentity", "DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetWebIdentityToken"}
#: Read-only actions outside STS (IAM, Organizations, Account): named so by AWS's prefixes.
_READ_PREFIXES = ("Get", "List", "Describe", "Simulate")
_SECRET_FIELDS = {"secretAccessKey", "sessionToken", "webIdentityToken", "sAMLAssertion", "tokenCode",
                  "encodedMessage", "decodedMessage", "password", "tradeInToken", "base32StringSeed", "qRCodePNG",
                  "authenticationCode1", "authenticationCode2", "privateKey", "sAMLMetadataDocument",
                  # IAM user credentials (botocore marks them sensitive too; named here so they stay out
                  # even where a model would not): console passwords, service-specific passwords
                  "oldPassword", "newPassword", "servicePassword", "serviceCredentialSecret"}


class Call:
    """What the edge knows about one finished call, for the audit trail."""

    __slots__ = ("service", "info", "params", "result", "error_code", "error_message", "tls", "sensitive")

    def __init__(self, service: str, info: RequestInfo, params: Mapping[str, Any] | None,
                 result: Mapping[str, Any] | None, error_code: str | None = None, error_message: str | None = None,
                 tls: Mapping[str, str] | None = None, sensitive: frozenset[str] = frozenset()) -> None:
        self.service, self.info, self.params, self.result = service, info, params, result
        self.error_code, self.error_message, self.tls, self.sensitive = error_code, error_message, tls, sensitive


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def java_time(value: datetime) -> str:
    """CloudTrail's ``expiration`` format: ``Feb 12, 2025, 11:16:48 PM`` (memoised per instant:
    the credentials issued in one second share their expiry)."""
    utc = value.astimezone(timezone.utc)
    hour = utc.hour % 12 or 12
    return (f"{_MONTHS[utc.month - 1]} {utc.day}, {utc.year}, {hour}:{utc.minute:02d}:{utc.second:02d} "
            f"{'AM' if utc.hour < 12 else 'PM'}")


def extended_request_id(region: str, now: datetime) -> str:
    """``base64("1:<region>:S:<epoch ms>:R:<8 alnum>")``, as observed on real STS events."""
    return extended_request_id_at(region, int(now.timestamp() * 1000))


def extended_request_id_at(region: str, epoch_ms: int) -> str:
    tail = alnum(8)
    return base64.b64encode(f"1:{region}:S:{epoch_ms}:R:{tail}".encode()).decode()


_last_time: list[Any] = [None, ""]


def _event_time(now: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, formatted once per second (strftime is the costliest step)."""
    second = int(now.timestamp())
    if _last_time[0] != second:
        _last_time[0], _last_time[1] = second, now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(_last_time[1])


_CAMEL: dict[str, str | None] = {}  # member name → camelCase, or None for a secret (memoised)


def _camel(name: str) -> str | None:
    """camelCase of a model member name; None when the member must never be recorded."""
    out = _CAMEL.get(name)
    if out is None and name not in _CAMEL:
        if type(name) is not str:
            name = str(name)
        camel = name[:1].lower() + name[1:] if name else name
        out = None if camel in _SECRET_FIELDS else camel
        if len(_CAMEL) < 10_000:
            _CAMEL[name] = out
    return out


def _camel_value(value: Any, sensitive: frozenset[str]) -> Any:
    """The input/output dicts are plain dicts/lists from the wire layer, so exact type checks
    (not ABC isinstance, measured as the costliest part of building a record) are enough."""
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            camel = _camel(k)
            if camel is not None and k not in sensitive:
                out[camel] = v if type(v) is str or type(v) is int else _camel_value(v, sensitive)
        return out
    if kind is list or kind is tuple:
        return [_camel_value(v, sensitive) for v in value]
    if kind is datetime:
        return java_time(value)
    if kind is bytes:
        return None
    if isinstance(value, Mapping):
        return _camel_value(dict(value), sensitive)
    return value


#: What the journal's encoder (orjson) accepts: integers in 64 bits, nesting under 255 levels.
_INT_RANGE = (-(2**63), 2**64 - 1)
_MAX_DEPTH = 64


def encodable(value: Any, depth: int = 0) -> Any:
    """``value`` with everything the journal's JSON encoder would refuse made safe, so a record can
    always be written: lone surrogates become U+FFFD, integers beyond 64 bits their decimal text,
    non-string keys strings, anything nested deeper than 64 levels a marker string, unknown types
    ``None``. Records are built from checked input and never need it; it is the fallback that
    keeps the trail total (``AuditTrail.record`` uses it when encoding a record fails)."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if value is None or kind is bool or kind is float:
        return value
    if kind is int:
        return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else _int_text(value)
    if depth >= _MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        return {encodable(k if type(k) is str else str(k)): encodable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value
    return None


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return "<integer too large>"


def _request_parameters(call: Call) -> dict[str, Any] | None:
    if not call.params or call.info.action == "GetCallerIdentity":
        return None
    params = dict(call.params)
    if call.info.action == "AssumeRoleWithSAML":
        assertion_id = call.info.extra.get("saml_assertion_id")
        if assertion_id:
            params["SAMLAssertionID"] = assertion_id
    out = _camel_value(params, call.sensitive)
    tags = out.get("tags")
    if type(tags) is list and all(type(t) is dict for t in tags):
        out["tags"] = [{"key": t.get("key"), "value": t.get("value")} for t in tags]
    inherited = call.info.extra.get("incoming_transitive_tags")
    if inherited:
        out["incomingTransitiveTags"] = dict(inherited)  # type: ignore[arg-type]
    return out or None


def read_only(service: str, action: str) -> bool:
    """CloudTrail's ``readOnly``: STS's per action (its credential-issuing reads are read-only
    too), elsewhere the read prefixes."""
    if service == "sts":
        return READ_ONLY_STS.get(action, action.startswith(_READ_PREFIXES))
    return action.startswith(_READ_PREFIXES)


def _response_elements(call: Call) -> dict[str, Any] | None:
    """The call's result, camelCased, for the calls AWS records it for: those that make changes
    (CloudTrail's record contents: "present in events for actions that make changes"), plus STS's
    credential-issuing calls. A read (Get*, List*, Describe*) records none: a ListRoles page of
    1,000 roles is not copied into the trail."""
    if call.result is None or call.error_code or call.info.action in _NO_RESPONSE:
        return None
    if call.service != "sts" and read_only(call.service, call.info.action):
        return None
    out = _camel_value(call.result, call.sensitive)
    return out or None


def user_identity(caller: Caller | None, info: RequestInfo) -> dict[str, Any]:
    if caller is None:
        federated = info.extra.get("federated_identity")
        return dict(federated) if isinstance(federated, Mapping) else {"type": "Unknown"}
    ident: dict[str, Any] = {
        "type": caller.type if caller.type != "Root" else "Root",
        "principalId": caller.user_id,
        "arn": caller.arn,
        "accountId": caller.account_id,
        "accessKeyId": caller.access_key_id,
    }
    if caller.type == "IAMUser":
        ident["userName"] = caller.name
    session = caller.session
    if session is not None:
        context: dict[str, Any] = {
            "attributes": {
                "creationDate": datetime.fromtimestamp(session.issued_at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": "true" if session.mfa_authenticated else "false",
            }
        }
        if caller.type == "AssumedRole":
            role_arn = str(session.extra.get("role_arn", ""))
            context["sessionIssuer"] = {"type": "Role", "principalId": session.parent_id, "arn": role_arn,
                                        "accountId": caller.account_id, "userName": caller.name}
            federated = session.extra.get("web_identity")
            context["webIdFederationData"] = dict(federated) if isinstance(federated, Mapping) else {}
        elif caller.type == "FederatedUser":
            user_arn = str(session.extra.get("user_arn", ""))
            issuer_type = "Root" if session.extra.get("root_parent") else "IAMUser"
            context["sessionIssuer"] = {"type": issuer_type, "principalId": session.parent_id or caller.account_id,
                                        "arn": user_arn, "accountId": caller.account_id,
                                        "userName": user_arn.rsplit("/", 1)[-1]}
        if session.source_identity:
            context["sourceIdentity"] = session.source_identity
        if session.extra.get("assumed_root"):
            context["assumedRoot"] = "true"
        ident["sessionContext"] = context
    return ident


def build_events(call: Call, *, deferred: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
    """[(trail Region, recipient account, record)] for one call — two for cross-account calls.

    ``deferred`` (the journal's records): ``eventID`` and STS's ``ExtendedRequestId`` are left
    ``null``, in their places, for ingestion to fill in (``index.py``; it runs exactly once per
    record, so they are fixed from then on): random identifiers were ≈ 30 % of building a record
    on the request path, and nothing there needs them.

    Total: a call whose parameters or result the builder cannot walk (nesting past the
    interpreter's recursion limit, keys that are not strings …) is recorded with them made
    ``encodable`` first, so no call is ever left without its record."""
    try:
        return _build_events(call, deferred)
    except (RecursionError, TypeError, ValueError, AttributeError):
        return _build_events(Call(call.service, call.info, encodable(call.params), encodable(call.result),
                                  call.error_code, call.error_message, call.tls, call.sensitive), deferred)


def _build_events(call: Call, deferred: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
    info = call.info
    placement = info.extra.get("placement")
    trail_region = getattr(placement, "trail_region", info.serving_region)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(info.caller, info),
        "eventTime": _event_time(info.now),
        "eventSource": _SOURCES.get(call.service, f"{call.service}.amazonaws.com"),
        "eventName": info.action,
        "awsRegion": trail_region,
        "sourceIPAddress": info.source_ip or "AWS Internal",
        "userAgent": info.user_agent[:1024] if info.user_agent else None,
    }
    if call.error_code:
        record["errorCode"] = call.error_code
        record["errorMessage"] = call.error_message or ""
    record["requestParameters"] = _request_parameters(call)
    record["responseElements"] = _response_elements(call)
    if call.service == "sts":
        record["additionalEventData"] = {
            "ExtendedRequestId": info.extra.get("extended_request_id") or (
                None if deferred else extended_request_id(info.serving_region, info.now)),
            "RequestDetails": {"endpointType": info.endpoint_type, "awsServingRegion": info.serving_region},
        }
    record["requestID"] = info.request_id
    record["eventID"] = None if deferred else request_id()
    record["readOnly"] = read_only(call.service, info.action)
    resources = _resources(call)
    if resources:
        record["resources"] = resources
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = True
    owner = _owner_account(call)
    record["recipientAccountId"] = owner
    record["eventCategory"] = "Management"
    if call.tls:
        record["tlsDetails"] = {"tlsVersion": call.tls.get("version", ""), "cipherSuite": call.tls.get("cipher", ""),
                                "clientProvidedHostHeader": info.host.split(":")[0] if info.host else ""}
    if record["userAgent"] is None:
        del record["userAgent"]
    caller = info.caller
    if caller is not None and owner and caller.account_id != owner and not call.error_code:
        return _cross_account(trail_region, record, caller, owner, deferred)
    return [(trail_region, owner, record)]


def _cross_account(trail_region: str, record: dict[str, Any], caller: Caller, owner: str,
                   deferred: bool) -> list[tuple[str, str, dict[str, Any]]]:
    shared = request_id()
    mine = dict(record, recipientAccountId=caller.account_id, sharedEventID=shared)
    theirs = dict(record, recipientAccountId=owner, sharedEventID=shared, eventID=None if deferred else request_id())
    theirs["userIdentity"] = {"type": "AWSAccount", "principalId": caller.user_id, "accountId": caller.account_id}
    return [(trail_region, caller.account_id, mine), (trail_region, owner, theirs)]


def _owner_account(call: Call) -> str:
    """The account whose trail gets the event: the role's for AssumeRole*, else the caller's."""
    owner = call.info.extra.get("owner_account")
    if isinstance(owner, str):  # AssumeRoot: the member account
        return owner
    result = call.result or {}
    user = result.get("AssumedRoleUser") if isinstance(result, Mapping) else None
    if isinstance(user, Mapping) and isinstance(user.get("Arn"), str):
        return user["Arn"].split(":")[4]
    if call.info.caller is not None:
        return call.info.caller.account_id
    role_arn = (call.params or {}).get("RoleArn")
    return role_arn.split(":")[4] if isinstance(role_arn, str) and role_arn.count(":") >= 5 else ""


def _resources(call: Call) -> list[dict[str, str]]:
    params = call.params or {}
    role_arn = params.get("RoleArn")
    if call.service != "sts" or not isinstance(role_arn, str) or role_arn.count(":") < 5:
        return []
    out = [{"accountId": role_arn.split(":")[4], "type": "AWS::IAM::Role", "ARN": role_arn}]
    principal = params.get("PrincipalArn")
    if call.info.action == "AssumeRoleWithSAML" and isinstance(principal, str):
        out.append({"accountId": principal.split(":")[4] if principal.count(":") >= 5 else "",
                    "type": "AWS::IAM::SAMLProvider", "ARN": principal})
    return out
