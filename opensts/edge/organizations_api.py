"""AWS Organizations (JSON 1.1 protocol, service ``organizations``) on the same listener, so
``aws organizations create-organization | create-account | register-delegated-administrator …``
work unmodified against OpenSTS (see ``service/organizations.py`` for what is modelled).

Request: ``X-Amz-Target: AWSOrganizationsV20161128.<Operation>`` and a JSON body, validated
against botocore's model. Response: JSON, timestamps as epoch seconds. Errors: HTTP 400 with
``{"__type": code, "Message": …}`` (and ``Reason`` where Organizations gives one).
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from opensts.audit.events import Call
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.protocol.json_input import JsonInputError, JsonInputModel, json_body, load_json_model
from opensts.service.context import RequestInfo
from opensts.service.organizations import OrganizationsError

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_organizations_api"]

_PREFIX = "AWSOrganizationsV20161128."
#: Members the model marks sensitive: left out of audit records.
_SENSITIVE = frozenset({"Email", "AccountName", "Name", "MasterAccountEmail"})
_JSON = b"application/x-amz-json-1.1"
#: The generic SigV4/identity errors in their JSON-protocol spelling.
_JSON_CODES = {"InvalidClientTokenId": "UnrecognizedClientException", "AccessDenied": "AccessDeniedException",
               "SignatureDoesNotMatch": "InvalidSignatureException"}


@functools.cache
def _model() -> JsonInputModel:
    return load_json_model("organizations", "2016-11-28")


def serve_organizations_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                            request_id: str) -> tuple[int, bytes, bytes, dict[str, str], Call | None]:
    """(status, body, content type, headers, the call to audit once the caller is known)."""
    seen: dict[str, Any] = {}
    try:
        result = _serve(state, req, http, auth, request_id, seen)
        return 200, json.dumps(result, default=_json_default).encode(), _JSON, {}, _call(seen, result, None)
    except ServiceError as err:
        code = _JSON_CODES.get(err.code, err.code)
        body: dict[str, Any] = {"__type": code, "Message": err.message}
        reason = getattr(err, "reason", None)
        if reason:
            body["Reason"] = reason
        status = 400 if err.status < 500 else err.status
        return status, json.dumps(body).encode(), _JSON, {}, _call(seen, None, (code, err.message))


def _serve(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth, request_id: str,
           seen: dict[str, Any]) -> dict[str, Any]:
    target = req.header("x-amz-target")
    operation = target[len(_PREFIX):] if target.startswith(_PREFIX) else ""
    model = _model()
    if req.method != "POST" or operation not in model.operations:
        raise OrganizationsError("UnknownOperationException", f"Operation {target or '(none)'} is not supported.")
    now = state.now()
    caller = state.authenticate(http, auth, now, service="organizations")
    info = RequestInfo(request_id, operation, now, caller, signing_region=auth.region, host=req.header("host"))
    info.secure_transport, info.source_ip = req.secure, req.client_ip
    info.user_agent = req.header("user-agent")[:1024]
    params = _body(req.body)
    seen.update(info=info, tls=req.tls)
    model.validate(operation, params)
    seen["params"] = params
    return state.organizations.handle(info, params)


def _body(raw: bytes) -> dict[str, Any]:
    value = json_body(raw)
    if not isinstance(value, dict):
        raise JsonInputError("INVALID_SYNTAX", "body")
    return value


def _json_default(value: Any) -> Any:  # pragma: no cover - results hold only JSON types
    raise TypeError(f"not JSON: {type(value).__name__}")


def _call(seen: dict[str, Any], result: dict[str, Any] | None, error: tuple[str, str] | None) -> Call | None:
    """The organizations.amazonaws.com audit record."""
    info = seen.get("info")
    if info is None:
        return None
    code, message = error or (None, None)
    return Call("organizations", info, seen.get("params"), result, code, message, seen.get("tls"), _SENSITIVE)
