"""The AWS Account API's Region calls (REST-JSON, service ``account``), and OpenSTS's admin
call for STS activation per Region — on the same listener as STS.

``aws account enable-region | disable-region | get-region-opt-status | list-regions`` work
unmodified, also with ``--account-id`` for a member account from its organization's management
account (or Account Management's delegated administrator), as on AWS. The body is checked
against botocore's ``account`` model (``protocol/json_input.py``) before anything acts on it.
Errors are REST-JSON errors: ``x-amzn-ErrorType`` header and ``{"message": …}`` body, with the
model's HTTP status.

STS activation has no AWS API (AWS offers it in the IAM console only); OpenSTS adds
``POST /opensts/setStsRegionStatus`` ``{"AccountId"?, "RegionName", "Active": bool}`` and
``POST /opensts/getStsRegionStatus``, signed for service ``account`` and authorized as
``opensts:SetStsRegionStatus`` / ``opensts:GetStsRegionStatus``.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any

from opensts.audit.events import Call
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.protocol.json_errors import REST_JSON, json_code, json_error
from opensts.protocol.json_input import JsonInputError, JsonInputModel, json_body, load_json_model, offset_token
from opensts.regions.rules import DISABLED, ENABLED, ENABLED_BY_DEFAULT
from opensts.service.context import RequestInfo
from opensts.store.outage import is_outage
from opensts.service.organizations import administers

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_account_api"]

log = logging.getLogger("opensts.edge")
ACCOUNT_SERVICE_PRINCIPAL = "account.amazonaws.com"


class _JsonError(ServiceError):
    reason: str | None = None


def _error(code: str, status: int, message: str, reason: str | None = None) -> _JsonError:
    err = _JsonError(message, code=code, status=status)
    err.reason = reason
    return err


#: OpenSTS's own calls, described as the model describes AWS's, so one checker covers both.
_EXTENSIONS = {
    "operations": {"SetStsRegionStatus": {"input": {"shape": "OpenStsSetStsRegionStatusRequest"}},
                   "GetStsRegionStatus": {"input": {"shape": "OpenStsGetStsRegionStatusRequest"}}},
    "shapes": {
        "OpenStsSetStsRegionStatusRequest": {
            "type": "structure", "required": ["RegionName", "Active"],
            "members": {"AccountId": {"shape": "AccountId"}, "RegionName": {"shape": "RegionName"},
                        "Active": {"shape": "OpenStsBoolean"}}},
        "OpenStsGetStsRegionStatusRequest": {
            "type": "structure", "required": ["RegionName"],
            "members": {"AccountId": {"shape": "AccountId"}, "RegionName": {"shape": "RegionName"}}},
        "OpenStsBoolean": {"type": "boolean"},
    },
}
#: Smithy's wording of each rule, for ValidationException's message.
_CONSTRAINTS = {
    "INPUT_REQUIRED": "Member must not be null",
    "INVALID_ENUM": "Member must satisfy enum value set",
    "INVALID_PATTERN": "Member must satisfy regular expression pattern",
    "MAX_LENGTH_EXCEEDED": "Member must have length less than or equal to the maximum",
    "MIN_LENGTH_EXCEEDED": "Member must have length greater than or equal to the minimum",
    "MAX_VALUE_EXCEEDED": "Member must have value less than or equal to the maximum",
    "MIN_VALUE_EXCEEDED": "Member must have value greater than or equal to the minimum",
}


@functools.cache
def _model() -> JsonInputModel:
    return load_json_model("account", "2021-02-01", _EXTENSIONS)


def _checked(operation: str, raw: bytes) -> dict[str, Any]:
    """The body's modelled members, every one checked: a wrong type is a SerializationException,
    a broken constraint a ValidationException (``fieldValidationFailed``), as the Account API answers."""
    value = _body(raw)
    try:
        return _model().validate(operation, value)
    except JsonInputError as exc:
        if exc.is_type_error:
            raise _error("SerializationException", 400, f"Invalid value for {exc.member}.") from exc
        field = exc.member[:1].lower() + exc.member[1:]
        raise _error("ValidationException", 400, f"1 validation error detected: Value at '{field}' failed to satisfy "
                     f"constraint: {_CONSTRAINTS[exc.reason]}", "fieldValidationFailed") from exc


def serve_account_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                      request_id: str) -> tuple[int, bytes, bytes, dict[str, str], Call | None]:
    """(status, body, content type, headers, the call to audit once the caller is known).

    The input is checked against botocore's ``account`` model before anything acts on it; a call
    whose caller is known always comes back with its audit record."""
    seen: dict[str, Any] = {}
    try:
        body = _serve(state, req, http, auth, request_id, seen)
        return 200, json.dumps(body).encode(), REST_JSON, {}, _call(seen, body, None)
    except ServiceError as err:
        status, payload, ctype, headers = json_error(err.code, err.message, err.status, rest=True,
                                                     **({"reason": err.reason} if getattr(err, "reason", None) else {}))
        return status, payload, ctype, headers, _call(seen, None, (json_code(err.code), err.message))
    except Exception as exc:  # noqa: BLE001 - our bug: still a JSON answer, still an audit record
        if is_outage(exc):  # the control plane is down: ServiceUnavailable (edge/control_plane.py, edge/asgi.py)
            raise
        log.error("internal error in Account request %s: %s", request_id, type(exc).__name__)
        message = "We encountered an internal error. Please try again."
        status, payload, ctype, headers = json_error("InternalServerException", message, 500, rest=True)
        return status, payload, ctype, headers, _call(seen, None, ("InternalServerException", message))


def _call(seen: dict[str, Any], result: dict[str, Any] | None, error: tuple[str, str] | None) -> Call | None:
    """The account.amazonaws.com audit record (AWS records these calls too)."""
    info = seen.get("info")
    if info is None:
        return None
    code, message = error or (None, None)
    return Call("account", info, seen.get("params"), result, code, message, seen.get("tls"))


_OPERATIONS = {
    "/enableRegion": "EnableRegion",
    "/disableRegion": "DisableRegion",
    "/getRegionOptStatus": "GetRegionOptStatus",
    "/listRegions": "ListRegions",
    "/opensts/setStsRegionStatus": "SetStsRegionStatus",
    "/opensts/getStsRegionStatus": "GetStsRegionStatus",
}


def _serve(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth, request_id: str,
           seen: dict[str, Any]) -> dict[str, Any]:
    operation = _OPERATIONS.get(req.raw_path.rstrip("/") or "/")
    if operation is None or req.method != "POST":
        raise _error("UnknownOperationException", 404, f"Unknown operation {req.method} {req.raw_path}")
    now = state.now()
    caller = state.authenticate(http, auth, now, service="account")
    info = RequestInfo(request_id, operation, now, caller, signing_region=auth.region, host=req.header("host"))
    info.secure_transport, info.source_ip = req.secure, req.client_ip
    info.user_agent = req.header("user-agent")[:1024]
    seen.update(info=info, tls=req.tls)
    params = _checked(operation, req.body)
    seen["params"] = params
    account, resource = _account(state, params, caller.account_id)
    prefix = "opensts" if operation.endswith("StsRegionStatus") else "account"
    state.authorizer.authorize(info, f"{prefix}:{operation}", resource)
    rules = state.control_rules  # a control-plane call: reads its own writes
    if operation == "ListRegions":
        return _list_regions(state, account, params)
    region = _region_name(state, params)
    if operation == "GetRegionOptStatus":
        return {"RegionName": region, "RegionOptStatus": rules.opt_status(account, region)}
    if operation == "GetStsRegionStatus":
        return {"RegionName": region, "Active": rules.sts_active(account, region)}
    if operation == "SetStsRegionStatus":
        set_sts_active(state, account, region, params["Active"])
        return {}
    if rules.opt_status(account, region) == ENABLED_BY_DEFAULT:
        raise _error("ValidationException", 400, f"{region} is enabled by default and cannot be enabled or disabled.")
    state.control_repo.set_region_opt_status(account, region, ENABLED if operation == "EnableRegion" else DISABLED)
    state.written()
    return {}


def set_sts_active(state: Any, account: str, region: str, active: bool) -> None:
    """Shared by the admin call and ``opensts sts activate-region|deactivate-region``."""
    reg = state.control_rules.catalog.region(region)
    if reg is None:
        raise _error("ValidationException", 400, f"Unknown Region {region}.")
    if reg.opt_in:
        raise _error("ValidationException", 400,
                     f"STS in the opt-in Region {region} is active exactly when the Region is enabled.")
    if not reg.can_deactivate and not active:
        raise _error("ValidationException", 400, f"STS cannot be deactivated in {region}.")
    state.control_repo.set_sts_active(account, region, active)
    state.written()


def _body(raw: bytes) -> dict[str, Any]:
    value = json_body(raw)
    if not isinstance(value, dict):
        raise _error("SerializationException", 400, "The request body must be a JSON object.")
    return value


def _account(state: AppState, params: dict[str, Any], own: str) -> tuple[str, str]:
    """(the account the call is about, its ARN as the authorization resource).

    ``AccountId`` may name another account only from the management account of its organization,
    or from the delegated administrator for Account Management, with trusted access enabled for
    ``account.amazonaws.com`` in an all-features organization — AWS's rule."""
    account = params.get("AccountId", own)  # 12 ASCII digits: the model's pattern
    if account == own:
        return own, f"arn:aws:account::{own}:account"
    org = state.control_cache.organization(own)
    if org is None or not _administers(state, org, own) or state.control_cache.organization(account) != org \
            or account == org.management_account_id:
        raise _error("AccessDeniedException", 403, "You can only access or modify your own account.")
    return account, f"arn:aws:account::{org.management_account_id}:account/{org.id}/{account}"


def _administers(state: AppState, org: Any, account: str) -> bool:
    return (org.feature_set == "ALL" and ACCOUNT_SERVICE_PRINCIPAL in org.service_access
            and administers(state.control_repo, org, account, ACCOUNT_SERVICE_PRINCIPAL))


def _region_name(state: AppState, params: dict[str, Any]) -> str:
    region = params["RegionName"]  # 1–50 characters: the model's bounds
    if state.control_rules.catalog.region(region) is None:
        raise _error("ValidationException", 400, f"The Region {region} is not valid.")
    return region


def _list_regions(state: AppState, account: str, params: dict[str, Any]) -> dict[str, Any]:
    rules = state.control_rules
    wanted = params.get("RegionOptStatusContains")  # types and bounds: the model's
    size = params.get("MaxResults", 50)
    start = offset_token(params.get("NextToken") or None)  # the model allows an empty token: the first page
    if start is None:
        raise _error("ValidationException", 400, "The NextToken is not valid.")
    partition = rules.catalog.default
    regions = [
        {"RegionName": r, "RegionOptStatus": rules.opt_status(account, r)}
        for r in sorted(partition.regions)
    ]
    if wanted:
        regions = [r for r in regions if r["RegionOptStatus"] in wanted]
    page = regions[start : start + size]
    out: dict[str, Any] = {"Regions": page}
    if start + size < len(regions):
        out["NextToken"] = str(start + size)
    return out
