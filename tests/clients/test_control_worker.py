"""The control worker (edge/control_relay.py): with ``--workers 2`` IAM, Organizations and Account
calls run in a process of their own, relayed by the workers — and a client cannot tell.

Against real servers on loopback:

1. the relay is transparent: a table of requests (IAM reads, writes and every kind of refusal,
   Organizations' and the Account API's JSON errors, unsigned and badly signed calls) gets the
   same status, content type, error code and body (request ids and generated ids aside) from a
   2-worker server (relayed) as from a 1-worker server (served in the worker); the request id a
   relayed answer carries in ``x-amzn-requestid`` is the one in its body;
2. read-your-writes on one connection: a write relayed by a worker is seen by the next STS call
   that worker serves (a deactivated or deleted key, a denying policy, a changed trust policy, a
   deleted role), not up to a second later;
3. the audit record of a relayed call names the client's address and user agent and the request
   id the client got, once; /metrics counts the call once;
4. kill -9 of the control worker: STS never stops answering, IAM calls in the gap are answered
   (after a bounded wait) or refused with ServiceUnavailable — never hung, never a 500 — and a
   new control worker serves within 2 s;
5. ``[server] control_process = false``: no control worker; IAM is served in the workers;
6. over TLS: the record of a relayed call has the client's tlsDetails, and URLs the server builds
   for IAM answers (the outbound issuer) are https;
7. ``/readyz`` reports the control plane as the control worker sees it, and says so when the
   control worker does not answer (still ready: STS does not need it).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.clients.lifecycle_support import children
from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server

FORM = "application/x-www-form-urlencoded; charset=utf-8"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})
NOBODY_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]})
DENY_ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]})
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("relayed") / "data", args=("--workers", "2"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("direct") / "data")
    yield srv
    stop_server(srv)


# -- signing and sending -------------------------------------------------------------------------
def signed(service: str, method: str, path: str, body: str, headers: dict[str, str],
           key: str = ADMIN_KEY, secret: str = ADMIN_SECRET, port: int = 8600) -> tuple[dict[str, str], str]:
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body, headers=dict(headers))
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    return dict(request.headers.items()), body


class Connection:
    """One keep-alive connection (so one worker serves every call on it)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def send(self, method: str, path: str, headers: dict[str, str], body: str) -> tuple[int, dict[str, str], str]:
        self.conn.request(method, path, body=body.encode(), headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def query(self, service: str, params: dict[str, str], key: str = ADMIN_KEY,
              secret: str = ADMIN_SECRET) -> tuple[int, dict[str, str], str]:
        version = "2010-05-08" if service == "iam" else "2011-06-15"
        headers, body = signed(service, "POST", "/", urlencode({**params, "Version": version}), {"Content-Type": FORM},
                               key, secret, self.server.port)
        return self.send("POST", "/", headers, body)

    def close(self) -> None:
        self.conn.close()


def error_code(text: str) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", text) or re.search(r'"__type"\s*:\s*"(?:[^"#]*#)?([^"]*)"', text) \
        or re.search(r'"code"\s*:\s*"([^"]*)"', text)
    return found.group(1) if found else ""


def normalized(text: str) -> str:
    """The body with what differs between two servers by design masked: request ids, generated
    ids and dates."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = re.sub(r"\b(AIDA|AROA|ANPA|AGPA|AKIA|ASIA)[A-Z0-9]{12,}", r"\1<id>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<date>", text)


# -- 1. transparent ------------------------------------------------------------------------------
ORG_JSON = "application/x-amz-json-1.1"


def _cases(port: int) -> list[tuple[str, tuple[str, str, dict[str, str], str]]]:
    def iam(params: dict[str, str], **kw: str) -> tuple[str, str, dict[str, str], str]:
        headers, body = signed("iam", "POST", "/", urlencode({**params, "Version": "2010-05-08"}),
                               {"Content-Type": FORM}, port=port, **kw)
        return "POST", "/", headers, body

    def org(target: str, body: str = "{}") -> tuple[str, str, dict[str, str], str]:
        headers, text = signed("organizations", "POST", "/", body, {
            "Content-Type": ORG_JSON, "X-Amz-Target": f"AWSOrganizationsV20161128.{target}"}, port=port)
        return "POST", "/", headers, text

    def account(path: str, body: str = "{}") -> tuple[str, str, dict[str, str], str]:
        headers, text = signed("account", "POST", path, body, {"Content-Type": "application/json"}, port=port)
        return "POST", path, headers, text

    unsigned_body = urlencode({"Action": "ListUsers", "Version": "2010-05-08"})
    bad_sig = iam({"Action": "ListUsers"}, secret="x" * 40)
    return [
        ("ListUsers", iam({"Action": "ListUsers"})),
        ("GetUser admin", iam({"Action": "GetUser", "UserName": "admin"})),
        ("GetRole missing", iam({"Action": "GetRole", "RoleName": "no-such-role"})),
        ("CreateRole invalid name", iam({"Action": "CreateRole", "RoleName": "bad name!",
                                         "AssumeRolePolicyDocument": TRUST})),
        ("CreateRole bad document", iam({"Action": "CreateRole", "RoleName": "r1", "AssumeRolePolicyDocument": "{"})),
        ("missing parameter", iam({"Action": "GetRole"})),
        ("unknown action", iam({"Action": "NoSuchIamAction"})),
        ("ListRoles MaxItems 0", iam({"Action": "ListRoles", "MaxItems": "0"})),
        ("unsigned", ("POST", "/", {"Content-Type": FORM, "Host": "iam.amazonaws.com"}, unsigned_body)),
        ("bad signature", bad_sig),
        ("unknown key", iam({"Action": "ListUsers"}, key="AKIAEXAMPLEUNKNOWN00")),
        ("Organizations not in use", org("DescribeOrganization")),
        ("Organizations malformed JSON", org("ListAccounts", "{not json")),
        ("Organizations unknown operation", org("NoSuchOperation")),
        ("Account ListRegions", account("/listRegions")),
        ("Account GetRegionOptStatus invalid", account("/getRegionOptStatus", '{"RegionName": "xx-nowhere-9"}')),
        ("Account unknown path", account("/noSuchThing")),
    ]


def test_the_relay_is_transparent(relayed: Server, direct: Server) -> None:
    conns = {"relayed": Connection(relayed), "direct": Connection(direct)}
    try:
        for (name, a), (_, b) in zip(_cases(relayed.port), _cases(direct.port)):
            got = {}
            for which, (method, path, headers, body) in (("relayed", a), ("direct", b)):
                status, resp_headers, text = conns[which].send(method, path, headers, body)
                assert status < 500, (name, which, status, text)
                got[which] = (status, resp_headers.get("content-type"), error_code(text), normalized(text))
                rid = resp_headers.get("x-amzn-requestid", "")
                assert rid, (name, which)
                if "<RequestId>" in text:
                    assert f"<RequestId>{rid}</RequestId>" in text, (name, which)  # the id is the serving one's
                assert not any(h.startswith("x-opensts") for h in resp_headers), (name, resp_headers)
            assert got["relayed"] == got["direct"], name
    finally:
        for conn in conns.values():
            conn.close()


# -- 2. read-your-writes -------------------------------------------------------------------------
def _key(conn: Connection, user: str) -> tuple[str, str]:
    status, _, text = conn.query("iam", {"Action": "CreateAccessKey", "UserName": user})
    assert status == 200, text
    return (re.search(r"<AccessKeyId>(\w+)</AccessKeyId>", text).group(1),  # type: ignore[union-attr]
            re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", text).group(1))  # type: ignore[union-attr]


def _user_with_key(conn: Connection, user: str) -> tuple[str, str]:
    assert conn.query("iam", {"Action": "CreateUser", "UserName": user})[0] == 200
    assert conn.query("iam", {"Action": "PutUserPolicy", "UserName": user, "PolicyName": "all",
                              "PolicyDocument": ALLOW_ALL})[0] == 200
    return _key(conn, user)


def _role(conn: Connection, name: str) -> str:
    assert conn.query("iam", {"Action": "CreateRole", "RoleName": name, "AssumeRolePolicyDocument": TRUST})[0] == 200
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def _assume(conn: Connection, arn: str, key: tuple[str, str] = (ADMIN_KEY, ADMIN_SECRET)) -> tuple[int, str]:
    status, _, text = conn.query("sts", {"Action": "AssumeRole", "RoleArn": arn, "RoleSessionName": "ryw"}, *key)
    return status, error_code(text)


WRITES = ["deactivate key", "delete key", "deny policy", "trust policy", "delete role", "detach policy"]


@pytest.mark.parametrize("case", WRITES)
def test_a_relayed_write_is_seen_by_the_next_call_on_the_connection(relayed: Server, case: str) -> None:
    conn = Connection(relayed)
    try:
        for n in range(3):  # a few times: no luck with the workers' once-a-second poll
            tag = f"{case.replace(' ', '-')}-{n}"
            user = f"u-{tag}"
            key = _user_with_key(conn, user)
            role = _role(conn, f"r-{tag}")
            if case in ("deactivate key", "delete key"):
                assert conn.query("sts", {"Action": "GetCallerIdentity"}, *key)[0] == 200  # cached now
                write = {"Action": "UpdateAccessKey", "UserName": user, "AccessKeyId": key[0], "Status": "Inactive"} \
                    if case == "deactivate key" else {"Action": "DeleteAccessKey", "UserName": user, "AccessKeyId": key[0]}
                assert conn.query("iam", write)[0] == 200
                status, _, text = conn.query("sts", {"Action": "GetCallerIdentity"}, *key)
                assert (status, error_code(text)) == (403, "InvalidClientTokenId"), (n, text)
                continue
            if case == "detach policy":
                assert conn.query("iam", {"Action": "DeleteUserPolicy", "UserName": user, "PolicyName": "all"})[0] == 200
                policy = f"arn:aws:iam::{ACCOUNT_ID}:policy/p-{tag}"
                assert conn.query("iam", {"Action": "CreatePolicy", "PolicyName": f"p-{tag}",
                                          "PolicyDocument": ALLOW_ALL})[0] == 200
                assert conn.query("iam", {"Action": "AttachUserPolicy", "UserName": user, "PolicyArn": policy})[0] == 200
            assert _assume(conn, role, key) == (200, "")  # the caller, its policies and the role: cached now
            write = {
                "deny policy": {"Action": "PutUserPolicy", "UserName": user, "PolicyName": "deny",
                                "PolicyDocument": DENY_ASSUME},
                "trust policy": {"Action": "UpdateAssumeRolePolicy", "RoleName": f"r-{tag}",
                                 "PolicyDocument": NOBODY_TRUST},
                "delete role": {"Action": "DeleteRole", "RoleName": f"r-{tag}"},
                "detach policy": {"Action": "DetachUserPolicy", "UserName": user,
                                  "PolicyArn": f"arn:aws:iam::{ACCOUNT_ID}:policy/p-{tag}"},
            }[case]
            assert conn.query("iam", write)[0] == 200
            assert _assume(conn, role, key) == (403, "AccessDenied"), n
    finally:
        conn.close()


# -- 3. audited and counted once -----------------------------------------------------------------
def _events(server: Server, request_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    trail = server.client("cloudtrail")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = trail.lookup_events(  # type: ignore[attr-defined]
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in found]
        mine = [r for r in records if r.get("requestID") == request_id]
        if mine:
            return mine
        time.sleep(0.3)
    return []


def test_a_relayed_call_is_audited_and_counted_once(relayed: Server) -> None:
    conn = Connection(relayed)
    try:
        agent = "relay-test/1.0 (user agent of the client)"
        headers, body = signed("iam", "POST", "/", urlencode({"Action": "CreateUser", "UserName": "audited-once",
                                                              "Version": "2010-05-08"}),
                               {"Content-Type": FORM, "User-Agent": agent, "X-Forwarded-For": "198.51.100.7"},
                               port=relayed.port)
        status, resp_headers, text = conn.send("POST", "/", headers, body)
        assert status == 200, text
        request_id = resp_headers["x-amzn-requestid"]
        records = _events(relayed, request_id)
        assert len(records) == 1, records
        record = records[0]
        assert record["sourceIPAddress"] == "127.0.0.1"  # X-Forwarded-For from an untrusted peer is not believed
        assert record["userAgent"] == agent
        assert record["requestParameters"] == {"userName": "audited-once"}

        def listed() -> float:
            _, _, metrics = conn.send("GET", "/metrics", {}, "")
            return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                       if line.startswith("opensts_requests_total{") and 'action="ListUsers"' in line
                       and 'status="200"' in line)

        time.sleep(1.2)  # every process has moved its counts of earlier calls into the shared files
        before = listed()
        for _ in range(7):
            assert conn.query("iam", {"Action": "ListUsers"})[0] == 200
        deadline = time.monotonic() + 5  # each process moves its counts into the shared files every 0.5 s
        while listed() - before < 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.2)  # and any second count would be there by now
        assert listed() - before == 7  # counted by the control worker only, not again by the relaying worker
    finally:
        conn.close()


# -- 4. kill -9 of the control worker ------------------------------------------------------------
def control_worker(server: Server) -> int | None:
    """The server's child that listens on its control socket (None: there is none)."""
    inodes = {line.split()[6] for line in Path("/proc/net/unix").read_text().splitlines()[1:]
              if line.endswith("/control.sock") and line.split()[5] == "01"}
    for child in children(server.proc.pid):
        try:
            for fd in Path(f"/proc/{child}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return child
        except OSError:
            continue
    return None


def test_kill_9_of_the_control_worker(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=("--workers", "2", "--quota-rps", "0"))  # a tight loop: no throttle
    stop = threading.Event()
    sts_statuses: list[int] = []

    def sts_stream() -> None:
        conn = Connection(server)
        try:
            while not stop.is_set():
                sts_statuses.append(conn.query("sts", {"Action": "GetCallerIdentity"})[0])
        finally:
            conn.close()

    try:
        victim = control_worker(server)
        assert victim is not None
        streamer = threading.Thread(target=sts_stream, daemon=True)
        streamer.start()
        time.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        outcomes = []
        replaced_after = None
        while time.monotonic() - killed < 4:
            conn = Connection(server)
            began = time.monotonic()
            status, _, text = conn.query("iam", {"Action": "ListUsers"})
            conn.close()
            assert time.monotonic() - began < 8, "an IAM call hung"
            assert status == 200 or (status == 503 and error_code(text) == "ServiceUnavailable"
                                     and "<ErrorResponse" in text), (status, text)
            outcomes.append(status)
            now = control_worker(server)
            if replaced_after is None and now is not None and now != victim:
                replaced_after = time.monotonic() - killed
        stop.set()
        streamer.join(10)
        assert replaced_after is not None and replaced_after <= 2.0, replaced_after
        assert outcomes[-1] == 200
        assert sts_statuses and set(sts_statuses) == {200}, set(sts_statuses)  # STS never stopped
        assert f"the control worker (pid {victim}) exited (killed by SIGKILL)" in server.log()
    finally:
        stop.set()
        stop_server(server)


# -- 5. switched off -----------------------------------------------------------------------------
def test_control_process_false_serves_iam_in_the_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "opensts.toml").write_text("[server]\ncontrol_process = false\n")
    server = start_server(data, args=("--workers", "2"))
    try:
        assert control_worker(server) is None
        assert len(children(server.proc.pid)) == 3  # two workers and the delivery process
        assert server.client("iam").create_user(UserName="in-a-worker")["User"]["UserName"] == "in-a-worker"  # type: ignore[attr-defined]
    finally:
        stop_server(server)
    with_control = start_server(tmp_path / "other", args=("--workers", "2"))
    try:
        assert control_worker(with_control) is not None
        assert len(children(with_control.proc.pid)) == 4
    finally:
        stop_server(with_control)


# -- 6. over TLS ---------------------------------------------------------------------------------
def test_a_relayed_call_over_tls_keeps_what_tls_means(tmp_path: Path) -> None:
    """The control worker's socket is plain, but what the client's connection was is relayed: the
    record's tlsDetails, and URLs the server builds (the outbound issuer) say https."""
    from tests.tlsutil import make_cert

    cert, key, ca = make_cert(tmp_path, ["127.0.0.1"])
    server = start_server(tmp_path / "data", args=("--tls-cert", str(cert), "--tls-key", str(key), "--workers", "2"),
                          scheme="https")
    try:
        iam = server.client("iam", verify=str(ca))
        issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]  # type: ignore[attr-defined]
        assert issuer.startswith(f"https://127.0.0.1:{server.port}/oidc/"), issuer
        created = iam.create_user(UserName="over-tls")  # type: ignore[attr-defined]
        request_id = created["ResponseMetadata"]["RequestId"]
        trail = server.client("cloudtrail", verify=str(ca))
        deadline, record = time.monotonic() + 20, None
        while record is None and time.monotonic() < deadline:
            events = trail.lookup_events(LookupAttributes=[  # type: ignore[attr-defined]
                {"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])["Events"]
            record = next((json.loads(e["CloudTrailEvent"]) for e in events
                           if json.loads(e["CloudTrailEvent"]).get("requestID") == request_id), None)
            time.sleep(0.3)
        assert record is not None
        assert record["tlsDetails"]["tlsVersion"].startswith("TLSv1.")
        assert record["tlsDetails"]["cipherSuite"]
    finally:
        stop_server(server)


# -- 7. /readyz ----------------------------------------------------------------------------------
def _readyz(server: Server) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_readyz_reports_the_control_plane_as_the_control_worker_sees_it(relayed: Server) -> None:
    status, body = _readyz(relayed)
    assert status == 200 and body["checks"]["control_plane"] == {"required": False, "remote": False}
    worker = control_worker(relayed)
    assert worker is not None
    os.kill(worker, signal.SIGSTOP)  # there, but answering nothing
    try:
        began = time.monotonic()
        status, body = _readyz(relayed)
        assert time.monotonic() - began < 3
        # STS does not need it: still ready, and the check says what is wrong
        assert status == 200 and body["checks"]["control_plane"] == {"required": False, "control_worker": False}
    finally:
        os.kill(worker, signal.SIGCONT)
    assert _readyz(relayed)[1]["checks"]["control_plane"] == {"required": False, "remote": False}
