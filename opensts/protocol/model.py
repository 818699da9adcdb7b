"""Service specs compiled from botocore's service models (STS 2011-06-15, IAM 2010-05-08).

``load_service("sts")`` reads ``botocore/data/sts/2011-06-15/service-2.json.gz`` once (``functools.cache``)
and compiles every operation into:

* a request reader: flattened awsQuery params → botocore-shaped input dict, with every model constraint
  checked (``inputs.py``); all violations become one ``ValidationError``;
* XML and JSON response renderers (``render.py``);
* metadata business code needs: modelled errors (wire code → HTTP status), sensitive members,
  whether the operation is unauthenticated.

botocore is imported only to locate its data directory, inside ``load_service``; nothing compiled here
refers to botocore objects, so request handling never touches it. ``compile_service(model_dict)`` is
the same compiler for any query-protocol model dict (used by tests with the smithy protocol-test
service).

Usage::

    sts = load_service("sts")
    op = sts.operation(params.get("Action"), params.get("Version"))   # InvalidAction / MissingAction
    args = op.parse(params)                                           # ValidationError
    body = op.render(result, request_id, json=wants_json)
    raise sts.modelled_error("MalformedPolicyDocument", "...")        # status 400 from the model
"""

from __future__ import annotations

import functools
import gzip
import json as _json
import os
from types import MappingProxyType
from typing import Any, Callable, Mapping

import orjson

from opensts.frozen import frozen

from .errors import InvalidAction, MissingAction, ServiceError, ValidationError
from .inputs import InputCompiler
from .overlay import apply_overlay
from .render import CONTENT_TYPE_JSON, CONTENT_TYPE_XML, OutputCompiler, escape, render_error

__all__ = [
    "load_service",
    "compile_service",
    "ServiceSpec",
    "OperationSpec",
    "ErrorSpec",
    "modelled_error",
    "format_validation",
    "SERVICE_VERSIONS",
]

#: Services this build knows how to load, with the model version compiled.
SERVICE_VERSIONS = {"sts": "2011-06-15", "iam": "2010-05-08"}

#: What CloudTrail writes in place of a sensitive value.
REDACTED = "HIDDEN_DUE_TO_SECURITY_REASONS"

#: Version placeholder in AWS's InvalidAction message when the request carries no Version.
NO_VERSION = "NO_VERSION_SPECIFIED"


@frozen
class ErrorSpec:
    """A modelled error: wire ``code`` (the model's ``error.code``, else the shape name), HTTP status."""

    code: str
    status: int
    sender_fault: bool
    shape: str

    def __call__(self, message: str = "") -> ServiceError:
        return ServiceError(message, code=self.code, status=self.status, sender_fault=self.sender_fault)


def format_validation(errs: list[str]) -> str:
    n = len(errs)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(errs)


class OperationSpec:
    """One compiled operation. Immutable after load; safe to share across threads/tasks."""

    content_type_xml = CONTENT_TYPE_XML
    content_type_json = CONTENT_TYPE_JSON

    __slots__ = (
        "name",
        "service",
        "errors",
        "sensitive_members",
        "unauthenticated",
        "input_shape",
        "output_shape",
        "_read",
        "_xml_head",
        "_xml_tail",
        "_xml_body",
        "_json_conv",
        "_json_key",
        "_result_key",
        "_redact_in",
        "_redact_out",
    )

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def __repr__(self) -> str:
        return f"OperationSpec({self.service}:{self.name})"

    def parse(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Flattened wire params → validated input dict shaped like botocore's input params.

        Unknown params (Action, Version, X-Amz-*, typos) are ignored. Raises ``ValidationError`` with
        every violation in AWS's format.
        """
        errs: list[str] = []
        out = self._read(params, errs)
        if errs:
            raise ValidationError(format_validation(errs))
        return out

    def render(self, result: Mapping[str, Any] | None, request_id: str, *, json: bool = False) -> bytes:
        """Success body for ``result`` (a dict shaped like botocore's parsed output)."""
        if json:
            inner: dict[str, Any] = {}
            if self._json_conv is not None:
                inner[self._result_key] = self._json_conv(result or {})
            inner["ResponseMetadata"] = {"RequestId": request_id}
            return orjson.dumps({self._json_key: inner})
        out = [self._xml_head]
        if self._xml_body is not None:
            self._xml_body(result or {}, out)
        out.append(self._xml_tail[0])
        out.append(escape(request_id))
        out.append(self._xml_tail[1])
        return "".join(out).encode("utf-8")

    def redact_input(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Copy of a parsed input with ``sensitive`` values replaced by ``HIDDEN_DUE_TO_SECURITY_REASONS``."""
        return self._redact_in(params)  # type: ignore[no-any-return]

    def redact_output(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """Copy of a result with ``sensitive`` values (e.g. ``SecretAccessKey``) redacted."""
        return self._redact_out(result)  # type: ignore[no-any-return]

    def error(self, code: str, message: str = "") -> ServiceError:
        """A modelled error of this operation (by wire code or shape name)."""
        spec = self.errors.get(code)
        if spec is None:
            spec = next((e for e in self.errors.values() if e.shape == code), None)
        if spec is None:
            raise KeyError(f"{code} is not a modelled error of {self.name}")
        return spec(message)


class ServiceSpec:
    """A compiled service: metadata plus ``operations`` by wire Action name."""

    __slots__ = ("name", "api_version", "xmlns", "signing_name", "operations", "errors", "global_endpoint")

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def __repr__(self) -> str:
        return f"ServiceSpec({self.name} {self.api_version}, {len(self.operations)} operations)"

    def operation(self, action: str | None, version: str | None) -> OperationSpec:
        """Dispatch on the ``Action``/``Version`` params.

        * no/empty Action → ``MissingAction``;
        * unknown Action, or a Version other than the model's → ``InvalidAction``
          ``Could not find operation <Action> for version <Version>``;
        * no Version → the same, with AWS's ``NO_VERSION_SPECIFIED`` placeholder.
        """
        if not action:
            raise MissingAction("Missing Action")
        op = self.operations.get(action)
        if op is None or version != self.api_version:
            raise InvalidAction(f"Could not find operation {action} for version {version or NO_VERSION}")
        return op

    def modelled_error(self, code: str, message: str = "") -> ServiceError:
        """Build a modelled error by wire code (``MalformedPolicyDocument``) or shape name
        (``MalformedPolicyDocumentException``) with the model's HTTP status and fault."""
        spec = self.errors.get(code)
        if spec is None:
            spec = next((e for e in self.errors.values() if e.shape == code), None)
        if spec is None:
            raise KeyError(f"{code} is not a modelled error of {self.name}")
        return spec(message)

    def render_error(self, err: ServiceError, request_id: str, *, json: bool = False) -> bytes:
        return render_error(err, request_id, xmlns=self.xmlns, json=json)


def modelled_error(service: str | ServiceSpec, code: str, message: str = "") -> ServiceError:
    """``modelled_error("sts", "MalformedPolicyDocument", "...")`` → ServiceError with the model's status."""
    spec = load_service(service) if isinstance(service, str) else service
    return spec.modelled_error(code, message)


# ---------------------------------------------------------------------------- compilation


def _error_spec(shapes: dict, shape_name: str) -> ErrorSpec:
    shape = shapes[shape_name]
    err = shape.get("error", {})
    return ErrorSpec(
        code=err.get("code", shape_name),
        status=int(err.get("httpStatusCode", 400)),
        sender_fault=bool(err["senderFault"]) if "senderFault" in err else not (
            shape.get("fault") or int(err.get("httpStatusCode", 400)) >= 500
        ),
        shape=shape_name,
    )


def _sensitive_members(shapes: dict, shape_name: str | None) -> frozenset[str]:
    """Top-level members that are sensitive or contain sensitive data."""
    if shape_name is None:
        return frozenset()

    def contains(name: str, seen: frozenset[str]) -> bool:
        s = shapes[name]
        if s.get("sensitive"):
            return True
        if name in seen:
            return False
        seen = seen | {name}
        t = s["type"]
        if t == "structure":
            return any(r.get("sensitive") or contains(r["shape"], seen) for r in s.get("members", {}).values())
        if t == "list":
            return contains(s["member"]["shape"], seen)
        if t == "map":
            return contains(s["key"]["shape"], seen) or contains(s["value"]["shape"], seen)
        return False

    return frozenset(
        m for m, ref in shapes[shape_name].get("members", {}).items()
        if ref.get("sensitive") or contains(ref["shape"], frozenset())
    )


def _redactor(shapes: dict, shape_name: str | None) -> Callable[[Any], Any]:
    cache: dict[str, Callable[[Any], Any]] = {}

    def build(name: str) -> Callable[[Any], Any]:
        if name in cache:
            return cache[name]
        s = shapes[name]
        if s.get("sensitive"):
            fn: Callable[[Any], Any] = lambda v: REDACTED
            cache[name] = fn
            return fn
        slot: list = []
        cache[name] = lambda v: slot[0](v)
        t = s["type"]
        if t == "structure":
            members = {
                m: ((lambda v: REDACTED) if ref.get("sensitive") else build(ref["shape"]))
                for m, ref in s.get("members", {}).items()
            }
            fn = lambda v: {k: (members[k](x) if k in members and x is not None else x) for k, x in v.items()}
        elif t == "list":
            item = build(s["member"]["shape"])
            fn = lambda v: [item(e) for e in v]
        elif t == "map":
            val = build(s["value"]["shape"])
            fn = lambda v: {k: val(x) for k, x in v.items()}
        else:
            fn = lambda v: v
        slot.append(fn)
        cache[name] = fn
        return fn

    if shape_name is None:
        return lambda v: dict(v)
    return build(shape_name)


def compile_service(model: dict, name: str | None = None) -> ServiceSpec:
    """Compile a query-protocol service model (botocore ``service-2.json`` structure)."""
    meta = model["metadata"]
    svc_name = name or meta.get("endpointPrefix", meta.get("serviceId", "")).lower()
    shapes = apply_overlay(svc_name, model["shapes"])
    xmlns = meta.get("xmlNamespace", "")
    inputs = InputCompiler(shapes)
    outputs = OutputCompiler(shapes)
    all_errors: dict[str, ErrorSpec] = {}
    ops: dict[str, OperationSpec] = {}
    for op_name, op in model["operations"].items():
        in_shape = op.get("input", {}).get("shape")
        out_ref = op.get("output")
        out_shape = out_ref.get("shape") if out_ref else None
        result_key = (out_ref or {}).get("resultWrapper", f"{op_name}Result")
        errors: dict[str, ErrorSpec] = {}
        for e in op.get("errors", ()):
            spec = _error_spec(shapes, e["shape"])
            errors[spec.code] = spec
            all_errors[spec.code] = spec
        head = f'<{op_name}Response xmlns="{xmlns}">' if xmlns else f"<{op_name}Response>"
        if out_shape is not None:
            head += f"<{result_key}>"
            tail = (
                f"</{result_key}><ResponseMetadata><RequestId>",
                f"</RequestId></ResponseMetadata></{op_name}Response>",
            )
            xml_body = outputs.struct_body(out_shape)
            json_conv = outputs.json_conv(out_shape)
        else:
            tail = ("<ResponseMetadata><RequestId>", f"</RequestId></ResponseMetadata></{op_name}Response>")
            xml_body = None
            json_conv = None
        auth = op.get("auth")
        unauth = op.get("authtype") == "none" or (auth is not None and list(auth) == ["smithy.api#noAuth"])
        ops[op_name] = OperationSpec(
            name=op_name,
            service=svc_name,
            errors=MappingProxyType(errors),
            sensitive_members=_sensitive_members(shapes, in_shape),
            unauthenticated=unauth,
            input_shape=in_shape,
            output_shape=out_shape,
            _read=inputs.top_reader(in_shape),
            _xml_head=head,
            _xml_tail=tail,
            _xml_body=xml_body,
            _json_conv=json_conv,
            _json_key=f"{op_name}Response",
            _result_key=result_key,
            _redact_in=_redactor(shapes, in_shape),
            _redact_out=_redactor(shapes, out_shape),
        )
    # Error shapes not referenced by any operation still count as modelled.
    for sname, s in shapes.items():
        if s.get("exception"):
            spec = _error_spec(shapes, sname)
            all_errors.setdefault(spec.code, spec)
    return ServiceSpec(
        name=svc_name,
        api_version=meta["apiVersion"],
        xmlns=xmlns,
        signing_name=meta.get("signingName", meta.get("endpointPrefix", svc_name)),
        global_endpoint=meta.get("globalEndpoint"),
        operations=MappingProxyType(ops),
        errors=MappingProxyType(all_errors),
    )


def _model_path(name: str, version: str) -> str:
    # Locate botocore's package data without importing (executing) botocore itself.
    import importlib.util

    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("botocore is not installed; it provides the service models")
    base = os.path.join(list(spec.submodule_search_locations)[0], "data", name, version)
    for fname in ("service-2.json.gz", "service-2.json"):
        p = os.path.join(base, fname)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"no botocore model for {name} {version} under {base}")


@functools.cache
def load_service(name: str) -> ServiceSpec:
    """Compile (once per process) the query-protocol spec for ``"sts"`` or ``"iam"``."""
    version = SERVICE_VERSIONS.get(name)
    if version is None:
        raise ValueError(f"unknown service {name!r}; known: {sorted(SERVICE_VERSIONS)}")
    path = _model_path(name, version)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        model = _json.loads(f.read())
    return compile_service(model, name)
