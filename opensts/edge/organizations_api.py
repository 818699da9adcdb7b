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
import logging
from typing import TYPE_CHECKING, Any

from opensts.audit.events import Call
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.protocol.json_errors import JSON_11, json_code, json_error
from opensts.protocol.json_input import JsonInputError, JsonInputModel, json_body, load_json_model
from opensts.service.context import RequestInfo
from opensts.store.outage import is_outage
from opensts.service.organizations import OrganizationsError

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_organizations_api"]

log = logging.getLogger("opensts.edge")

_PREFIX = "AWSOrganizationsV20161128."
#: Members the model marks sensitive: left out of audit records.
_SENSITIVE = frozenset({"Email", "AccountName", "Name", "MasterAccountEmail"})


@functools.cache
def _model() -> JsonInputModel:
    return load_json_model("organizations", "2016-11-28")


def serve_organizations_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                            request_id: str) -> tuple[int, bytes, bytes, dict[str, str], Call | None]:
    """(status, body, content type, headers, the call to audit once the caller is known).

    The input is refused before anything acts on it; whatever the outcome, a call whose caller is
    known comes back with its audit record (an unexpected failure too, as ``InternalFailure``)."""
    seen: dict[str, Any] = {}
    try:
        result = _serve(state, req, http, auth, request_id, seen)
        return 200, json.dumps(result).encode(), JSON_11, {}, _call(seen, result, None)
    except ServiceError as err:
        reason = getattr(err, "reason", None)
        status, body, ctype, headers = json_error(err.code, err.message, 400 if err.status < 500 else err.status,
                                                  message_key="Message", **({"Reason": reason} if reason else {}))
        return status, body, ctype, headers, _call(seen, None, (json_code(err.code), err.message))
    except Exception as exc:  # noqa: BLE001 - our bug: still a JSON answer, still an audit record
        if is_outage(exc):  # the control plane is down: ServiceUnavailable (edge/control_plane.py, edge/asgi.py)
            raise
        log.error("internal error in Organizations request %s: %s", request_id, type(exc).__name__)
        message = "We encountered an internal error. Please try again."
        status, body, ctype, headers = json_error("InternalFailure", message, 500, message_key="Message")
        return status, body, ctype, headers, _call(seen, None, ("InternalFailure", message))


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
    seen.update(info=info, tls=req.tls)
    params = model.validate(operation, _body(req.body))  # only modelled members, every one checked
    seen["params"] = params
    return state.organizations.handle(info, params)


def _body(raw: bytes) -> dict[str, Any]:
    value = json_body(raw)
    if not isinstance(value, dict):
        raise JsonInputError("INVALID_SYNTAX", "body")
    return value


def _call(seen: dict[str, Any], result: dict[str, Any] | None, error: tuple[str, str] | None) -> Call | None:
    """The organizations.amazonaws.com audit record."""
    info = seen.get("info")
    if info is None:
        return None
    code, message = error or (None, None)
    return Call("organizations", info, seen.get("params"), result, code, message, seen.get("tls"), _SENSITIVE)
