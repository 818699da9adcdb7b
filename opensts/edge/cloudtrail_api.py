"""CloudTrail's LookupEvents (JSON 1.1 protocol, service ``cloudtrail``) on the same listener,
so ``aws cloudtrail lookup-events --endpoint-url … --region us-east-1`` reads our trail.
Errors are JSON 1.1 errors: ``{"__type": code, "message": …}`` with HTTP 400.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from opensts.audit.lookup import LookupError_, lookup_events
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.service.context import RequestInfo

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_cloudtrail_api"]

_TARGET_SUFFIX = "CloudTrail_20131101.LookupEvents"
_JSON = b"application/x-amz-json-1.1"


def serve_cloudtrail_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                         request_id: str) -> tuple[int, bytes, bytes, dict[str, str]]:
    try:
        return 200, json.dumps(_serve(state, req, http, auth, request_id)).encode(), _JSON, {}
    except LookupError_ as err:
        return 400, json.dumps({"__type": err.code, "message": err.message}).encode(), _JSON, {}
    except ServiceError as err:
        code = {"InvalidClientTokenId": "UnrecognizedClientException", "AccessDenied": "AccessDeniedException",
                "SignatureDoesNotMatch": "InvalidSignatureException"}.get(err.code, err.code)
        return err.status, json.dumps({"__type": code, "message": err.message}).encode(), _JSON, {}


def _serve(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth, request_id: str) -> dict:
    target = req.header("x-amz-target")
    if not target.endswith(_TARGET_SUFFIX):
        raise LookupError_("UnknownOperationException", f"Operation {target or '(none)'} is not supported.")
    now = state.now()
    caller = state.authenticate(http, auth, now, service="cloudtrail")
    info = RequestInfo(request_id, "LookupEvents", now, caller, signing_region=auth.region)
    info.secure_transport, info.source_ip = req.secure, req.client_ip
    state.authorizer.authorize(info, "cloudtrail:LookupEvents", "*")
    try:
        params = json.loads(req.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise LookupError_("SerializationException", "The request body is not valid JSON.") from exc
    if not isinstance(params, dict):
        raise LookupError_("SerializationException", "The request body must be a JSON object.")
    if state.audit is None:
        return {"Events": []}
    return lookup_events(state.audit.journal.folder, caller.account_id, auth.region, params)
