"""The wire seen raw: error envelopes, JSON answers, presigned URLs, GET, odd input.

Requests are signed with botocore's own SigV4 signer, then sent (and mutated) with urllib, so
what is checked is exactly what a client receives.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server

NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
CREDS = Credentials(ADMIN_KEY, ADMIN_SECRET)


def send(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
         method: str | None = None, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def signed_post(url: str, body: str, creds: Credentials = CREDS, region: str = "us-east-1",
                service: str = "sts", extra: dict[str, str] | None = None) -> AWSRequest:
    req = AWSRequest("POST", url + "/", data=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(extra or {})})
    SigV4Auth(creds, service, region).add_auth(req)
    return req


def post(server: Server, body: str, **kw: object) -> tuple[int, dict[str, str], bytes]:
    req = signed_post(server.url, body, **kw)  # type: ignore[arg-type]
    return send(req.url, req.body, dict(req.headers), "POST")


def parse_error(body: bytes) -> tuple[str, str, str, str]:
    root = ET.fromstring(body)
    assert root.tag == f"{NS}ErrorResponse"
    error = root.find(f"{NS}Error")
    assert error is not None
    return (error.findtext(f"{NS}Type") or "", error.findtext(f"{NS}Code") or "",
            error.findtext(f"{NS}Message") or "", root.findtext(f"{NS}RequestId") or "")


def test_success_envelope_and_request_id(server: Server) -> None:
    status, headers, body = post(server, "Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == f"{NS}GetCallerIdentityResponse"
    assert root.findtext(f"{NS}GetCallerIdentityResult/{NS}Account") == ACCOUNT_ID
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId") == headers["x-amzn-requestid"]


def test_json_answer_as_kubernetes_authenticators_parse_it(server: Server) -> None:
    status, headers, body = post(server, "Action=GetCallerIdentity&Version=2011-06-15",
                                 extra={"Accept": "application/json"})
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    result = doc["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    assert result["Account"] == ACCOUNT_ID and result["Arn"].endswith(":user/admin")
    assert doc["GetCallerIdentityResponse"]["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]


def test_json_error_shape(server: Server) -> None:
    status, _, body = send(server.url + "/", b"Action=GetCallerIdentity&Version=2011-06-15",
                           {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    assert status == 403
    doc = json.loads(body)
    assert doc["Error"]["Code"] == "MissingAuthenticationToken"
    assert doc["Error"]["Type"] == "Sender"
    assert doc["RequestId"]


def test_unsigned_request_is_refused(server: Server) -> None:
    status, headers, body = send(server.url + "/", b"Action=GetCallerIdentity&Version=2011-06-15",
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    kind, code, message, request_id = parse_error(body)
    assert (kind, code, message) == ("Sender", "MissingAuthenticationToken", "Request is missing Authentication Token")
    assert request_id == headers["x-amzn-requestid"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("Action=NoSuchThing&Version=2011-06-15", 400, "InvalidAction"),
        ("Version=2011-06-15", 400, "MissingAction"),
        ("Action=GetAccessKeyInfo&Version=2011-06-15", 400, "ValidationError"),
        ("Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=short", 400, "ValidationError"),
    ],
)
def test_protocol_errors(server: Server, body: str, status: int, code: str) -> None:
    got_status, _, payload = post(server, body)
    assert got_status == status
    assert parse_error(payload)[1] == code


def test_invalid_action_message(server: Server) -> None:
    _, _, payload = post(server, "Action=NoSuchThing&Version=2011-06-15")
    assert parse_error(payload)[2] == "Could not find operation NoSuchThing for version 2011-06-15"


@pytest.mark.parametrize("body", [b"%ZZ=1&Action=GetCallerIdentity", b"\xff\xfe=\x00", b"&&&===", b"A" * 5000])
def test_garbage_is_a_4xx_never_a_500(server: Server, body: bytes) -> None:
    status, _, payload = send(server.url + "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= status < 500
    parse_error(payload)


def test_oversized_body_is_refused(server: Server) -> None:
    status, _, payload = send(server.url + "/", b"A=" + b"x" * (2 << 20),
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= status < 500
    parse_error(payload)


def test_get_with_query_string_signed_in_header(server: Server) -> None:
    url = server.url + "/?" + urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    req = AWSRequest("GET", url)
    SigV4Auth(CREDS, "sts", "us-east-1").add_auth(req)
    status, _, body = send(req.url, None, dict(req.headers), "GET")
    assert status == 200, body
    assert ET.fromstring(body).findtext(f"{NS}GetCallerIdentityResult/{NS}Account") == ACCOUNT_ID


def _presigned(server: Server, expires: int = 60, when: datetime | None = None) -> AWSRequest:
    url = server.url + "/?" + urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    req = AWSRequest("GET", url, headers={"x-k8s-aws-id": "my-cluster"})
    signer = SigV4QueryAuth(CREDS, "sts", "us-east-1", expires=expires)
    if when is not None:
        import botocore.auth

        original = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)  # type: ignore[assignment]
        try:
            signer.add_auth(req)
        finally:
            botocore.auth.get_current_datetime = original  # type: ignore[assignment]
    else:
        signer.add_auth(req)
    return req


def test_presigned_url_with_signed_cluster_header(server: Server) -> None:
    req = _presigned(server)
    status, _, body = send(req.url, None, {"x-k8s-aws-id": "my-cluster", "Accept": "application/json"}, "GET")
    assert status == 200, body
    assert json.loads(body)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Account"] == ACCOUNT_ID
    status, _, _ = send(req.url, None, {"x-k8s-aws-id": "other-cluster"}, "GET")
    assert status == 403


def test_presigned_url_lives_15_minutes_despite_expires_60(server: Server) -> None:
    fourteen_ago = datetime.now(timezone.utc) - timedelta(minutes=14)
    req = _presigned(server, expires=60, when=fourteen_ago)
    status, _, body = send(req.url, None, {"x-k8s-aws-id": "my-cluster"}, "GET")
    assert status == 200, body
    sixteen_ago = datetime.now(timezone.utc) - timedelta(minutes=16)
    req = _presigned(server, expires=60, when=sixteen_ago)
    status, _, body = send(req.url, None, {"x-k8s-aws-id": "my-cluster"}, "GET")
    assert status == 403
    assert parse_error(body)[1] in ("SignatureDoesNotMatch", "AccessDenied", "ExpiredToken")


def test_vault_style_request_keeps_the_client_host(server: Server) -> None:
    """Vault forwards the client's signed request with its original Host to our address."""
    req = AWSRequest("POST", "https://sts.amazonaws.com/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                              "X-Vault-AWS-IAM-Server-ID": "vault.example.com"})
    SigV4Auth(CREDS, "sts", "us-east-1").add_auth(req)
    headers = dict(req.headers)
    status, _, body = send_with_host(server, req.body, headers)
    assert status == 200, body
    headers["X-Vault-AWS-IAM-Server-ID"] = "evil.example.com"
    status, _, body = send_with_host(server, req.body, headers)
    assert status == 403 and parse_error(body)[1] == "SignatureDoesNotMatch"


def send_with_host(server: Server, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", "sts.amazonaws.com")
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_clock_skew_is_refused_with_aws_message(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    past = datetime.now(timezone.utc) - timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past.replace(tzinfo=None))
    status, _, body = post(server, "Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403
    _, code, message, _ = parse_error(body)
    assert code == "SignatureDoesNotMatch"
    assert message.startswith("Signature expired: ")


def test_service_scope_must_be_sts_or_iam(server: Server) -> None:
    status, _, body = post(server, "Action=GetCallerIdentity&Version=2011-06-15", service="s3")
    assert status in (400, 403)
    assert parse_error(body)[1] in ("SignatureDoesNotMatch", "IncompleteSignature")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> object:
    from tests.tlsutil import make_cert

    folder = tmp_path_factory.mktemp("tls")
    cert, key, ca = make_cert(folder, ["127.0.0.1", "sts.amazonaws.com", "sts.us-west-2.amazonaws.com"])
    srv = start_server(folder / "data", args=("--tls-cert", str(cert), "--tls-key", str(key)), scheme="https")
    yield srv, ca
    stop_server(srv)


def test_tls_listener_with_boto3(tls_server: tuple[Server, Path]) -> None:
    srv, ca = tls_server
    client = boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1", verify=str(ca),
                          aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
    assert client.get_caller_identity()["Account"] == ACCOUNT_ID


def test_tls_listener_with_aws_cli(tls_server: tuple[Server, Path]) -> None:
    import sys

    srv, ca = tls_server
    env = dict(srv.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET, AWS_CA_BUNDLE=str(ca),
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--endpoint-url", srv.url],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["Account"] == ACCOUNT_ID
