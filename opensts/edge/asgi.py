"""The HTTP edge: a raw ASGI callable (no framework on the hot path).

One request, in order (see docs/ARCHITECTURE.md for the diagram)::

    read body (size-capped) → decode form params (protocol.form)
    → SigV4 auth extracted (auth.sigv4)  → service chosen by the credential scope ("sts"/"iam"),
      unsigned requests go to STS (its two federation actions are unsigned)
    → Action/Version → operation spec (protocol.model)
    → caller resolved (auth.principals) and signature verified against the Host as received
    → input parsed and validated against the service model
    → handler (service/) → rendered XML, or JSON when the client sent Accept: application/json

Every refusal is a ``ServiceError`` rendered in AWS's ErrorResponse shape; anything else is our
bug and becomes ``InternalFailure`` (500) with no stack trace on the wire and no secret in the log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any

from opensts.app_state import AppState
from opensts.auth.sigv4 import HttpRequest, SigV4Auth, extract_auth, verify
from opensts.protocol.errors import (
    InternalFailure,
    MissingAction,
    MissingAuthenticationToken,
    ServiceError,
    SignatureDoesNotMatch,
)
from opensts.protocol.form import parse_form
from opensts.service.context import RequestInfo

__all__ = ["StsAsgiApp"]

log = logging.getLogger("opensts.edge")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_FORM = b"application/x-www-form-urlencoded"


class RequestTooLarge(ServiceError):
    code = "RequestEntityTooLarge"
    status = 413


class StsAsgiApp:
    """ASGI entry point serving STS (and, from the same listener, IAM)."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not ours
            return
        request_id = str(uuid.uuid4())
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        wants_json = any(k == "accept" and "application/json" in v for k, v in headers)
        xmlns = self.state.sts.xmlns
        try:
            body = await _read_body(receive, self.state.settings.max_body_bytes)
            status, payload, ctype, xmlns = self._handle(scope, headers, body, request_id, wants_json)
        except ServiceError as err:
            status, payload, ctype = err.status, self._error(err, request_id, xmlns, wants_json), _ctype(wants_json)
        except Exception:  # noqa: BLE001 - the last line of defence: never a stack trace on the wire
            log.exception("internal error in request %s", request_id)
            err = InternalFailure("We encountered an internal error. Please try again.")
            status, payload, ctype = 500, self._error(err, request_id, xmlns, wants_json), _ctype(wants_json)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-amzn-requestid", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    # -- the request path -----------------------------------------------------------------
    def _handle(
        self, scope: Scope, headers: list[tuple[str, str]], body: bytes, request_id: str, wants_json: bool
    ) -> tuple[int, bytes, bytes, str]:
        method = scope["method"]
        query = scope.get("query_string", b"")
        params = parse_form(query) if query else {}
        if method == "POST" and body and _is_form(headers):
            params.update(parse_form(body))
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        http = HttpRequest(method, raw_path, query.decode("latin-1"), headers, body)
        auth = extract_auth(http)
        spec = self.state.service_for(auth.service if auth else "sts")
        xmlns = spec.xmlns
        action = params.get("Action")
        if not action:
            raise MissingAction("Could not find action or operation in request")
        op = spec.operation(action, params.get("Version"))
        now = datetime.now(timezone.utc) + timedelta(seconds=self.state.settings.clock_offset)
        info = RequestInfo(request_id, op.name, now, None, host=_header(headers, "host"))
        info.source_ip = (scope.get("client") or ("", 0))[0]
        info.user_agent = _header(headers, "user-agent")[:1024]
        info.secure_transport = scope.get("scheme") == "https"
        if not op.unauthenticated:
            if auth is None:
                raise MissingAuthenticationToken("Request is missing Authentication Token")
            self._authenticate(http, auth, info, spec.signing_name)
        result = self.state.dispatch(spec.name, info, op.parse(params))
        return 200, op.render(result, request_id, json=wants_json), _ctype(wants_json), xmlns

    def _authenticate(self, http: HttpRequest, auth: SigV4Auth, info: RequestInfo, service: str) -> None:
        if auth.service != service:
            raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{service}'. ")
        caller, secret = self.state.resolver.resolve(auth.access_key_id, auth.security_token, info.epoch)
        verify(http, auth, secret, now=info.now, key_cache=self.state.key_cache)
        info.caller = caller
        info.signing_region = auth.region
        info.serving_region = auth.region if auth.region else "us-east-1"

    def _error(self, err: ServiceError, request_id: str, xmlns: str, wants_json: bool) -> bytes:
        from opensts.protocol.render import render_error

        return render_error(err, request_id, xmlns=xmlns, json=wants_json)


def _ctype(wants_json: bool) -> bytes:
    return b"application/json" if wants_json else b"text/xml"


def _header(headers: list[tuple[str, str]], name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def _is_form(headers: list[tuple[str, str]]) -> bool:
    ctype = _header(headers, "content-type").encode("latin-1").lower()
    return not ctype or ctype.startswith(_FORM)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
