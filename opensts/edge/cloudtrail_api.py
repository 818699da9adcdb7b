"""CloudTrail's LookupEvents (JSON 1.1 protocol, service ``cloudtrail``) on the same listener,
so ``aws cloudtrail lookup-events --endpoint-url … --region us-east-1`` reads our trail.

The body is checked against botocore's ``cloudtrail`` model (``protocol/json_input.py``) before the
trail is read. Errors are JSON 1.1 errors, ``{"__type": code, "message": …}`` with HTTP 400: a wrong
type is a ``SerializationException``; a broken constraint is the operation's own modelled error
(``InvalidMaxResultsException``, ``InvalidTimeRangeException``, ``InvalidLookupAttributesException``,
``InvalidNextTokenException``, ``InvalidEventCategoryException``).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any

from opensts.audit.lookup import LookupError_, lookup_events
from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.protocol.errors import ServiceError
from opensts.protocol.json_errors import JSON_11, json_error
from opensts.protocol.json_input import JsonInputError, JsonInputModel, json_body, load_json_model
from opensts.service.context import RequestInfo
from opensts.store.outage import is_outage

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_cloudtrail_api"]

log = logging.getLogger("opensts.edge")

_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
#: LookupEvents' modelled error for a broken constraint, per request member.
_CONSTRAINT_ERRORS = {
    "LookupAttributes": "InvalidLookupAttributesException",
    "StartTime": "InvalidTimeRangeException",
    "EndTime": "InvalidTimeRangeException",
    "MaxResults": "InvalidMaxResultsException",
    "NextToken": "InvalidNextTokenException",
    "EventCategory": "InvalidEventCategoryException",
}


@functools.cache
def _model() -> JsonInputModel:
    return load_json_model("cloudtrail", "2013-11-01")


def serve_cloudtrail_api(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth,
                         request_id: str) -> tuple[int, bytes, bytes, dict[str, str]]:
    try:
        return 200, json.dumps(_serve(state, req, http, auth, request_id)).encode(), JSON_11, {}
    except LookupError_ as err:
        return json_error(err.code, err.message, 400)
    except ServiceError as err:
        return json_error(err.code, err.message, err.status)
    except Exception as exc:  # noqa: BLE001 - our bug: still an answer a JSON client can read
        if is_outage(exc):  # a store is down: ServiceUnavailable at the edge's barrier (edge/asgi.py)
            raise
        log.error("internal error in CloudTrail request %s: %s", request_id, type(exc).__name__)
        return json_error("InternalFailure", "We encountered an internal error. Please try again.", 500)


def _serve(state: AppState, req: Request, http: HttpRequest, auth: SigV4Auth, request_id: str) -> dict[str, Any]:
    target = req.header("x-amz-target")
    if target != _PREFIX + "LookupEvents":
        operation = target[len(_PREFIX):] if target.startswith(_PREFIX) else ""
        if operation in _model().operations:
            raise LookupError_("UnsupportedOperationException", f"{operation} is not supported by this server.")
        raise LookupError_("UnknownOperationException", f"Operation {target or '(none)'} is not supported.")
    now = state.now()
    caller = state.authenticate(http, auth, now, service="cloudtrail")
    info = RequestInfo(request_id, "LookupEvents", now, caller, signing_region=auth.region)
    info.secure_transport, info.source_ip = req.secure, req.client_ip
    state.authorizer.authorize(info, "cloudtrail:LookupEvents", "*")
    params = _checked(req.body)
    if state.audit is None:
        return {"Events": []}
    return lookup_events(state.audit.lookup_source, caller.account_id, auth.region, params)


def _checked(raw: bytes) -> dict[str, Any]:
    """LookupEvents' modelled members, every one checked (see the module docstring)."""
    value = json_body(raw)
    if not isinstance(value, dict):
        raise LookupError_("SerializationException", "The request body must be a JSON object.")
    try:
        return _model().validate("LookupEvents", value)
    except JsonInputError as exc:
        code = "SerializationException" if exc.is_type_error else _CONSTRAINT_ERRORS.get(exc.top_member)
        raise LookupError_(code or "ValidationException", f"Invalid value for {exc.member}.") from exc
