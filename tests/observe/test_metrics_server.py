"""``GET /metrics`` of a real ``--workers 2`` server, scraped with prometheus-client's parser.

* Every API family's calls are counted with the labels the client saw (API, action, HTTP status,
  AWS error code, endpoint type, serving Region), table-driven over STS, IAM, Organizations,
  CloudTrail and the Account API; credential-issuing calls also count as credentials issued.
* Counts of both workers add up in one scrape (each worker writes its own file; the files are
  checked to hold counts of two processes), and survive a worker's kill -9.
* Label values are bounded: made-up actions are one ``unknown`` series; no label anywhere holds
  an account id, key id, ARN or user name.
* Throttling is counted by quota group; the folder is private; ``--no-metrics`` serves nothing.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.mmap_dict import MmapedDict

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, Server, free_port, start_server, stop_server
from tests.observe.scrape import label_values, scrape, scrape_when, value

TOML = '[quotas.groups]\n"sts:GetWebIdentityToken" = { rps = 0.001, burst = 1 }\n'


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("metrics") / "data"
    data.mkdir()
    (data / "opensts.toml").write_text(TOML)
    server = start_server(data, args=("--workers", "2"))
    yield server
    stop_server(server)


def _outcome(call: Callable[[], Any]) -> tuple[int, str]:
    """(HTTP status, AWS error code or "") of one client call."""
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
    return 200, ""


def _role(srv: Server) -> str:
    iam = srv.client("iam")
    try:
        return str(iam.get_role(RoleName="metrics-role")["Role"]["Arn"])
    except ClientError:
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::'
                 f'{ACCOUNT_ID}:root"}},"Action":"sts:AssumeRole"}}]}}')
        return str(iam.create_role(RoleName="metrics-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"])


#: (api, action, endpoint type, call): one call of each API family; labels checked against what the client saw.
FAMILIES: list[tuple[str, str, str, Callable[[Server], Any]]] = [
    ("sts", "GetCallerIdentity", "regional", lambda s: s.client("sts").get_caller_identity()),
    ("sts", "AssumeRole", "regional", lambda s: s.client("sts").assume_role(RoleArn=_role(s), RoleSessionName="mm")),
    ("sts", "GetSessionToken", "regional", lambda s: s.client("sts").get_session_token()),
    ("sts", "AssumeRole", "regional",  # refused: a role that does not exist
     lambda s: s.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/none", RoleSessionName="mm")),
    ("sts", "GetCallerIdentity", "regional",  # a wrong secret: SignatureDoesNotMatch
     lambda s: s.client("sts", secret="x" * 40).get_caller_identity()),
    ("iam", "ListUsers", "", lambda s: s.client("iam").list_users()),
    ("iam", "GetUser", "", lambda s: s.client("iam").get_user(UserName="nobody-" + secrets.token_hex(4))),
    ("organizations", "DescribeOrganization", "", lambda s: s.client("organizations").describe_organization()),
    ("cloudtrail", "LookupEvents", "", lambda s: s.client("cloudtrail").lookup_events(MaxResults=1)),
    ("account", "ListRegions", "", lambda s: s.client("account").list_regions(MaxResults=5)),
]


@pytest.mark.parametrize("api,action,endpoint_type,call", FAMILIES, ids=[f"{f[0]}-{f[1]}-{i}" for i, f in
                                                                         enumerate(FAMILIES)])
def test_every_api_family_is_counted_with_its_labels(srv: Server, api: str, action: str, endpoint_type: str,
                                                     call: Callable[[Server], Any]) -> None:
    if action == "AssumeRole":
        _role(srv)
    before = scrape(srv.url)
    status, code = _outcome(lambda: call(srv))
    labels: dict[str, Any] = {"api": api, "action": action, "status": status, "code": code}
    if api == "sts":
        labels.update(endpoint_type=endpoint_type, region="us-east-1")
    after = scrape_when(srv.url, lambda s: value(s, "opensts_requests_total", **labels) > value(
        before, "opensts_requests_total", **labels) and value(s, "opensts_request_duration_seconds_count", api=api,
                                                              action=action) > value(
        before, "opensts_request_duration_seconds_count", api=api, action=action))
    got = value(after, "opensts_requests_total", **labels) - value(before, "opensts_requests_total", **labels)
    assert got == 1, (labels, {k: v for k, v in after.items() if k[0] == "opensts_requests_total"})
    timed = (value(after, "opensts_request_duration_seconds_count", api=api, action=action)
             - value(before, "opensts_request_duration_seconds_count", api=api, action=action))
    assert timed == 1
    issued = (value(after, "opensts_credentials_issued_total", action=action)
              - value(before, "opensts_credentials_issued_total", action=action))
    assert issued == (1 if status == 200 and action in ("AssumeRole", "GetSessionToken") else 0)


def test_counts_of_both_workers_add_up_in_one_scrape(srv: Server) -> None:
    before = value(scrape(srv.url), "opensts_requests_total", action="GetCallerIdentity", status=200)
    calls = 0
    for _ in range(16):  # a new client is a new connection: the kernel spreads them over the two workers
        client = srv.client("sts")
        for _ in range(2):
            client.get_caller_identity()
            calls += 1
    after = value(scrape_when(srv.url, lambda s: value(s, "opensts_requests_total", action="GetCallerIdentity",
                                                       status=200) >= before + calls),
                  "opensts_requests_total", action="GetCallerIdentity", status=200)
    assert after - before == calls
    per_process = _per_process_counts(srv.data_dir / "metrics", "GetCallerIdentity")
    assert sum(1 for n in per_process.values() if n > 0) >= 2, per_process  # both workers counted
    assert sum(per_process.values()) == after


def _per_process_counts(folder: Path, action: str) -> dict[str, float]:
    """{file: its GetCallerIdentity 200 count}, read straight from each process's value file."""
    out: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        total = 0.0
        for key, val, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if '"opensts_requests_total"' in key and f'"{action}"' in key and '"200"' in key:
                total += val
        out[path.name] = total
    return out


def test_made_up_actions_regions_and_hosts_make_no_new_series(srv: Server) -> None:
    before = scrape(srv.url)
    junk = [f"Zz{secrets.token_hex(6)}" for _ in range(40)]
    for name in junk:
        body = urllib.parse.urlencode({"Action": name, "Version": "2011-06-15"}).encode()
        req = urllib.request.Request(srv.url + "/", data=body, headers={"Host": f"{name.lower()}.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
    signed_elsewhere = srv.client("sts", region=f"zz-{secrets.token_hex(3)}-1")  # a Region that does not exist
    status, _ = _outcome(signed_elsewhere.get_caller_identity)
    assert status >= 400
    after = scrape_when(srv.url, lambda s: value(s, "opensts_requests_total", action="unknown")
                        >= value(before, "opensts_requests_total", action="unknown") + 40)
    names = label_values(after)
    assert not any(j in v or j.lower() in v for j in junk for v in names)
    assert not any(v.startswith("zz-") for v in names)
    assert value(after, "opensts_requests_total", action="unknown") - value(before, "opensts_requests_total",
                                                                            action="unknown") == 40
    assert len(after) - len(before) <= 20  # a handful of new series at most, not one per junk name


def test_no_caller_data_in_any_label(srv: Server) -> None:
    iam = srv.client("iam")
    user = "metrics-user-" + secrets.token_hex(3)
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    srv.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()
    time.sleep(1.0)  # every worker has flushed
    for v in label_values(scrape(srv.url)):
        assert ACCOUNT_ID not in v and "AKIA" not in v and "ASIA" not in v and "arn:" not in v, v
        assert user not in v and ADMIN_KEY not in v and key["AccessKeyId"] not in v


def test_throttled_requests_are_counted_by_quota_group(srv: Server) -> None:
    group = {"group": "sts:GetWebIdentityToken"}
    refused = {"action": "GetWebIdentityToken", "code": "Throttling", "status": 400}
    before = scrape(srv.url)
    sts = srv.client("sts")
    codes = [_outcome(lambda: sts.get_web_identity_token(Audience=["https://a.example"], SigningAlgorithm="RS256"))[1]
             for _ in range(3)]
    assert codes.count("Throttling") >= 2, codes  # burst 1, one token per 1000 s

    def counts(s: Any) -> tuple[float, float]:
        """(throttled, answered Throttling) since ``before`` (the request tallies reach the files
        within a flush; the throttle counter at once)."""
        return (value(s, "opensts_throttled_requests_total", **group) - value(before, "opensts_throttled_requests_total",
                                                                            **group),
                value(s, "opensts_requests_total", **refused) - value(before, "opensts_requests_total", **refused))

    after = scrape_when(srv.url, lambda s: counts(s)[1] >= max(counts(s)[0], codes.count("Throttling")))
    throttled, answered = counts(after)
    assert throttled == answered >= codes.count("Throttling")  # (botocore retries a Throttling once)


def test_journal_records_and_cache_are_counted(srv: Server) -> None:
    before = scrape(srv.url)
    srv.client("sts").get_caller_identity()
    after = scrape_when(srv.url, lambda s: value(s, "opensts_audit_records_written_total")
                        > value(before, "opensts_audit_records_written_total"))
    time.sleep(0.6)  # one more flush: nothing else was written
    after = scrape(srv.url)
    assert value(after, "opensts_audit_records_written_total") - value(before, "opensts_audit_records_written_total") == 1
    assert value(after, "opensts_cache_requests_total") > value(before, "opensts_cache_requests_total")


def test_folder_is_private_and_a_killed_worker_keeps_its_counts(srv: Server) -> None:
    folder = srv.data_dir / "metrics"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in folder.iterdir())
    srv.client("sts").get_caller_identity()
    time.sleep(1.0)  # every worker has flushed
    before = value(scrape(srv.url), "opensts_requests_total", action="GetCallerIdentity")
    workers = [int(p.stem.split("_")[-1]) for p in folder.glob("counter_*.db")]
    victim = next(pid for pid in workers if _is_child(srv, pid))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            after = value(scrape(srv.url), "opensts_requests_total", action="GetCallerIdentity")
            break
        except OSError:
            time.sleep(0.1)
    assert after >= before  # what the dead worker counted still counts


def _is_child(srv: Server, pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[3] == str(srv.proc.pid)
    except OSError:
        return False


def test_no_metrics_serves_none(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=("--no-metrics",))
    try:
        client = server.client("sts")
        client.get_caller_identity()
        client.close()  # no keep-alive connection for the stop to wait on
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/metrics", timeout=10)
        assert err.value.code != 200 and b"opensts_" not in err.value.read()
        assert not (server.data_dir / "metrics").exists()
    finally:
        stop_server(server)


def test_metrics_listen_moves_metrics_off_the_api_listeners(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path / "data", args=("--workers", "2", "--metrics-listen", f"127.0.0.1:{port}"))
    try:
        for _ in range(6):
            client = server.client("sts")
            client.get_caller_identity()
            client.close()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/metrics", timeout=10)
        assert err.value.code != 200
        private = f"http://127.0.0.1:{port}"
        series = scrape_when(private, lambda s: value(s, "opensts_requests_total", action="GetCallerIdentity") >= 6)
        assert value(series, "opensts_requests_total", action="GetCallerIdentity", status=200) == 6
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(private + "/", timeout=10)
        assert err.value.code == 404
    finally:
        stop_server(server)


def test_single_worker_serves_metrics(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=ADMIN_KEY,
                              aws_secret_access_key="wrong" * 8, config=Config(retries={"max_attempts": 1}))
        assert _outcome(client.get_caller_identity) == (403, "SignatureDoesNotMatch")
        client.close()
        series = scrape(server.url)  # a single worker: /metrics flushes its own counts first
        assert value(series, "opensts_requests_total", api="sts", action="GetCallerIdentity", status=403,
                     code="SignatureDoesNotMatch") == 1
    finally:
        stop_server(server)
