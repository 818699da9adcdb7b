"""The awsQuery request path (STS and IAM), step by step, as the AWS services apply it.

    params ← form body / query string
    endpoint ← Host header or path prefix (regions/resolve.py); origin ← listener / network
    auth ← SigV4 header or presigned query; service ← credential scope (IAM host → IAM)
    operation ← Action + Version (compiled model)
    placement ← endpoint + origin: serving Region, endpoint type, aws:RequestedRegion
    caller ← access key (+ token); signature verified; scope Region checked
    Region rules (opt-in enablement, token version) → quota charged → actions refused on the
    global endpoint → input validated → handler → rendered response
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opensts.auth.sigv4 import HttpRequest, SigV4Auth
from opensts.audit.events import Call
from opensts.protocol.errors import (
    InvalidAction,
    MissingAction,
    MissingAuthenticationToken,
    ServiceError,
)
from opensts.protocol.form import parse_form
from opensts.regions.elsewhere import refuse_unless_served
from opensts.regions.resolve import GLOBAL, Endpoint, Placement
from opensts.service.context import RequestInfo
from opensts.service.identifiers import parse_arn

if TYPE_CHECKING:
    from opensts.app_state import AppState

__all__ = ["QueryPipeline", "Request"]

#: Actions AWS serves only on regional endpoints (sts-api.md §0, §3.4, §3.11).
REGIONAL_ONLY = frozenset({"AssumeRoot", "GetWebIdentityToken", "GetScopedCredentials"})


class _KnownRegions:
    """``region in _KnownRegions(catalog)``: any Region of any partition we serve."""

    def __init__(self, catalog: object) -> None:
        self._catalog = catalog

    def __contains__(self, region: object) -> bool:
        return isinstance(region, str) and self._catalog.region(region) is not None  # type: ignore[attr-defined]


class Request:
    """The HTTP facts of one request, as the ASGI layer received them."""

    __slots__ = ("method", "raw_path", "query", "headers", "body", "client_ip", "local", "secure", "tls", "_lookup",
                 "endpoint")

    def __init__(self, method: str, raw_path: str, query: bytes, headers: list[tuple[str, str]], body: bytes,
                 client_ip: str, local: tuple[str, int] | None, secure: bool, tls: dict[str, str] | None = None,
                 lookup: dict[str, str] | None = None) -> None:
        self.method, self.raw_path, self.query, self.headers, self.body = method, raw_path, query, headers, body
        self.client_ip, self.local, self.secure, self.tls = client_ip, local, secure, tls
        self._lookup = lookup if lookup is not None else {k.lower(): v for k, v in reversed(headers)}
        self.endpoint: Endpoint | None = None  # resolved once, by QueryPipeline.endpoint

    def header(self, name: str) -> str:
        """The first value of header ``name`` (lower case), or ""."""
        return self._lookup.get(name, "")

    @property
    def is_form(self) -> bool:
        ctype = self.header("content-type").lower()
        return not ctype or ctype.startswith("application/x-www-form-urlencoded")


class QueryPipeline:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def params(self, req: Request) -> dict[str, str]:
        params = parse_form(req.query) if req.query else {}
        if req.method == "POST" and req.body and req.is_form:
            params.update(parse_form(req.body))
        return params

    def endpoint(self, req: Request) -> Endpoint:
        """The endpoint ``req`` names (Host, or a path prefix), resolved once per request."""
        endpoint = req.endpoint
        if endpoint is None:
            endpoint = req.endpoint = self.state.topology.endpoint(req.header("host"), req.raw_path)
        return endpoint

    def is_iam(self, req: Request, auth: SigV4Auth | None) -> bool:
        """An IAM call, as ``run`` routes it: an IAM endpoint host, or credentials scoped to iam."""
        return self.endpoint(req).is_iam or (auth is not None and auth.service == "iam")

    def run(self, req: Request, http: HttpRequest, auth: SigV4Auth | None, request_id: str, wants_json: bool,
            params: Mapping[str, str]) -> tuple[bytes, str, Call | None]:
        """Serve one request; returns (body, xmlns, audit call). Raises ServiceError for AWS
        errors, carrying ``audit_call`` once the action is known (failures are audited too)."""
        state = self.state
        topo = state.topology
        endpoint = self.endpoint(req)
        spec = state.iam if endpoint.is_iam else state.service_for(auth.service if auth else "sts")
        action = params.get("Action")
        if not action:
            raise MissingAction("Could not find action or operation in request")
        op = spec.operation(action, params.get("Version"))
        placement = topo.place(endpoint, topo.origin(req.local, req.client_ip), auth.region if auth else None)
        if spec.name == "sts":  # IAM calls go to the control plane from every node
            refuse_unless_served(topo.served, placement.serving_region)  # before any key, quota or trail is used
        info = self._info(req, request_id, op.name, placement)
        parsed: dict[str, Any] | None = None
        try:
            if not op.unauthenticated:
                if auth is None:
                    raise MissingAuthenticationToken("Request is missing Authentication Token")
                self._authenticate(http, auth, info, spec.signing_name, placement)
                state.region_rules.check_caller(info.caller, placement, op.name)  # type: ignore[arg-type]
            self._charge(info, spec.name, params)
            if spec.name == "sts" and placement.endpoint_type == GLOBAL and op.name in REGIONAL_ONLY:
                raise InvalidAction(
                    f"{op.name} is not available on the AWS STS global endpoint; use a Regional endpoint."
                )
            parsed = op.parse(params)
            result = state.dispatch(spec.name, info, parsed)
        except ServiceError as err:
            err.audit_call = Call(spec.name, info, parsed, None, err.code, err.message, req.tls,  # type: ignore[attr-defined]
                                  op.sensitive_members)
            raise
        call = Call(spec.name, info, parsed, result, tls=req.tls, sensitive=op.sensitive_members)
        return op.render(result, request_id, json=wants_json), spec.xmlns, call

    def _info(self, req: Request, request_id: str, action: str, placement: Placement) -> RequestInfo:
        info = RequestInfo(request_id, action, self.state.now(), None, host=req.header("host"))
        info.source_ip = req.client_ip
        info.user_agent = req.header("user-agent")[:1024]
        info.secure_transport = req.secure
        info.serving_region = placement.serving_region
        info.endpoint_type = placement.endpoint_type
        info.extra["placement"] = placement
        info.extra["requested_region"] = placement.requested_region
        return info

    def _authenticate(self, http: HttpRequest, auth: SigV4Auth, info: RequestInfo, service: str,
                      placement: Placement) -> None:
        expected = placement.scope_region
        regions = (expected,) if expected is not None else _KnownRegions(self.state.topology.catalog)
        info.caller = self.state.authenticate(http, auth, info.now, service=service, regions=regions)
        info.signing_region = auth.region

    def _charge(self, info: RequestInfo, service: str, params: Mapping[str, str]) -> None:
        """Only the calling account's quota is charged (cross-account AssumeRole included);
        unsigned federation calls charge the role's account."""
        if info.caller is not None:
            account = info.caller.account_id
        else:
            parsed = parse_arn(params.get("RoleArn", ""))
            account = parsed[3] if parsed else "anonymous"
        self.state.quotas.charge(account, info.serving_region, info.endpoint_type, service, info.action)

