"""AWS Query (awsQuery) wire protocol, compiled from botocore's STS/IAM service models.

Public surface::

    from opensts.protocol import parse_form, load_service, render_error

    params = parse_form(body_or_query_bytes)               # MalformedQueryString / InvalidQueryParameter
    spec = load_service("sts")                             # compiled once per process
    op = spec.operation(params.get("Action"), params.get("Version"))   # MissingAction / InvalidAction
    args = op.parse(params)                                # ValidationError (AWS message format)
    body = op.render(result, request_id, json=wants_json)  # bytes; op.content_type_xml / _json
    err_body = render_error(err, request_id, xmlns=spec.xmlns, json=wants_json)

Knows nothing about IAM/STS business logic or storage.
"""

from .errors import ServiceError
from .form import parse_form
from .model import ErrorSpec, OperationSpec, ServiceSpec, compile_service, load_service, modelled_error
from .render import CONTENT_TYPE_JSON, CONTENT_TYPE_XML, render_error

__all__ = [
    "parse_form",
    "load_service",
    "compile_service",
    "ServiceSpec",
    "OperationSpec",
    "ErrorSpec",
    "modelled_error",
    "render_error",
    "ServiceError",
    "CONTENT_TYPE_XML",
    "CONTENT_TYPE_JSON",
]
