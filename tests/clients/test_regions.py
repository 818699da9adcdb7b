"""The Region model with real clients and real hostnames.

The server listens on three loopback ports: one marked ``=us-west-2`` (what DNS inside
us-west-2's networks resolves STS names to), one ``=af-south-1`` (an opt-in Region), and one
with no Region (a caller outside every Region). Tests resolve ``sts.amazonaws.com`` and
``sts.REGION.amazonaws.com`` to one of them, as split-horizon DNS would, and use boto3 and the
AWS CLI with their ordinary settings (``AWS_STS_REGIONAL_ENDPOINTS``, region) over TLS with a
private CA. "Served in Region R" is observed through R's key sealing the token, R's activation
state and R's quota bucket.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, Server, free_port, start_server, stop_server
from tests.dns import STS_HOSTS, child_env, resolving
from tests.tlsutil import make_cert


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("regions")
    cert, key, ca = make_cert(folder, ["127.0.0.1", *STS_HOSTS])
    west, africa = free_port(), free_port()
    srv = start_server(
        folder / "data",
        args=("--listen", f"127.0.0.1:{west}=us-west-2", "--listen", f"127.0.0.1:{africa}=af-south-1",
              "--tls-cert", str(cert), "--tls-key", str(key)),
        scheme="https",
    )
    yield {"server": srv, "ca": str(ca), "west": west, "africa": africa, "outside": srv.port}
    stop_server(srv)


def new_account(srv: Server) -> dict[str, str]:
    account = str(200000000000 + uuid.uuid4().int % 99999999999)
    return json.loads(srv.cli("account", "create", account, "--json").stdout)


def client(topo: Any, where: str, region: str, mode: str = "regional", service: str = "sts",
           key: dict[str, str] | None = None, token: str | None = None) -> Any:
    """A boto3 client of a workload located at ``where`` (its DNS answers), no endpoint_url."""
    core = botocore.session.Session()
    core.set_config_variable("sts_regional_endpoints", mode)
    session = boto3.Session(botocore_session=core)
    key = key or {"AccessKeyId": ADMIN_KEY, "SecretAccessKey": ADMIN_SECRET}
    c = session.client(service, region_name=region, verify=topo["ca"], aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"], aws_session_token=token,
                       config=Config(retries={"total_max_attempts": 1}))
    c._opensts_port = topo[where]  # noqa: SLF001 - which listener this workload's DNS points at
    return c


def call(c: Any, method: str, **kw: Any) -> Any:
    with resolving(c._opensts_port):  # noqa: SLF001
        return getattr(c, method)(**kw)


def kid_region(token: str) -> str:
    """The Region whose key sealed a session token (the token names its key in clear)."""
    raw = base64.b64decode(token)
    return raw[2 : 2 + raw[1]].decode().split("/")[0]


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_endpoint_hosts_are_what_the_sdk_uses(topo: Any) -> None:
    assert client(topo, "west", "us-west-2", "legacy").meta.endpoint_url == "https://sts.amazonaws.com"
    assert client(topo, "west", "us-west-2").meta.endpoint_url == "https://sts.us-west-2.amazonaws.com"


@pytest.mark.parametrize(
    ("where", "region", "served"),
    [
        ("west", "us-west-2", "us-west-2"),  # caller in a Region enabled by default: served there
        ("africa", "af-south-1", "us-east-1"),  # caller in an opt-in Region: served in us-east-1
        ("outside", "us-east-1", "us-east-1"),  # caller outside every Region: served in us-east-1
    ],
)
def test_global_endpoint_serving_region(topo: Any, where: str, region: str, served: str) -> None:
    mode = "legacy" if region != "af-south-1" else "regional"
    c = client(topo, where, region, mode)
    if region == "af-south-1":  # af-south-1 is not a legacy-global Region: reach the global endpoint explicitly
        c = client(topo, where, "aws-global")
    assert c.meta.endpoint_url == "https://sts.amazonaws.com"
    creds = call(c, "get_session_token", DurationSeconds=900)["Credentials"]
    assert kid_region(creds["SessionToken"]) == served


def test_regional_endpoint_is_served_in_its_region_wherever_the_caller_is(topo: Any) -> None:
    for where in ("west", "outside"):
        creds = call(client(topo, where, "eu-north-1"), "get_session_token", DurationSeconds=900)["Credentials"]
        assert kid_region(creds["SessionToken"]) == "eu-north-1"


def test_requested_region_is_us_east_1_for_the_global_endpoint(topo: Any) -> None:
    srv = topo["server"]
    iam = srv.client("iam", verify=topo["ca"])
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
           "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]}
    arn = iam.create_role(RoleName=f"east-only-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
    glob = call(client(topo, "west", "us-west-2", "legacy"), "assume_role", RoleArn=arn, RoleSessionName="g1")
    assert kid_region(glob["Credentials"]["SessionToken"]) == "us-west-2"  # served in us-west-2 …
    with pytest.raises(ClientError) as exc:  # … yet only the global request counts as us-east-1
        call(client(topo, "west", "us-west-2"), "assume_role", RoleArn=arn, RoleSessionName="r1")
    assert err(exc)[0] == "AccessDenied"


def test_deactivated_region(topo: Any) -> None:
    srv = topo["server"]
    key = new_account(srv)
    account = key["AccountId"]
    srv.cli("sts", "deactivate-region", "us-west-2", "--account", account)
    message = (f"STS is not activated in this region for account:{account}. Your account administrator can "
               "activate STS in this region using the IAM Console.")
    west = client(topo, "outside", "us-west-2", key=key)
    _once_seen(lambda: pytest.raises(ClientError, call, west, "get_session_token"))  # (see _once_seen)
    with pytest.raises(ClientError) as exc:
        call(west, "get_session_token")
    assert err(exc) == ("RegionDisabledException", 403, message)
    with pytest.raises(ClientError) as exc:  # a global request served in us-west-2 follows us-west-2's state
        call(client(topo, "west", "us-west-2", "legacy", key=key), "get_session_token")
    assert err(exc)[0] == "RegionDisabledException"
    assert call(client(topo, "outside", "us-east-1", "legacy", key=key), "get_session_token")["Credentials"]
    assert call(client(topo, "outside", "us-west-2", key=key), "get_caller_identity")["Account"] == account
    srv.cli("sts", "activate-region", "us-west-2", "--account", account)
    _once_seen(lambda: call(west, "get_session_token"))
    assert call(west, "get_session_token")["Credentials"]
    refused = srv.cli("sts", "deactivate-region", "us-east-1", "--account", account, check=False)
    assert refused.returncode != 0 and "cannot be deactivated" in refused.stderr


def _once_seen(attempt: Any, timeout: float = 5.0) -> None:
    """Wait until ``attempt`` succeeds (at most ``timeout``): a change the CLI made in the database
    reaches a worker within its store check (at most once a second; STS activation is eventually
    consistent on AWS too). The assertions that follow then test the state itself."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            attempt()
            return
        except (ClientError, pytest.fail.Exception):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_opt_in_region_must_be_enabled(topo: Any) -> None:
    srv = topo["server"]
    key = new_account(srv)
    africa = client(topo, "africa", "af-south-1", key=key)
    with pytest.raises(ClientError) as exc:
        call(africa, "get_caller_identity")
    assert err(exc) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    account_api = boto3.client("account", endpoint_url=srv.url, region_name="us-east-1", verify=topo["ca"],
                               aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert account_api.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == "DISABLED"
    assert account_api.get_region_opt_status(RegionName="us-west-2")["RegionOptStatus"] == "ENABLED_BY_DEFAULT"
    account_api.enable_region(RegionName="af-south-1")
    assert account_api.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == "ENABLED"
    assert call(africa, "get_caller_identity")["Account"] == key["AccountId"]
    listed = {r["RegionName"]: r["RegionOptStatus"] for r in account_api.list_regions(MaxResults=50)["Regions"]}
    assert listed["af-south-1"] == "ENABLED" and listed["us-east-1"] == "ENABLED_BY_DEFAULT"
    with pytest.raises(ClientError) as exc:
        account_api.enable_region(RegionName="us-east-1")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    account_api.disable_region(RegionName="af-south-1")
    with pytest.raises(ClientError):
        call(africa, "get_caller_identity")


def test_token_versions_in_an_opt_in_region(topo: Any) -> None:
    srv = topo["server"]
    key = new_account(srv)
    srv.cli("account", "enable-region", "af-south-1", "--account", key["AccountId"])
    v1 = call(client(topo, "west", "us-west-2", "legacy", key=key), "get_session_token", DurationSeconds=900)["Credentials"]
    v2 = call(client(topo, "west", "us-west-2", key=key), "get_session_token", DurationSeconds=900)["Credentials"]
    for creds, works in ((v1, False), (v2, True)):
        temp = client(topo, "africa", "af-south-1", key=creds, token=creds["SessionToken"])
        if works:
            assert call(temp, "get_caller_identity")["Account"] == key["AccountId"]
        else:
            with pytest.raises(ClientError) as exc:
                call(temp, "get_caller_identity")
            assert err(exc)[0] == "InvalidClientTokenId"
    # A v1 token is fine in any Region enabled by default.
    assert call(client(topo, "west", "us-west-2", key=v1, token=v1["SessionToken"]), "get_caller_identity")
    iam = srv.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"], verify=topo["ca"])
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 2
    after = call(client(topo, "west", "us-west-2", "legacy", key=key), "get_session_token", DurationSeconds=900)["Credentials"]
    temp = client(topo, "africa", "af-south-1", key=after, token=after["SessionToken"])
    assert call(temp, "get_caller_identity")["Account"] == key["AccountId"]


def test_actions_refused_on_the_global_endpoint(topo: Any) -> None:
    glob = client(topo, "outside", "us-east-1", "legacy")
    with pytest.raises(ClientError) as exc:
        call(glob, "assume_root", TargetPrincipal="111122223333",
             TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"})
    assert err(exc)[0] == "InvalidAction"


def test_aws_cli_in_two_regions(topo: Any) -> None:
    srv = topo["server"]
    base = dict(srv.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET, AWS_CA_BUNDLE=topo["ca"],
                AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_STS_REGIONAL_ENDPOINTS="legacy")
    for where, region, served in (("west", "us-west-2", "us-west-2"), ("outside", "us-east-1", "us-east-1")):
        env = child_env(dict(base, AWS_DEFAULT_REGION=region), topo[where])
        out = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-session-token", "--duration-seconds", "900",
                              "--debug"], env=env, capture_output=True, text=True, timeout=60, check=True)
        assert "https://sts.amazonaws.com" in out.stderr  # the CLI called the global endpoint
        assert kid_region(json.loads(out.stdout)["Credentials"]["SessionToken"]) == served


def test_path_prefix_reaches_any_endpoint_from_one_url(topo: Any) -> None:
    srv = topo["server"]
    for prefix, region, served in (("sts.us-west-2.amazonaws.com", "us-west-2", "us-west-2"),
                                   ("sts.amazonaws.com", "us-east-1", "us-east-1")):
        c = boto3.client("sts", endpoint_url=f"{srv.url}/{prefix}", region_name=region, verify=topo["ca"],
                         aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
        assert kid_region(c.get_session_token(DurationSeconds=900)["Credentials"]["SessionToken"]) == served
    wrong = boto3.client("sts", endpoint_url=f"{srv.url}/sts.us-west-2.amazonaws.com", region_name="eu-west-1",
                         verify=topo["ca"], aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
    with pytest.raises(ClientError) as exc:
        wrong.get_caller_identity()
    assert err(exc)[0] == "SignatureDoesNotMatch" and "valid region" in err(exc)[2]


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("quota")
    west = free_port()
    srv = start_server(folder / "data", args=("--listen", f"127.0.0.1:{west}=us-west-2", "--quota-rps", "0.01",
                                               "--quota-burst", "3"))
    yield srv, west
    stop_server(srv)


def _signed(srv_port: int, host: str, region: str, extra: dict[str, str] | None = None) -> tuple[int, bytes]:
    import http.client

    req = AWSRequest("POST", f"http://{host}/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(extra or {})})
    SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "sts", region).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", srv_port, timeout=10)
    conn.request("POST", "/", body=req.body, headers={"Host": host, **dict(req.headers)})
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_global_and_regional_quotas_are_separate(quota_server: Any) -> None:
    srv, west = quota_server

    def burst(port: int, host: str, region: str) -> list[int]:
        return [_signed(port, host, region)[0] for _ in range(4)]

    assert burst(west, "sts.amazonaws.com", "us-east-1") == [200, 200, 200, 400]  # global, served in us-west-2
    status, body = _signed(west, "sts.amazonaws.com", "us-east-1")
    assert status == 400 and b"<Code>Throttling</Code>" in body and b"<Message>Rate exceeded</Message>" in body
    assert burst(west, "sts.us-west-2.amazonaws.com", "us-west-2") == [200, 200, 200, 400]  # regional: its own bucket
    assert burst(srv.port, "sts.amazonaws.com", "us-east-1")[:3] == [200, 200, 200]  # global served in us-east-1


def test_workers_share_one_quota(tmp_path: Path) -> None:
    """With two workers, each new connection lands on either (one listening socket per worker):
    the account still gets its burst once, not once per worker."""
    srv = start_server(tmp_path / "data", args=("--workers", "2", "--quota-rps", "0.01", "--quota-burst", "3"))
    try:
        statuses = [_signed(srv.port, "sts.amazonaws.com", "us-east-1")[0] for _ in range(10)]  # 10 connections
    finally:
        stop_server(srv)
    assert statuses == [200, 200, 200] + [400] * 7


@pytest.fixture(scope="module")
def network_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("networks")
    (folder / "data").mkdir()
    (folder / "data" / "opensts.toml").write_text(
        '[network]\ntrusted_proxies = ["127.0.0.1/32"]\n'
        '[network.client_regions]\n"127.0.0.0/8" = "eu-north-1"\n"10.1.0.0/16" = "eu-west-1"\n"10.2.0.0/16" = "ap-east-1"\n'
    )
    srv = start_server(folder / "data")
    yield srv
    stop_server(srv)


def _session_kid(srv: Server, extra: dict[str, str]) -> str:
    import http.client
    import xml.etree.ElementTree as ET

    req = AWSRequest("POST", "http://sts.amazonaws.com/", data=b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **extra})
    SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "sts", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("POST", "/", body=req.body, headers={"Host": "sts.amazonaws.com", **dict(req.headers)})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, body
    token = ET.fromstring(body).findtext(".//{https://sts.amazonaws.com/doc/2011-06-15/}SessionToken") or ""
    return kid_region(token)


def test_client_networks_behind_a_trusted_proxy(network_server: Server) -> None:
    assert _session_kid(network_server, {}) == "eu-north-1"  # the peer's own network
    assert _session_kid(network_server, {"X-Forwarded-For": "10.1.2.3"}) == "eu-west-1"
    assert _session_kid(network_server, {"X-Forwarded-For": "10.2.0.9"}) == "us-east-1"  # opt-in origin
    assert _session_kid(network_server, {"X-Forwarded-For": "203.0.113.9"}) == "us-east-1"  # outside every Region


def test_listeners_on_one_port_with_different_addresses(tmp_path: Path) -> None:
    """What DNS inside each Region resolves to may be a different address on the same port."""
    port = free_port()
    srv = start_server(tmp_path / "data", args=("--listen", f"127.0.0.2:{port}=us-west-2",
                                                 "--listen", f"127.0.0.3:{port}=af-south-1"))
    try:
        import http.client
        import xml.etree.ElementTree as ET

        def served(address: str) -> str:
            req = AWSRequest("POST", "http://sts.amazonaws.com/",
                             data=b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900",
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
            SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "sts", "us-east-1").add_auth(req)
            conn = http.client.HTTPConnection(address, port, timeout=10)
            conn.request("POST", "/", body=req.body, headers={"Host": "sts.amazonaws.com", **dict(req.headers)})
            body = conn.getresponse().read()
            token = ET.fromstring(body).findtext(".//{https://sts.amazonaws.com/doc/2011-06-15/}SessionToken") or ""
            return kid_region(token)

        assert served("127.0.0.2") == "us-west-2"
        assert served("127.0.0.3") == "us-east-1"
    finally:
        stop_server(srv)


def test_admin_call_sets_sts_activation(quota_server: Any) -> None:
    """OpenSTS's admin API call (AWS offers STS activation only in its console)."""
    import http.client

    srv, _ = quota_server

    def call(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        req = AWSRequest("POST", f"http://127.0.0.1:{srv.port}{path}", data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "account", "us-east-1").add_auth(req)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("POST", path, body=req.body, headers=dict(req.headers))
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")

    assert call("/opensts/getStsRegionStatus", {"RegionName": "eu-west-1"}) == (200, {"RegionName": "eu-west-1", "Active": True})
    assert call("/opensts/setStsRegionStatus", {"RegionName": "eu-west-1", "Active": False})[0] == 200
    assert call("/opensts/getStsRegionStatus", {"RegionName": "eu-west-1"})[1]["Active"] is False
    status, body = call("/opensts/setStsRegionStatus", {"RegionName": "us-east-1", "Active": False})
    assert status == 400 and "cannot be deactivated" in body["message"]
    status, _ = call("/opensts/setStsRegionStatus", {"RegionName": "eu-west-1", "Active": False, "AccountId": "999999999999"})
    assert status == 403
    call("/opensts/setStsRegionStatus", {"RegionName": "eu-west-1", "Active": True})


def test_account_api_calls_are_audited(topo: Any) -> None:
    srv = topo["server"]
    key = new_account(srv)
    account_api = boto3.client("account", endpoint_url=srv.url, region_name="us-east-1", verify=topo["ca"],
                               aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    rid = account_api.enable_region(RegionName="af-south-1")["ResponseMetadata"]["RequestId"]
    from tests.clients.test_audit import find

    [event] = find(srv, rid, key=key["AccessKeyId"], secret=key["SecretAccessKey"], verify=topo["ca"])
    assert event["eventSource"] == "account.amazonaws.com" and event["eventName"] == "EnableRegion"
    assert event["requestParameters"] == {"regionName": "af-south-1"}
    assert event["recipientAccountId"] == key["AccountId"] and "additionalEventData" not in event
