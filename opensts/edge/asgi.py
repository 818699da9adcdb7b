"""The HTTP edge: a raw ASGI callable (no framework on the hot path).

It reads the body (size-capped), assigns the request id, decides XML or JSON from ``Accept``,
extracts the SigV4 signature, and hands the request to the pipeline of its protocol: awsQuery for
STS and IAM (``edge/pipeline.py``), REST-JSON for the Account API (``edge/account_api.py``).
It is also the error barrier: every refusal is a ``ServiceError`` rendered in AWS's shape;
anything else is our bug and becomes ``InternalFailure`` (500) with no stack trace on the wire
and no secret in the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opensts.app_state import AppState
from opensts.auth.sigv4 import HttpRequest, extract_auth
from opensts.edge.body import read_body
from opensts.edge.control_plane import ControlPlane
from opensts.edge.control_relay import CONTROL_JSON_APIS, ControlRelay, is_control_call
from opensts.edge.health import HEALTH_PATHS, serve_health
from opensts.edge.observe import Outcome, finished
from opensts.edge.pipeline import QueryPipeline, Request
from opensts.edge.proxy import TrustedProxies
from opensts.edge.wellknown import serve_wellknown
from opensts import metrics
from opensts.fastrand import request_id as fast_request_id
from opensts.audit.events import Call
from opensts.protocol.errors import InternalFailure, ServiceError, ServiceUnavailable
from opensts.protocol.render import render_error, render_json_error
from opensts.regions.elsewhere import refuse_unless_served
from opensts.service.blocking import OFF_LOOP
from opensts.store.outage import StoreUnavailable, is_outage

__all__ = ["StsAsgiApp"]

log = logging.getLogger("opensts.edge")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


#: Form bodies longer than this are decoded off the event loop (≈ 0.15 s of CPU per MiB).
OFF_LOOP_BODY = 64 * 1024


class StsAsgiApp:
    """ASGI entry point serving STS, IAM and the Account API on one listener."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.query = QueryPipeline(state)
        self.proxies = TrustedProxies(state.settings.config.trusted_proxies)
        # one thread per worker, started on first use: heavy calls queue there, not on the event loop
        self._off_loop = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opensts-off-loop")
        # IAM, Organizations and Account calls: off the loop and bounded where the control plane is remote
        self.control = ControlPlane(state.control_is_remote)
        # with a control worker (edge/control_relay.py), those calls are relayed to it instead
        socket_path = state.settings.control_socket
        self.relay = ControlRelay(socket_path, state) if socket_path else None
        self._health_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opensts-health")
        # GET /metrics on these listeners (docs/OPERATIONS.md: why here, and how to switch off)
        settings = state.settings
        self.metrics_here = metrics.enabled() and settings.metrics and settings.metrics_listen is None
        metrics.known_actions([*state.sts.operations, *state.iam.operations])
        metrics.known_regions(r.name for r in state.topology.catalog.regions())
        metrics.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not ours
            return
        request_id = fast_request_id()
        outcome = Outcome(request_id)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        lookup = {k.lower(): v for k, v in reversed(headers)}  # first occurrence wins
        wants_json = "application/json" in lookup.get("accept", "")
        outcome.user_agent = lookup.get("user-agent", "")
        try:
            body = await read_body(receive, self.state.settings.max_body_bytes)
            req = _request(scope, headers, lookup, body)
            if not scope.get("opensts.relayed"):  # relayed: the relaying worker resolved the client already
                req.client_ip = self.proxies.client_ip(req.client_ip, req.header("x-forwarded-for"))
            outcome.source_ip = req.client_ip
            status, payload, ctype, extra = await self._serve(req, request_id, wants_json, outcome)
            if outcome.relayed:  # the control worker's answer, as it is: it counted, logged and audited it
                await _send(send, status, [(b"content-type", ctype), (b"content-length", str(len(payload)).encode()),
                                           *((k.encode(), v.encode()) for k, v in extra.items())], payload)
                return
        except ServiceError as err:
            outcome.from_call(getattr(err, "audit_call", None))
            outcome.code = err.code
            status, payload, ctype, extra = self.error_response(scope, lookup, err, request_id, wants_json)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a stack trace on the wire
            if is_outage(exc):  # a store this node depends on is down: retry later, not our bug
                log.warning("store unavailable in request %s: %s", request_id, _first_line(exc))
                metrics.database_error("outage")
                err = ServiceUnavailable(str(exc) if isinstance(exc, StoreUnavailable)
                                         else "Service is unavailable. Please try again.")
                outcome.code = err.code
                status, payload, ctype, extra = self.error_response(scope, lookup, err, request_id, wants_json)
            else:
                if _is_database_error(exc):
                    metrics.database_error("error")
                outcome.code = InternalFailure.code
                status, payload, ctype, extra = self._internal_failure(scope, lookup, request_id, wants_json)
        response_headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(payload)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
            *((k.encode(), v.encode()) for k, v in extra.items()),
        ]
        if not outcome.api:  # refused before the pipeline knew it: the API whose envelope it got
            outcome.api = self.api_of(scope, lookup)
        finished(outcome, status)  # before the answer leaves: a scrape right after it sees it counted
        await _send(send, status, response_headers, payload)

    def _internal_failure(self, scope: Scope, lookup: dict[str, str], request_id: str,
                          wants_json: bool) -> tuple[int, bytes, bytes, dict[str, str]]:
        log.exception("internal error in request %s", request_id)
        err = InternalFailure("We encountered an internal error. Please try again.")
        return self.error_response(scope, lookup, err, request_id, wants_json)

    async def _serve(self, req: Request, request_id: str, wants_json: bool,
                     outcome: Outcome) -> tuple[int, bytes, bytes, dict[str, str]]:
        if req.method == "GET" and req.raw_path in HEALTH_PATHS:
            outcome.api, outcome.action = "none", req.raw_path[1:]
            return await serve_health(req.raw_path, self.state, self._control_status, self._health)
        if req.method == "GET" and req.raw_path == METRICS_PATH and self.metrics_here:
            outcome.api, outcome.action = "none", "metrics"
            payload = await self._health(metrics.render)
            return 200, payload, metrics.CONTENT_TYPE, {"cache-control": "no-store"}
        if req.method == "GET" and not req.query:
            public = serve_wellknown(self.state, req)
            if public is not None:
                outcome.api, outcome.action = "none", "wellknown"
                return public
        http = HttpRequest(req.method, req.raw_path, req.query.decode("latin-1"), req.headers, req.body)
        auth = extract_auth(http)
        params: dict[str, str] | None = None
        if self.relay is not None:  # IAM: the control worker parses the form (a body can be a MiB), not here too
            service, is_iam = (auth.service if auth else None), self.query.is_iam(req, auth)
            if not is_iam and service in CONTROL_JSON_APIS:
                params = await self._params(req)
            if is_control_call(params, service, is_iam):
                outcome.relayed = True
                return await self.relay.forward(req)
        if params is None:
            params = await self._params(req)
        if auth is not None and auth.service == "account" and "Action" not in params:
            from opensts.edge.account_api import serve_account_api

            status, payload, ctype, extra, call = await self.control.run(serve_account_api, self.state, req, http, auth,
                                                                         request_id)
            outcome.from_call(call)
            await self._audit_or_refuse(call, request_id)
            return status, payload, ctype, extra
        if auth is not None and auth.service == "organizations" and "Action" not in params:
            from opensts.edge.organizations_api import serve_organizations_api

            status, payload, ctype, extra, call = await self.control.run(serve_organizations_api, self.state, req, http,
                                                                         auth, request_id)
            outcome.from_call(call)
            await self._audit_or_refuse(call, request_id)
            return status, payload, ctype, extra
        if auth is not None and auth.service == "cloudtrail" and "Action" not in params:
            from opensts.edge.cloudtrail_api import serve_cloudtrail_api

            # a trail is a Region's: LookupEvents signed for another Region is that Region's to answer
            outcome.api, outcome.action = "cloudtrail", "LookupEvents"
            refuse_unless_served(self.state.topology.served, auth.region, "LookupEvents signed for this Region")
            return serve_cloudtrail_api(self.state, req, http, auth, request_id)
        try:
            if self.query.is_iam(req, auth):  # the control plane: off the loop and bounded where it is remote
                payload, _, call = await self.control.run(self.query.run, req, http, auth, request_id, wants_json,
                                                          params)
            else:
                payload, _, call = await self._maybe_off_loop(params.get("Action") in OFF_LOOP, self.query.run,
                                                              req, http, auth, request_id, wants_json, params)
        except ServiceError as err:
            await self._audit(getattr(err, "audit_call", None))
            raise
        outcome.from_call(call)
        await self._audit_or_refuse(call, request_id)
        return 200, payload, _ctype(wants_json), {}

    async def _params(self, req: Request) -> dict[str, str]:
        return await self._maybe_off_loop(len(req.body) > OFF_LOOP_BODY, self.query.params, req)

    async def _control_status(self) -> dict[str, Any]:
        """The control plane's status for /readyz: from the control worker when calls go there."""
        return await self.relay.status() if self.relay is not None else self.control.status()

    def _health(self, fn: Callable[[], Any]) -> Any:
        return asyncio.get_running_loop().run_in_executor(self._health_pool, fn)

    async def _audit_or_refuse(self, call: Call | None, request_id: str) -> None:
        """Write ``call``'s record; when the journal cannot take it, the answer (credentials, or a
        JSON API's result) must not leave: ServiceUnavailable, in the API's own envelope."""
        try:
            await self._audit(call)
        except Exception as exc:  # noqa: BLE001 - no durable record: the answer must not leave
            log.error("audit journal write failed for %s: %s", request_id, type(exc).__name__)
            raise ServiceUnavailable("Service is unavailable. Please try again.") from exc

    def error_response(self, scope: Scope, lookup: dict[str, str], err: ServiceError, request_id: str,
                       wants_json: bool) -> tuple[int, bytes, bytes, dict[str, str]]:
        """``err`` in the envelope of the API the request was for (``API_PROTOCOLS``): awsQuery XML
        in that API's own namespace (IAM's for IAM), or that JSON API's error shape."""
        api = self.api_of(scope, lookup)
        protocol = API_PROTOCOLS.get(api, "query")
        extra = dict(getattr(err, "headers", None) or {})
        if protocol == "query":
            xmlns = self.state.service_for(api).xmlns
            return err.status, render_error(err, request_id, xmlns=xmlns, json=wants_json), _ctype(wants_json), extra
        payload, ctype, headers = render_json_error(protocol, err)
        return err.status, payload, ctype, {**extra, **headers}

    def api_of(self, scope: Scope, lookup: dict[str, str]) -> str:
        """The API a request is for, read as the pipelines route it (credential scope's service;
        an IAM endpoint host means IAM) but from raw headers, so even a request refused before its
        signature was parsed gets its own API's envelope. Never raises."""
        service = credential_service(lookup.get("authorization", ""), scope.get("query_string", b""))
        if API_PROTOCOLS.get(service, "query") != "query":
            return service
        try:
            raw_path = (scope.get("raw_path") or b"/").decode("latin-1").split("?", 1)[0]
            iam_host = self.state.topology.endpoint(lookup.get("host", ""), raw_path).is_iam
        except Exception:  # noqa: BLE001 - an unresolvable host decides nothing
            iam_host = False
        return "iam" if iam_host or service == "iam" else "sts"

    async def _maybe_off_loop(self, heavy: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; when ``heavy`` (bounded but CPU-long: simulations, bodies over
        ``OFF_LOOP_BODY``), in this worker's one off-loop thread so other callers keep being served."""
        if not heavy:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._off_loop, functools.partial(fn, *args))

    async def _audit(self, call: Call | None) -> None:
        if call is not None and self.state.audit is not None:
            await self.state.audit.record(call)
            metrics.journal_written()


#: botocore's ``metadata.protocol`` of every API served on this listener: the error envelope it gets.
API_PROTOCOLS = {"sts": "query", "iam": "query", "organizations": "json", "cloudtrail": "json", "account": "rest-json"}

_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]*/[^/,\s]*/[^/,\s]*/([a-z0-9-]{1,64})/", re.ASCII)
_QUERY_SCOPE_SERVICE = re.compile(rb"X-Amz-Credential=[^&/%]*(?:/|%2F)[^&/%]*(?:/|%2F)[^&/%]*(?:/|%2F)([a-z0-9-]{1,64})(?:/|%2F)",
                                  re.IGNORECASE)


def credential_service(authorization: str, query: bytes) -> str:
    """The service named in a SigV4 credential scope (header, else presigned query), or ""."""
    m = _SCOPE_SERVICE.search(authorization[:4096])
    if m is not None:
        return m.group(1)
    q = _QUERY_SCOPE_SERVICE.search(query[:8192]) if b"X-Amz-Credential" in query else None
    return q.group(1).decode("ascii").lower() if q is not None else ""


def _request(scope: Scope, headers: list[tuple[str, str]], lookup: dict[str, str], body: bytes) -> Request:
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    client = scope.get("client") or ("", 0)
    server = scope.get("server")
    tls = (scope.get("extensions") or {}).get("opensts.tls")
    local = (server[0], server[1]) if server else None
    return Request(scope["method"], raw_path, scope.get("query_string", b""), headers, body, client[0], local,
                   scope.get("scheme") == "https", tls, lookup)


#: Where the Prometheus metrics are served (never audited, throttled or authenticated, as /healthz).
METRICS_PATH = "/metrics"


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg"))


def _first_line(exc: BaseException) -> str:
    """The exception's kind and first line (driver messages name hosts, never statement values:
    engines hide parameters)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _ctype(wants_json: bool) -> bytes:
    return b"application/json" if wants_json else b"text/xml"


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], payload: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
