"""Issue 14: bad input on the awsQuery wire gets a 4xx with AWS's code, never a 500.

Table-driven over EVERY STS and IAM operation of the botocore models the server serves, against a
real server on loopback, with requests signed by botocore as the admin:

* each operation with only its required members (every optional member left out, so handlers that
  read an optional member blindly show up);
* each structure (or list-of-structure / map-of-structure) member present with only its required
  inner members plus an unknown one (``X.Foo=bar``, ``X.member.1.Foo=bar``);
* each integer member with a 5000-digit value, ``²``, ``٣`` (Arabic-Indic three), an empty string
  (→ ``ValidationError``) and a negative value (→ never 5xx);
* each list (and map) member with index 0 and a 5000-digit index (→ ``MalformedInput``, as AWS's
  query deserializer answers ``0 is not a valid index``);
* presigned ``X-Amz-Expires`` of any shape (→ ``IncompleteSignature``), the review's own examples,
  and a bounded hypothesis fuzz of mutated model-valid requests over every operation.

Every answer must be a well-formed XML ``ErrorResponse`` (or a success) in the namespace of the API
called, parsed back by botocore's own query parser.
"""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import Shape
from botocore.parsers import QueryParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server
from tests.protocol.samples import value_for

CREDS = Credentials(ADMIN_KEY, ADMIN_SECRET)
SESSION = botocore.session.get_session()
MODELS = {svc: SESSION.get_service_model(svc) for svc in ("sts", "iam")}
XMLNS = {svc: MODELS[svc].metadata["xmlNamespace"] for svc in MODELS}
HUGE = "9" * 5000
BAD_INTEGERS = (HUGE, "²", "٣", "")
UNKNOWN = "Foo"  # a member no STS/IAM structure has
SAMPLE_ACCOUNT = "123456789012"
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},'
         '"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}' % ACCOUNT_ID)

Params = dict[str, str]


# ---------------------------------------------------------------------------- awsQuery encoding
def _encode(shape: Shape, value: Any, prefix: str, out: Params) -> None:
    """botocore's awsQuery serialization (STS and IAM inputs use no flattened / locationName)."""
    t = shape.type_name
    if t == "structure":
        for name, member in shape.members.items():
            if name in value:
                _encode(member, value[name], f"{prefix}.{name}" if prefix else name, out)
    elif t == "list":
        for i, item in enumerate(value, 1):
            _encode(shape.member, item, f"{prefix}.member.{i}", out)
    elif t == "map":
        for i, (k, v) in enumerate(value.items(), 1):
            _encode(shape.key, k, f"{prefix}.entry.{i}.key", out)
            _encode(shape.value, v, f"{prefix}.entry.{i}.value", out)
    elif t == "boolean":
        out[prefix] = "true" if value else "false"
    elif t == "timestamp":
        out[prefix] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif t == "blob":
        import base64

        out[prefix] = base64.b64encode(value).decode()
    else:
        out[prefix] = str(value)


def minimal(shape: Shape, depth: int = 0) -> Any:
    """A model-valid value with only the required members (recursively)."""
    if shape.type_name != "structure":
        return value_for(shape, depth)
    return {n: minimal(m, depth + 1) for n, m in shape.members.items() if n in shape.required_members}


def minimal_params(shape: Shape | None) -> Params:
    out: Params = {}
    if shape is not None:
        _encode(shape, minimal(shape), "", out)
    return out


# ---------------------------------------------------------------------------- the case tables
def _element(shape: Shape) -> tuple[Shape, str] | None:
    """For an aggregate: the structure-ish element shape and the wire infix of its first element."""
    if shape.type_name == "structure":
        return shape, ""
    if shape.type_name == "list":
        return shape.member, ".member.1"
    if shape.type_name == "map":
        return shape.value, ".entry.1.value"
    return None


def _walk(shape: Shape, prefix: str, depth: int = 0, seen: tuple[str, ...] = ()) -> Iterator[tuple[str, Shape, Shape, bool]]:
    """(wire prefix, member shape, owning shape, required) of every member reachable, depth-bounded."""
    if depth > 3 or shape.name in seen:
        return
    for name, member in shape.members.items():
        wire = f"{prefix}.{name}" if prefix else name
        yield wire, member, shape, name in shape.required_members
        found = _element(member)
        if found is not None and found[0].type_name == "structure":
            yield from _walk(found[0], wire + found[1], depth + 1, (*seen, shape.name))


def _with_parents(service: str, op: str, wire: str) -> Params:
    """Minimal params plus the minimal chain of enclosing aggregates down to ``wire``."""
    model = MODELS[service].operation_model(op)
    params = minimal_params(model.input_shape)
    shape = model.input_shape
    path = ""
    for part in wire.split(".")[:-1]:
        path = f"{path}.{part}" if path else part
        if part == "member":
            shape = shape.member
            continue
        if part == "entry":
            continue
        if part.isdigit() and shape.type_name == "map":
            _encode(shape.key, value_for(shape.key), f"{path}.key", params)
            continue
        if part == "value":
            shape = shape.value
        elif not part.isdigit():
            shape = shape.members[part]
        if shape.type_name == "structure":
            _encode(shape, minimal(shape), path, params)
    return params


def _operations() -> Iterator[tuple[str, str]]:
    for service, model in MODELS.items():
        for op in model.operation_names:
            yield service, op


def structure_cases() -> Iterator[Any]:
    for service, op in _operations():
        shape = MODELS[service].operation_model(op).input_shape
        if shape is None:
            continue
        for wire, member, _owner, required in _walk(shape, ""):
            found = _element(member)
            if found is None or found[0].type_name != "structure":
                continue
            element, infix = found
            params = _with_parents(service, op, wire)
            _encode(element, minimal(element), wire + infix, params)
            params[f"{wire}{infix}.{UNKNOWN}"] = "bar"
            yield pytest.param(service, op, params, id=f"{service}:{op}:{wire}")


def integer_cases() -> Iterator[Any]:
    for service, op in _operations():
        shape = MODELS[service].operation_model(op).input_shape
        if shape is None:
            continue
        for wire, member, _owner, _required in _walk(shape, ""):
            targets = []
            if member.type_name in ("integer", "long"):
                targets.append(wire)
            elif member.type_name == "list" and member.member.type_name in ("integer", "long"):
                targets.append(wire + ".member.1")
            for target in targets:
                params = _with_parents(service, op, wire)
                yield pytest.param(service, op, params, target, id=f"{service}:{op}:{target}")


def index_cases() -> Iterator[Any]:
    for service, op in _operations():
        shape = MODELS[service].operation_model(op).input_shape
        if shape is None:
            continue
        for wire, member, _owner, _required in _walk(shape, ""):
            if member.type_name not in ("list", "map"):
                continue
            params = _with_parents(service, op, wire)
            params = {k: v for k, v in params.items() if not k.startswith(wire + ".")}
            _encode(member, value_for(member), wire, params)
            yield pytest.param(service, op, params, wire, id=f"{service}:{op}:{wire}")


# ---------------------------------------------------------------------------- the wire
class Wire:
    """One keep-alive connection; every request signed by botocore as the admin."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def call(self, service: str, action: str, params: Params) -> tuple[int, bytes]:
        # Sample ARNs name account 123456789012; ours lets the handlers get past "no such entity".
        params = {k: v.replace(SAMPLE_ACCOUNT, ACCOUNT_ID) for k, v in params.items()}
        body = urlencode({"Action": action, "Version": MODELS[service].api_version, **params})
        req = AWSRequest("POST", self.server.url + "/", data=body.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(CREDS, service, "us-east-1").add_auth(req)
        for attempt in (0, 1):
            try:
                self.conn.request("POST", "/", body=req.body, headers=dict(req.headers))
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    srv = start_server(Path(tmp_path_factory.mktemp("never500")))
    try:
        iam = srv.client("iam")
        # The names the samples use (tests/protocol/samples.py), so handlers run past their look-ups.
        iam.create_role(RoleName="example", AssumeRolePolicyDocument=TRUST)  # type: ignore[attr-defined]
        iam.create_role(RoleName="RoleName", AssumeRolePolicyDocument=TRUST)  # type: ignore[attr-defined]
        iam.create_user(UserName="UserName")  # type: ignore[attr-defined]
        yield Wire(srv)
    finally:
        stop_server(srv)


def error_of(service: str, action: str, status: int, body: bytes) -> dict[str, str]:
    """The error as botocore reads it, after checking the envelope is well-formed and namespaced."""
    root = ET.fromstring(body)
    assert root.tag == "{%s}ErrorResponse" % XMLNS[service], body[:300]
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": status},
                                 MODELS[service].operation_model(action).output_shape)
    error = parsed["Error"]
    assert error["Code"], body[:300]
    return error


def assert_never_5xx(service: str, action: str, status: int, body: bytes) -> dict[str, str] | None:
    if status == 501:  # an operation this server does not implement: AWS-shaped NotImplemented
        assert error_of(service, action, status, body)["Code"] == "NotImplemented"
        return None
    assert status < 500, body[:500]
    if status >= 400:
        return error_of(service, action, status, body)
    ET.fromstring(body)
    return None


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize(("service", "action"), list(_operations()), ids=lambda v: v)
def test_only_required_members(wire: Wire, service: str, action: str) -> None:
    shape = MODELS[service].operation_model(action).input_shape
    status, body = wire.call(service, action, minimal_params(shape))
    assert_never_5xx(service, action, status, body)


@pytest.mark.parametrize(("service", "action", "params"), list(structure_cases()))
def test_structure_with_unknown_inner_member(wire: Wire, service: str, action: str, params: Params) -> None:
    status, body = wire.call(service, action, params)
    assert_never_5xx(service, action, status, body)


@pytest.mark.parametrize(("service", "action", "params", "target"), list(integer_cases()))
def test_integer_members(wire: Wire, service: str, action: str, params: Params, target: str) -> None:
    for bad in BAD_INTEGERS:
        status, body = wire.call(service, action, {**params, target: bad})
        error = assert_never_5xx(service, action, status, body)
        assert status == 400 and error is not None and error["Code"] == "ValidationError", (bad[:8], body[:300])
        assert "Member must be a valid integer" in error["Message"]
    status, body = wire.call(service, action, {**params, target: "-1"})
    assert_never_5xx(service, action, status, body)


@pytest.mark.parametrize(("service", "action", "params", "wire_name"), list(index_cases()))
def test_list_indexes(wire: Wire, service: str, action: str, params: Params, wire_name: str) -> None:
    for index in ("0", HUGE):
        moved = {}
        for k, v in params.items():
            for head, tail in ((".member.", ""), (".entry.", ".")):
                first = f"{wire_name}{head}1{tail}"
                if k == first.rstrip(".") or k.startswith(first if tail else first + "."):
                    k = f"{wire_name}{head}{index}{k[len(first.rstrip('.')):]}"
                    break
            moved[k] = v
        status, body = wire.call(service, action, moved)
        error = assert_never_5xx(service, action, status, body)
        assert status == 400 and error is not None and error["Code"] == "MalformedInput", body[:300]
        assert error["Message"] == f"{index} is not a valid index"


ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/example"


@pytest.mark.parametrize(("service", "action", "params", "code", "message"), [
    ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s1", "PolicyArns.member.1.Key": "k"},
     "ValidationError", "Value null at 'policyArns.1.member.arn' failed to satisfy constraint: Member must not be null"),
    ("sts", "GetFederationToken", {"Name": "bob", "PolicyArns.member.1.Key": "k"},
     "ValidationError", "Value null at 'policyArns.1.member.arn' failed to satisfy constraint: Member must not be null"),
    ("sts", "AssumeRoot", {"TargetPrincipal": ACCOUNT_ID, "TaskPolicyArn.x": "y"},
     "ValidationError", "Value null at 'taskPolicyArn.arn' failed to satisfy constraint: Member must not be null"),
    ("sts", "GetWebIdentityToken", {"Audience.member.1": "a", "SigningAlgorithm": "Examp"},
     "ValidationError", "Member must satisfy enum value set: [RS256, ES384]"),
    ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s1", "DurationSeconds": HUGE},
     "ValidationError", "at 'durationSeconds' failed to satisfy constraint: Member must be a valid integer"),
    ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s1", f"Tags.member.{HUGE}.Key": "k",
                           f"Tags.member.{HUGE}.Value": "v"}, "MalformedInput", f"{HUGE} is not a valid index"),
    ("iam", "ListUsers", {"MaxItems": HUGE}, "ValidationError", "Member must be a valid integer"),
    ("iam", "ListUsers", {"Marker": "²"}, "InvalidInput", "Invalid Marker."),
    ("iam", "ListUsers", {"Marker": "9" * 320}, "InvalidInput", "Invalid Marker."),
    ("iam", "DeactivateMFADevice", {"SerialNumber": f"arn:aws:iam::{ACCOUNT_ID}:mfa/none"},
     "NoSuchEntity", "does not exist"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_reported_examples(wire: Wire, service: str, action: str, params: Params, code: str, message: str) -> None:
    """The adversarial review's own examples, each answered with AWS's error, not a 500."""
    status, body = wire.call(service, action, params)
    error = assert_never_5xx(service, action, status, body)
    assert error is not None and error["Code"] == code and message in error["Message"], body[:400]


@pytest.mark.parametrize("expires", [HUGE, "٣", "²", "", "-" + HUGE, "1_0", " 60"])
def test_presigned_expires_never_500(wire: Wire, expires: str) -> None:
    """``X-Amz-Expires`` is read with the same ASCII, length-bounded parser (auth/sigv4/presigned.py)."""
    from urllib.parse import quote

    from botocore.auth import SigV4QueryAuth

    req = AWSRequest("GET", f"{wire.server.url}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(CREDS, "sts", "us-east-1", expires=60).add_auth(req)
    url = req.url.replace("X-Amz-Expires=60", "X-Amz-Expires=" + quote(expires))
    conn = http.client.HTTPConnection("127.0.0.1", wire.server.port, timeout=30)
    try:
        conn.request("GET", url.split(str(wire.server.port), 1)[1])
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    finally:
        conn.close()
    error = assert_never_5xx("sts", "GetCallerIdentity", status, body)
    assert status == 400 and error is not None and error["Code"] == "IncompleteSignature", body[:300]
    assert error["Message"] == "X-Amz-Expires should be a number"


# ---------------------------------------------------------------------------- bounded wire fuzz
def _full_params(service: str, op: str) -> Params:
    shape = MODELS[service].operation_model(op).input_shape
    out: Params = {}
    if shape is not None:
        _encode(shape, value_for(shape), "", out)
    return out


NASTY = st.one_of(
    st.sampled_from(["", "0", "-1", HUGE[:40], "²", "٣", "\x01", "\uffff", "a" * 2049, "arn:aws:iam::111122223333:role/x",
                     "{}", "[", "true", "null", "*", "..", "/", "%", "1e9", "NaN"]),
    st.text(max_size=30),
)
OPS = list(_operations())


@st.composite
def fuzzed_request(draw: st.DrawFn) -> tuple[str, str, Params]:
    service, op = draw(st.sampled_from(OPS))
    params = draw(st.sampled_from([_full_params, lambda s, o: minimal_params(MODELS[s].operation_model(o).input_shape)]))(service, op)
    keys = sorted(params)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["replace", "drop", "add"]))
        if kind == "add" or not keys:
            base = draw(st.sampled_from(keys or ["X"]))
            params[base.rsplit(".", 1)[0] + "." + draw(st.sampled_from(["member.1", "Foo", "entry.1.key", "0", "1"]))] = draw(NASTY)
        elif kind == "drop":
            params.pop(draw(st.sampled_from(keys)), None)
        else:
            params[draw(st.sampled_from(keys))] = draw(NASTY)
    return service, op, params


@given(request=fuzzed_request())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fuzzed_requests_never_500(wire: Wire, request: tuple[str, str, Params]) -> None:
    """Model-valid requests (full or minimal) with up to three values replaced, dropped or added."""
    service, op, params = request
    status, body = wire.call(service, op, params)
    assert_never_5xx(service, op, status, body)
