"""Raw JSON-protocol requests (Organizations, CloudTrail, Account) signed by botocore, their answers
parsed back by botocore's own parsers, and the audit record of one request found by LookupEvents.

Shared by the JSON-API hardening tests and the JSON-API fuzz test: bodies are bytes, so a test can
send what no SDK would (lone surrogate escapes, integers past 64 bits, 300-deep nesting, invalid
UTF-8) and still check the answer exactly as a client would read it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, Server

#: service → (protocol, target prefix or None for REST-JSON, content type)
APIS = {
    "organizations": ("json", "AWSOrganizationsV20161128.", "application/x-amz-json-1.1"),
    "cloudtrail": ("json", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.", "application/x-amz-json-1.1"),
    "account": ("rest-json", None, "application/json"),
}
#: OpenSTS's own Account API calls; AWS's are at ``/<operation in camelCase>`` (botocore's model).
OPENSTS_ACCOUNT_PATHS = {"SetStsRegionStatus": "/opensts/setStsRegionStatus",
                         "GetStsRegionStatus": "/opensts/getStsRegionStatus"}


def account_path(operation: str) -> str:
    return OPENSTS_ACCOUNT_PATHS.get(operation) or "/" + operation[:1].lower() + operation[1:]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    parsed: dict[str, Any]  # botocore's view: {"Error": {"Code", "Message"}, …} for an error

    @property
    def code(self) -> str | None:
        return self.parsed.get("Error", {}).get("Code") if self.status >= 300 else None

    @property
    def request_id(self) -> str:
        return self.headers.get("x-amzn-requestid", "")


def send(server: Server, service: str, operation: str, body: bytes, *, key: str = ADMIN_KEY,
         secret: str = ADMIN_SECRET, token: str | None = None, client: httpx.Client | None = None) -> Answer:
    """POST ``body`` as ``operation`` of ``service``, SigV4-signed by botocore (us-east-1)."""
    protocol, prefix, ctype = APIS[service]
    path = account_path(operation) if service == "account" else "/"
    headers = {"Content-Type": ctype}
    if prefix:
        headers["X-Amz-Target"] = prefix + operation
    if token:
        headers["X-Amz-Security-Token"] = token
    req = AWSRequest("POST", server.url + path, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret, token), service, "us-east-1").add_auth(req)
    http = client or httpx
    resp = http.post(server.url + path, content=body, headers=dict(req.headers), timeout=30)
    raw = {"status_code": resp.status_code, "headers": dict(resp.headers), "body": resp.content}
    parsed = create_parser(protocol).parse(raw, None) if resp.status_code >= 300 else {}
    return Answer(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content, parsed)


def assert_json_answer(answer: Answer, service: str) -> None:
    """A 2xx with a JSON object, or a 4xx JSON error botocore reads a code from — never a 5xx,
    never XML; REST-JSON errors carry ``x-amzn-ErrorType`` as AWS sends it."""
    assert answer.status < 500, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type", "").startswith(APIS[service][2]), answer.headers
    doc = json.loads(answer.body)
    assert isinstance(doc, dict)
    if answer.status >= 300:
        assert answer.code and doc.get("__type", answer.code) == answer.code, answer.body[:300]
        assert isinstance(doc.get("message", doc.get("Message")), str)
        if service == "account":
            assert answer.headers.get("x-amzn-errortype") == answer.code


def audit_record(server: Server, request_id: str, event_name: str, *, key: str = ADMIN_KEY,
                 secret: str = ADMIN_SECRET, token: str | None = None, wait: float = 5.0) -> dict[str, Any] | None:
    """The caller account's CloudTrail record of ``request_id`` (LookupEvents by event name)."""
    trail = boto3.client("cloudtrail", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
                         aws_secret_access_key=secret, aws_session_token=token)
    deadline = time.monotonic() + wait
    while True:
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
                                     MaxResults=50)["Events"]
        for event in events:
            record = json.loads(event["CloudTrailEvent"])
            if record["requestID"] == request_id:
                return record  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
