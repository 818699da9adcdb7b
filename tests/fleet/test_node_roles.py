"""A fleet node's role, end to end with real pieces: a PostgreSQL primary (the control plane) and
a hot-standby streaming replica (us-west-2's database), a real Redis (us-west-2's Region store),
and `opensts serve --region …` nodes, driven with boto3.

One primary + standby + Redis per module; the tests run in order and the outages come last.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opensts.regions.catalog import default_catalog
from opensts.service.iam.mfa import hotp, step_of
from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, fresh_database, stop_server
from tests.fleet.node_helpers import node_env, opensts, start_node, start_redis, start_standby
from tests.postgres import cluster

psycopg = pytest.importorskip("psycopg")

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if cluster.binaries() is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found: install Debian's "
                    "postgresql package (see README, Tests)")
    redis_server = start_redis()
    primary = cluster.start(replication=True)
    servers: list[Server] = []
    standby = None
    try:
        primary_db = fresh_database(primary.url)
        root = tmp_path_factory.mktemp("fleet")
        migrated = opensts(root / "migrate", node_env(primary_db), "migrate")
        assert migrated.returncode == 0, migrated.stderr
        standby = start_standby(primary)
        standby_db = f"{standby.url}/{primary_db.rsplit('/', 1)[1]}"
        west_env = node_env(standby_db, control_plane=primary_db, region_store=redis_server.url)
        east = start_node(root / "east", "us-east-1", node_env(primary_db))  # bootstraps the account
        servers.append(east)
        with ThreadPoolExecutor(3) as pool:  # the replica nodes start together (each takes seconds)
            futures = [pool.submit(start_node, root / name, region, west_env)
                       for name, region in (("west-a", "us-west-2"), ("west-b", "us-west-2"), ("opt-in", "af-south-1"))]
            errors = [f.exception() for f in futures]
            servers += [f.result() for f, e in zip(futures, errors) if e is None]  # stopped in any case
            if any(errors):
                raise next(e for e in errors if e is not None)
        west_a, west_b, opt_in = servers[1:]
        yield {"primary": primary, "standby": standby, "redis": redis_server, "primary_db": primary_db,
               "standby_db": standby_db, "east": east, "west_a": west_a, "west_b": west_b, "opt_in": opt_in,
               "west_env": west_env, "root": root}
    finally:
        for srv in servers:
            stop_server(srv)
        if standby is not None:
            standby.stop()
        primary.stop()
        redis_server.stop()


def _client(node: Server, service: str = "sts", region: str = "us-west-2", path: str = "", **creds: Any) -> Any:
    return boto3.client(service, endpoint_url=node.url + path, region_name=region,
                        aws_access_key_id=creds.get("key", ADMIN_KEY),
                        aws_secret_access_key=creds.get("secret", ADMIN_SECRET),
                        aws_session_token=creds.get("token"),
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10))


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return list(conn.execute(query).fetchall())


def _get(node: Server, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(node.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _error(call: Any) -> tuple[str, int, str, float]:
    began = time.monotonic()
    with pytest.raises(ClientError) as caught:
        call()
    resp = caught.value.response
    return (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"].get("Message", ""),
            time.monotonic() - began)


def _new_role(node: Server) -> str:
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    return _client(node, "iam", "us-east-1").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


def _assumable_within(node: Server, arn: str, seconds: float) -> float:
    sts = _client(node)
    began = time.monotonic()
    while True:
        try:
            sts.assume_role(RoleArn=arn, RoleSessionName="probe")
            return time.monotonic() - began
        except ClientError:
            if time.monotonic() - began > seconds:
                raise
            time.sleep(0.05)


def _mfa_user(node: Server) -> dict[str, str]:
    """A new IAM user with an access key and an enabled virtual MFA device (codes of steps s-1 and
    s, so step s+1's code is fresh for a minute)."""
    iam = _client(node, "iam", "us-east-1")
    name = f"mfa-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    if time.time() % 30 > 26:  # keep the two codes and their check inside one step
        time.sleep(30 - time.time() % 30 + 0.2)
    step = step_of(time.time())
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=hotp(seed, step - 1), AuthenticationCode2=hotp(seed, step))
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"], "serial": device["SerialNumber"],
            "code": hotp(seed, step + 1)}


# -- data: keys, replication, never writing ----------------------------------------------------
def test_migrate_creates_every_regions_sealing_key(fleet: dict[str, Any]) -> None:
    regions = {r[0] for r in _sql(fleet["primary_db"], "SELECT region FROM sealing_keys WHERE retired_at IS NULL")}
    assert {r.name for r in default_catalog().regions()} | {"authz-messages"} <= regions


def test_v2_token_minted_in_one_region_opens_in_another(fleet: dict[str, Any]) -> None:
    creds = _client(fleet["east"], region="us-east-1").get_session_token()["Credentials"]
    assert creds["SessionToken"]
    who = _client(fleet["west_a"], key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                  token=creds["SessionToken"]).get_caller_identity()
    assert who["Account"] == ACCOUNT_ID


def test_replica_node_serves_sts_without_writing(fleet: dict[str, Any]) -> None:
    arn = _new_role(fleet["west_a"])
    _assumable_within(fleet["west_a"], arn, 5)
    assert _sql(fleet["standby_db"], "SELECT pg_is_in_recovery()") == [(True,)]
    assert _sql(fleet["primary"].url + "/postgres", "SELECT count(*) FROM pg_stat_replication WHERE state = "
                "'streaming'")[0][0] >= 1
    before = _sql(fleet["primary_db"], "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
                  "(SELECT count(*) FROM sealing_keys), (SELECT count(*) FROM federation_signing_keys), "
                  "(SELECT count(*) FROM saml_assertion_ids)")
    sts = _client(fleet["west_a"])
    for _ in range(3):
        sts.get_caller_identity()
        sts.assume_role(RoleArn=arn, RoleSessionName="replica")
        sts.get_session_token(DurationSeconds=900)
        _client(fleet["west_b"], path="/sts.us-west-2.amazonaws.com").assume_role(RoleArn=arn, RoleSessionName="node-b")
    after = _sql(fleet["primary_db"], "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
                 "(SELECT count(*) FROM sealing_keys), (SELECT count(*) FROM federation_signing_keys), "
                 "(SELECT count(*) FROM saml_assertion_ids)")
    assert after == before


def test_role_created_on_the_control_plane_is_assumable_in_west_within_2s(fleet: dict[str, Any]) -> None:
    iam = _client(fleet["west_a"], "iam", "us-east-1")
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    assert iam.get_role(RoleName=name)["Role"]["Arn"] == arn  # a control-plane read sees its own write
    assert _assumable_within(fleet["west_b"], arn, 2.0) <= 2.0


def test_a_write_on_the_primary_reaches_the_standby_nodes_cache_targeted(fleet: dict[str, Any]) -> None:
    """Issue 19 item 2 across nodes: a trust-policy change made on the primary is followed within
    ~2 s by a node reading the hot standby (its cache caught the replicated change log), while
    the log names only the role written, so that node keeps every other entry cached."""
    east = _client(fleet["east"], "iam", "us-east-1")
    arns = [_new_role(fleet["east"]) for _ in range(2)]
    for arn in arns:  # cached on the standby's node
        _assumable_within(fleet["west_b"], arn, 3.0)
    name = arns[0].rsplit("/", 1)[1]
    role_id = east.get_role(RoleName=name)["Role"]["RoleId"]
    deny = json.loads(TRUST)
    deny["Statement"][0]["Effect"] = "Deny"
    east.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(deny))
    written = time.monotonic()
    sts = _client(fleet["west_b"])
    while _error_or_none(lambda: sts.assume_role(RoleArn=arns[0], RoleSessionName="probe")) != "AccessDenied":
        assert time.monotonic() - written < 3.0, "the standby's node still answers from its cache"
        time.sleep(0.05)
    sts.assume_role(RoleArn=arns[1], RoleSessionName="probe")  # the other role: unaffected
    generation = _sql(fleet["standby_db"], "SELECT value FROM meta WHERE key = 'generation'")[0][0]
    logged = _sql(fleet["standby_db"], f"SELECT kind, key FROM changes WHERE generation = {int(generation)}")
    assert logged == [("role", role_id)]


def _error_or_none(call: Any) -> str | None:
    try:
        call()
        return None
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])


def test_a_totp_code_used_on_one_node_is_refused_on_another(fleet: dict[str, Any]) -> None:
    user = _mfa_user(fleet["west_a"])
    time.sleep(0.3)  # the device reaches the replica
    creds = {"key": user["key"], "secret": user["secret"]}
    a, b = _client(fleet["west_a"], **creds), _client(fleet["west_b"], **creds)
    assert a.get_session_token(SerialNumber=user["serial"], TokenCode=user["code"])["Credentials"]
    for node in (b, a):
        code, status, message, _ = _error(lambda n=node: n.get_session_token(SerialNumber=user["serial"],
                                                                              TokenCode=user["code"]))
        assert (code, status) == ("AccessDenied", 403) and "invalid MFA one time pass code" in message


def test_replica_node_signs_outbound_tokens_with_existing_keys(fleet: dict[str, Any]) -> None:
    """GetWebIdentityToken on a replica node: signed with a key the primary made (migrate), published
    in the node's JWKS, and no key created."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    west = fleet["west_a"]
    count = "SELECT count(*) FROM federation_signing_keys"
    before = _sql(fleet["primary_db"], count)
    issuer = _client(west, "iam", "us-east-1").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    time.sleep(0.3)  # the issuer reaches the replica
    for alg in ("RS256", "ES384"):
        token = _client(west).get_web_identity_token(Audience=["https://api.example.com"],
                                                     SigningAlgorithm=alg)["WebIdentityToken"]
        with urllib.request.urlopen(issuer + "/.well-known/jwks.json", timeout=5) as resp:
            keys = KeySet.import_key_set(json.loads(resp.read()))
        assert jwt.decode(token, keys, algorithms=[alg]).claims["iss"] == issuer
    assert _sql(fleet["primary_db"], count) == before


# -- wrong Region ------------------------------------------------------------------------------
WRONG_REGION = [
    # (node, path prefix, signing Region, Region that serves it or None when this node serves it)
    ("west_a", "/sts.us-east-1.amazonaws.com", "us-east-1", "us-east-1"),   # another Region's endpoint
    ("west_a", "/sts.eu-west-1.amazonaws.com", "eu-west-1", "eu-west-1"),
    ("west_a", "", "eu-west-1", "eu-west-1"),                               # custom host signed elsewhere
    ("opt_in", "/sts.amazonaws.com", "us-east-1", "us-east-1"),             # global endpoint, opt-in Region
    ("west_a", "/sts.us-west-2.amazonaws.com", "us-west-2", None),
    ("west_a", "/sts.amazonaws.com", "us-east-1", None),                    # served in us-west-2 since 2025
    ("west_a", "", "us-west-2", None),
    ("east", "/sts.amazonaws.com", "us-east-1", None),
]


@pytest.mark.parametrize("node, path, region, elsewhere", WRONG_REGION)
def test_a_request_served_in_another_region_is_refused(fleet: dict[str, Any], node: str, path: str, region: str,
                                                       elsewhere: str | None) -> None:
    sts = _client(fleet[node], region=region, path=path)
    if elsewhere is None:
        assert sts.get_caller_identity()["Account"] == ACCOUNT_ID
        return
    code, status, message, _ = _error(sts.get_caller_identity)
    assert (code, status) == ("MisdirectedRequest", 421)
    assert f"served in {elsewhere}" in message and "docs/DEPLOYMENT.md" in message


@pytest.mark.parametrize("node", ["west_a", "opt_in", "east"])
def test_iam_calls_are_accepted_on_every_node(fleet: dict[str, Any], node: str) -> None:
    assert _client(fleet[node], "iam", "us-east-1").get_user()["User"]["UserName"] == "admin"


def test_lookup_events_signed_for_another_region_is_refused(fleet: dict[str, Any]) -> None:
    code, status, message, _ = _error(lambda: _client(fleet["west_a"], "cloudtrail", "us-east-1").lookup_events())
    assert (code, status) == ("MisdirectedRequest", 421) and "us-east-1" in message
    assert "Events" in _client(fleet["west_a"], "cloudtrail", "us-west-2").lookup_events()


def test_start_up_refusals(fleet: dict[str, Any]) -> None:
    root: Path = fleet["root"]
    west_env = fleet["west_env"]
    no_store = {k: v for k, v in west_env.items() if k != "OPENSTS_REGION_STORE"}
    no_control = {k: v for k, v in west_env.items() if k != "OPENSTS_CONTROL_PLANE_DATABASE_URL"}
    cases = [
        (west_env, ("--listen", "127.0.0.1:0=us-east-1"), "its listeners are us-west-2's entry points"),
        (no_control, ("--listen", "127.0.0.1:0"), "OPENSTS_CONTROL_PLANE_DATABASE_URL"),
        (no_store, ("--listen", "127.0.0.1:0"), "OPENSTS_REGION_STORE"),
    ]
    for env, args, expected in cases:
        done = opensts(root / "refused", {**env, "OPENSTS_QUOTA_STORE": ""}, "serve", "--region", "us-west-2", *args)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], done.stderr


# -- health ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("node", ["east", "west_a", "opt_in"])
def test_health_and_readiness(fleet: dict[str, Any], node: str) -> None:
    assert _get(fleet[node], "/healthz") == (200, {"status": "ok", "region": fleet[node].banner and
                                                   {"east": "us-east-1", "west_a": "us-west-2",
                                                    "opt_in": "af-south-1"}[node]})
    status, body = _get(fleet[node], "/readyz")
    assert status == 200 and body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["sealing_key"]["ok"]
    assert body["checks"]["database"]["writable"] is (node == "east")


def test_single_server_health(server: Server) -> None:
    assert _get(server, "/healthz")[0] == 200
    status, body = _get(server, "/readyz")
    assert status == 200 and body["checks"]["database"]["ok"] and "sealing_key" not in body["checks"]


def _postgres_processes(primary: Any) -> list[int]:
    """The PIDs of the primary's server: its postmaster and every child (backends, WAL sender)."""
    postmaster = int((primary.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_control_plane_that_hangs_answers_unavailable_in_2s_without_stalling_sts(fleet: dict[str, Any]) -> None:
    """The primary frozen (SIGSTOP: connections and queries get no answer at all, as in a network
    partition): IAM answers ServiceUnavailable within 2 s, and STS on the same worker is served
    meanwhile; thawed, IAM works again."""
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor as Pool

    west = fleet["west_a"]
    iam, sts = _client(west, "iam", "us-east-1"), _client(west)
    iam.list_users(), sts.get_caller_identity()  # botocore loads its models now, not while timing
    pids = _postgres_processes(fleet["primary"])
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        with Pool(1) as pool:
            pending = pool.submit(_error, iam.list_users)
            time.sleep(0.2)
            began = time.monotonic()
            for _ in range(5):
                assert sts.get_caller_identity()["Account"] == ACCOUNT_ID
            sts_took = time.monotonic() - began
            code, status, _, took = pending.result(timeout=10)
        assert (code, status) == ("ServiceUnavailable", 503) and took <= 2.0
        assert sts_took < 1.0
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 15
    while True:
        try:
            iam.list_users()
            break
        except ClientError:
            assert time.monotonic() < deadline, "IAM did not come back after the primary thawed"
            time.sleep(0.2)


# -- the control plane lost, and back ------------------------------------------------------------
def test_control_plane_down_iam_unavailable_fast_sts_keeps_working(fleet: dict[str, Any]) -> None:
    west = fleet["west_a"]
    arn = _new_role(west)
    user = _mfa_user(west)
    _assumable_within(west, arn, 5)
    time.sleep(0.3)
    fleet["primary"].stop_server()
    try:
        iam = _client(west, "iam", "us-east-1")
        orgs = _client(west, "organizations", "us-east-1")
        for call in (iam.list_roles, lambda: iam.create_role(RoleName="during-outage", AssumeRolePolicyDocument=TRUST),
                     iam.list_roles):
            code, status, _, took = _error(call)
            assert (code, status) == ("ServiceUnavailable", 503) and took <= 2.0
        code, status, _, took = _error(orgs.describe_organization)
        assert (code, status) == ("ServiceUnavailable", 503) and took <= 2.0

        sts = _client(west)
        began = time.monotonic()
        assert sts.get_caller_identity()["Account"] == ACCOUNT_ID
        assert sts.assume_role(RoleArn=arn, RoleSessionName="outage")["Credentials"]
        assert sts.get_session_token(DurationSeconds=900)["Credentials"]
        mfa = _client(west, key=user["key"], secret=user["secret"])
        assert mfa.assume_role(RoleArn=arn, RoleSessionName="mfa", SerialNumber=user["serial"],
                               TokenCode=user["code"])["Credentials"]
        assert time.monotonic() - began < 3.0
        status, body = _get(west, "/readyz")
        assert status == 200 and body["checks"]["control_plane"]["required"] is False
    finally:
        fleet["primary"].start()
    pid = west.proc.pid
    deadline = time.monotonic() + 15
    while True:  # writes work again, without restarting the node
        try:
            _new_role(west)
            break
        except ClientError:
            assert time.monotonic() < deadline, "IAM writes did not come back"
            time.sleep(0.2)
    assert west.proc.poll() is None and west.proc.pid == pid


def test_data_plane_database_down_is_unavailable_not_an_internal_error(fleet: dict[str, Any]) -> None:
    """The Region's own database lost: whatever must read it answers ServiceUnavailable (503), never
    a 500; what the node's memory holds may still be served; the node says it is not ready."""
    west = fleet["west_b"]
    fleet["standby"].stop_server()
    unknown = _client(west, key="AKIA" + uuid.uuid4().hex[:16].upper(), secret="x" * 40)
    code, status, _, took = _error(unknown.get_caller_identity)  # a key not in memory: the database is asked
    assert (code, status) == ("ServiceUnavailable", 503) and took < 3.0
    sts = _client(west)
    seen = set()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        try:
            sts.get_caller_identity()
            seen.add(200)
        except ClientError as err:
            seen.add((err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]))
        time.sleep(0.1)
    assert seen <= {200, ("ServiceUnavailable", 503)}
    status, body = _get(west, "/readyz")
    assert status == 503 and body["checks"]["database"]["ok"] is False
