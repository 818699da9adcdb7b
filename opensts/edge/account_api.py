"""The AWS Account API's Region calls (REST-JSON, service ``account``), and OpenSTS's admin
call for STS activation per Region — on the same listener as STS.

``aws account enable-region | disable-region | get-region-opt-status | list-regions`` work
unmodified, also with ``--account-id`` for a member account from its organization's management
account (or Account Management's delegated administrator), as on AWS. The four operations are
tiny, so the REST-JSON wire is handled here directly (constraints from the botocore model:
RegionName 1–50 characters, AccountId 12 digits, MaxResults 1–50). Errors are REST-JSON errors:
``x-amzn-ErrorType`` header and ``{"message": …}`` body, with the model's HTTP status.

STS activation has no AWS API (AWS offers it in the IAM console only); OpenSTS adds
``POST /opensts/setStsRegionStatus`` ``{"AccountId"?, "RegionName", "Active": bool}`` and
``POST /opensts/getStsRegionStatus``, signed for service ``account`` and authorized as
``opensts:SetStsRegionStatus`` / ``opensts:GetStsRegionStatus``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from opensts.audit.events import Call
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.protocol.json_input import json_body
from opensts.regions.rules import DISABLED, ENABLED, ENABLED_BY_DEFAULT
from opensts.service.context import RequestInfo
from opensts.service.organizations import administers

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_account_api"]

_ACCOUNT_RE = re.compile(r"^\d{12}$")
ACCOUNT_SERVICE_PRINCIPAL = "account.amazonaws.com"


class _JsonError(ServiceError):
    pass


def _error(code: str, status: int, message: str) -> _JsonError:
    return _JsonError(message, code=code, status=status)


def serve_account_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                      request_id: str) -> tuple[int, bytes, bytes, dict[str, str], Call | None]:
    """(status, body, content type, headers, the call to audit once the caller is known)."""
    seen: dict[str, Any] = {}
    try:
        body = _serve(state, req, http, auth, request_id, seen)
        return 200, json.dumps(body).encode(), b"application/json", {}, _call(seen, body, None)
    except ServiceError as err:
        code = "UnrecognizedClientException" if err.code == "InvalidClientTokenId" else err.code
        code = {"SignatureDoesNotMatch": "InvalidSignatureException", "AccessDenied": "AccessDeniedException"}.get(code, code)
        payload = json.dumps({"message": err.message}).encode()
        return err.status, payload, b"application/json", {"x-amzn-errortype": code}, _call(seen, None, (code, err.message))


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
    params = _body(req.body)
    info = RequestInfo(request_id, operation, now, caller, signing_region=auth.region, host=req.header("host"))
    info.secure_transport, info.source_ip = req.secure, req.client_ip
    info.user_agent = req.header("user-agent")[:1024]
    seen.update(info=info, params=params, tls=req.tls)
    account, resource = _account(state, params, caller.account_id)
    prefix = "opensts" if operation.endswith("StsRegionStatus") else "account"
    state.authorizer.authorize(info, f"{prefix}:{operation}", resource)
    rules = state.region_rules
    if operation == "ListRegions":
        return _list_regions(state, account, params)
    region = _region_name(state, params)
    if operation == "GetRegionOptStatus":
        return {"RegionName": region, "RegionOptStatus": rules.opt_status(account, region)}
    if operation == "GetStsRegionStatus":
        return {"RegionName": region, "Active": rules.sts_active(account, region)}
    if operation == "SetStsRegionStatus":
        set_sts_active(state, account, region, _bool(params, "Active"))
        return {}
    if rules.opt_status(account, region) == ENABLED_BY_DEFAULT:
        raise _error("ValidationException", 400, f"{region} is enabled by default and cannot be enabled or disabled.")
    state.repo.set_region_opt_status(account, region, ENABLED if operation == "EnableRegion" else DISABLED)
    state.cache.invalidate()
    return {}


def set_sts_active(state: Any, account: str, region: str, active: bool) -> None:
    """Shared by the admin call and ``opensts sts activate-region|deactivate-region``."""
    reg = state.region_rules.catalog.region(region)
    if reg is None:
        raise _error("ValidationException", 400, f"Unknown Region {region}.")
    if reg.opt_in:
        raise _error("ValidationException", 400,
                     f"STS in the opt-in Region {region} is active exactly when the Region is enabled.")
    if not reg.can_deactivate and not active:
        raise _error("ValidationException", 400, f"STS cannot be deactivated in {region}.")
    state.repo.set_sts_active(account, region, active)
    state.cache.invalidate()


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
    account = params.get("AccountId", own)
    if not isinstance(account, str) or not _ACCOUNT_RE.match(account):
        raise _error("ValidationException", 400, "Invalid AccountId: must be a 12-digit account ID.")
    if account == own:
        return own, f"arn:aws:account::{own}:account"
    org = state.cache.organization(own)
    if org is None or not _administers(state, org, own) or state.cache.organization(account) != org \
            or account == org.management_account_id:
        raise _error("AccessDeniedException", 403, "You can only access or modify your own account.")
    return account, f"arn:aws:account::{org.management_account_id}:account/{org.id}/{account}"


def _administers(state: AppState, org: Any, account: str) -> bool:
    return (org.feature_set == "ALL" and ACCOUNT_SERVICE_PRINCIPAL in org.service_access
            and administers(state.repo, org, account, ACCOUNT_SERVICE_PRINCIPAL))


def _region_name(state: AppState, params: dict[str, Any]) -> str:
    region = params.get("RegionName")
    if not isinstance(region, str) or not 1 <= len(region) <= 50:
        raise _error("ValidationException", 400, "RegionName must be a string of 1 to 50 characters.")
    if state.region_rules.catalog.region(region) is None:
        raise _error("ValidationException", 400, f"The Region {region} is not valid.")
    return region


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if not isinstance(value, bool):
        raise _error("ValidationException", 400, f"{key} must be true or false.")
    return value


def _list_regions(state: AppState, account: str, params: dict[str, Any]) -> dict[str, Any]:
    rules = state.region_rules
    wanted = params.get("RegionOptStatusContains")
    if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted)):
        raise _error("ValidationException", 400, "RegionOptStatusContains must be a list of statuses.")
    size = params.get("MaxResults", 50)
    if not isinstance(size, int) or not 1 <= size <= 50:
        raise _error("ValidationException", 400, "MaxResults must be between 1 and 50.")
    token = params.get("NextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
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
