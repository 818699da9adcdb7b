"""Issue 14: an error answers in the envelope of the API that was called — IAM's XML namespace for
IAM (never STS's), JSON errors for the JSON APIs — including the last-resort 500.

The 500 is forced without any test hook in production code: the real ASGI app is built in-process
over a real (bootstrapped) data folder, the handler of one protocol is replaced by one that raises
(pytest's monkeypatch), and the request — signed by botocore for that service — goes through the
app's own error barrier. Refusals that happen before a signature is even parsed are checked on a
real server.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser

from opensts.edge.asgi import API_PROTOCOLS, StsAsgiApp, credential_service
from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server

CREDS = Credentials(ADMIN_KEY, ADMIN_SECRET)
SESSION = botocore.session.get_session()
HOST = "127.0.0.1:8080"

#: One representative call per API: (service, operation, request body, content type, X-Amz-Target).
CALLS = {
    "sts": ("GetCallerIdentity", "Action=GetCallerIdentity&Version=2011-06-15", "application/x-www-form-urlencoded", None),
    "iam": ("ListUsers", "Action=ListUsers&Version=2010-05-08", "application/x-www-form-urlencoded", None),
    "organizations": ("DescribeOrganization", "{}", "application/x-amz-json-1.1",
                      "AWSOrganizationsV20161128.DescribeOrganization"),
    "cloudtrail": ("LookupEvents", "{}", "application/x-amz-json-1.1",
                   "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"),
    "account": ("ListRegions", "{}", "application/json", None),
}
PATHS = {"account": "/listRegions"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> StsAsgiApp:
    from opensts.app_state import build_state
    from opensts.service.bootstrap import bootstrap
    from opensts.settings import Settings
    from opensts.store.database import open_store

    data = Path(tmp_path_factory.mktemp("envelope"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENSTS_ACCOUNT_ID", ACCOUNT_ID)
        env.setenv("OPENSTS_ADMIN_ACCESS_KEY_ID", ADMIN_KEY)
        env.setenv("OPENSTS_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
        repo = open_store(data)
        bootstrap(repo, data)
        repo.engine.dispose()
    return StsAsgiApp(build_state(Settings(data, audit=False)))


def _signed(service: str) -> AWSRequest:
    _, body, ctype, target = CALLS[service]
    headers = {"Content-Type": ctype, "Host": HOST}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest("POST", f"http://{HOST}{PATHS.get(service, '/')}", data=body.encode(), headers=headers)
    SigV4Auth(CREDS, service, "us-east-1").add_auth(req)
    return req


def _asgi(app: StsAsgiApp, req: AWSRequest) -> tuple[int, dict[str, str], bytes]:
    path = req.url.split(HOST, 1)[1] or "/"
    scope = {
        "type": "http", "method": req.method, "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in req.headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080), "scheme": "http",
    }
    messages = [{"type": "http.request", "body": req.body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body["body"]


def _botocore_error(service: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    model = SESSION.get_service_model(service)
    parser = create_parser(model.metadata["protocol"])
    parsed = parser.parse({"body": body, "headers": headers, "status_code": status},
                          model.operation_model(CALLS[service][0]).output_shape)
    return parsed["Error"]


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("a bug: this must not reach the wire")


@pytest.mark.parametrize("service", sorted(API_PROTOCOLS))
def test_internal_failure_in_the_callers_api_envelope(app: StsAsgiApp, service: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import opensts.edge.account_api
    import opensts.edge.cloudtrail_api
    import opensts.edge.organizations_api

    monkeypatch.setattr(app.query, "run", _boom)
    monkeypatch.setattr(opensts.edge.organizations_api, "serve_organizations_api", _boom)
    monkeypatch.setattr(opensts.edge.cloudtrail_api, "serve_cloudtrail_api", _boom)
    monkeypatch.setattr(opensts.edge.account_api, "serve_account_api", _boom)
    status, headers, body = _asgi(app, _signed(service))
    assert status == 500
    assert b"must not reach" not in body and b"Traceback" not in body
    error = _botocore_error(service, status, headers, body)
    assert error["Code"] == "InternalFailure"
    if API_PROTOCOLS[service] == "query":
        xmlns = SESSION.get_service_model(service).metadata["xmlNamespace"]
        assert ET.fromstring(body).tag == f"{{{xmlns}}}ErrorResponse"
        assert headers["content-type"] == "text/xml"
    else:
        assert headers["content-type"].startswith("application/")
        json.loads(body)


def test_every_served_api_has_an_envelope() -> None:
    """The mapping is botocore's own protocol name for each API."""
    for service, protocol in API_PROTOCOLS.items():
        assert SESSION.get_service_model(service).metadata["protocol"] == protocol


@pytest.mark.parametrize(("authorization", "query", "service"), [
    ("AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x", b"", "iam"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/organizations/aws4_request", b"", "organizations"),
    ("", b"X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fiam%2Faws4_request&X-Amz-Date=1", "iam"),
    ("", b"X-Amz-Credential=AKIA/20260101/us-east-1/sts/aws4_request", "sts"),
    ("Credential=" + "/" * 5000, b"", ""),
    ("garbage", b"X-Amz-Credential=%ZZ", ""),
])
def test_credential_service_never_raises(authorization: str, query: bytes, service: str) -> None:
    assert credential_service(authorization, query) == service


def _raw(server: Server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_refusals_before_the_signature_is_parsed_use_the_apis_namespace(server: Server, service: str) -> None:
    """A malformed Authorization header (IncompleteSignature) and an oversized body
    (RequestEntityTooLarge) are refused before any pipeline runs: still IAM's namespace for IAM."""
    xmlns = SESSION.get_service_model(service).metadata["xmlNamespace"]
    bad_auth = f"AWS4-HMAC-SHA256 Credential={ADMIN_KEY}/20260101/us-east-1/{service}/aws4_request"
    status, _, body = _raw(server, "/", b"Action=ListUsers&Version=2010-05-08",
                           {"Authorization": bad_auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= status < 500 and ET.fromstring(body).tag == f"{{{xmlns}}}ErrorResponse", body[:300]
    req = _signed(service)
    status, _, body = _raw(server, "/", b"x" * (2 << 20), {**dict(req.headers), "Host": f"127.0.0.1:{server.port}"})
    assert status == 413 and ET.fromstring(body).tag == f"{{{xmlns}}}ErrorResponse", body[:300]


def test_head_request_is_answered(server: Server) -> None:
    """HEAD gets its status line and headers (no body), not a connection left waiting: the
    one-write transport (edge/serve.py) holds headers until a body that HEAD never has."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("HEAD", "/?Action=GetCallerIdentity&Version=2011-06-15")
        resp = conn.getresponse()
        assert 400 <= resp.status < 500 and resp.getheader("x-amzn-requestid")
        assert resp.read() == b""
    finally:
        conn.close()
