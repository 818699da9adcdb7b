"""``--log-format json`` on a busy server: every line of stdout+stderr is one JSON object with
the documented fields, and no secret the test used or received appears anywhere in it.

The server is started without a preset administrator (so it makes one and its one-time secret
exists only in the 0600 credentials file), with ``--workers 2`` (a killed worker's restart is an
event), and called with boto3 and the AWS CLI: AssumeRole, GetSessionToken, AssumeRoleWithWebIdentity
(a real OIDC issuer on loopback), AssumeRoleWithSAML, CreateAccessKey, CreateLoginProfile with a
password, ChangePassword-free IAM calls, made-up actions and failed signatures.
"""

from __future__ import annotations

import configparser
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from opensts.logs import ACCESS_FIELDS
from tests.conftest import Server, start_server, stop_server
from tests.federation import saml_idp
from tests.federation.idp import OidcIssuer, trusting_role

NO_ADMIN = {"OPENSTS_ACCOUNT_ID": "", "OPENSTS_ADMIN_ACCESS_KEY_ID": "", "OPENSTS_ADMIN_SECRET_ACCESS_KEY": ""}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tmp_path_factory.mktemp("idp"))
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory, idp: OidcIssuer) -> Iterator[dict[str, Any]]:
    """A json-mode server after a busy run, stopped: its whole output and every secret involved."""
    srv = start_server(tmp_path_factory.mktemp("json-logs") / "data", extra_env=NO_ADMIN,
                       args=("--log-format", "json", "--workers", "2", "--ca-bundle", str(idp.ca_path)))
    try:
        used = _busy_run(srv, idp)
        _kill_a_worker(srv)
    finally:
        stop_server(srv)
    return {"server": srv, "log": srv.log(), "secrets": used}


def _admin(srv: Server) -> tuple[str, str]:
    creds = srv.data_dir / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    parser = configparser.ConfigParser()
    parser.read(creds)
    section = parser[parser.sections()[0]]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def _busy_run(srv: Server, idp: OidcIssuer) -> list[str]:
    key, secret = _admin(srv)
    used = [secret]
    iam = srv.client("iam", key=key, secret=secret)
    sts = srv.client("sts", key=key, secret=secret)
    account = sts.get_caller_identity()["Account"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                                     "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="logs-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for _ in range(3):
        creds = sts.assume_role(RoleArn=role, RoleSessionName="logs-session")["Credentials"]
        used += [creds["SecretAccessKey"], creds["SessionToken"]]
        srv.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                   token=creds["SessionToken"]).get_caller_identity()
    session = sts.get_session_token()["Credentials"]
    used += [session["SecretAccessKey"], session["SessionToken"]]
    iam.create_user(UserName="logs-user")
    access = iam.create_access_key(UserName="logs-user")["AccessKey"]
    used.append(access["SecretAccessKey"])
    password = "Pw-" + secrets.token_urlsafe(18)
    iam.create_login_profile(UserName="logs-user", Password=password)
    used.append(password)
    wrong = secrets.token_urlsafe(30)
    used.append(wrong)
    with pytest.raises(ClientError):
        srv.client("sts", key=key, secret=wrong).get_caller_identity()
    with pytest.raises(ClientError):  # a session token of its own making: refused, and never logged either
        bogus = "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60)
        used.append(bogus)
        srv.client("sts", key="ASIA" + "Q" * 16, secret=wrong, token=bogus).get_caller_identity()
    used += _federation(srv, iam, idp)
    used += _cli_calls(srv, key, secret)
    for _ in range(3):  # made-up actions
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(srv.url + f"/?Action=Zz{secrets.token_hex(4)}", timeout=10)
    return used


def _federation(srv: Server, iam: Any, idp: OidcIssuer) -> list[str]:
    unsigned = boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    role = trusting_role(iam, idp, "logs-web")
    token = idp.token()
    web = unsigned.assume_role_with_web_identity(RoleArn=role, RoleSessionName="web", WebIdentityToken=token)
    used = [token, web["Credentials"]["SecretAccessKey"], web["Credentials"]["SessionToken"]]
    key, cert = saml_idp.keypair()
    provider = iam.create_saml_provider(Name="LogsCorp", SAMLMetadataDocument=saml_idp.metadata(cert))["SAMLProviderArn"]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]})
    saml_role = iam.create_role(RoleName="logs-saml", AssumeRolePolicyDocument=doc)["Role"]["Arn"]
    assertion, _ = saml_idp.response(key, cert, role_arn=saml_role, provider_arn=provider)
    out = unsigned.assume_role_with_saml(RoleArn=saml_role, PrincipalArn=provider, SAMLAssertion=assertion)
    return used + [assertion, out["Credentials"]["SecretAccessKey"], out["Credentials"]["SessionToken"]]


def _cli_calls(srv: Server, key: str, secret: str) -> list[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-session-token", "--endpoint-url", srv.url,
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=60, check=True)
    creds = json.loads(out.stdout)["Credentials"]
    return [creds["SecretAccessKey"], creds["SessionToken"]]


def _kill_a_worker(srv: Server) -> None:
    """kill -9 one worker: the restart must be a json event too."""
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    workers = [int(c) for c in children if (srv.data_dir / "metrics" / f"counter_{c}.db").exists()]
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "worker_restart" not in srv.log():
        time.sleep(0.05)


def _records(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def test_every_line_is_a_json_object(busy: dict[str, Any]) -> None:
    for line in busy["log"].splitlines():
        if line.strip():
            record = json.loads(line)
            assert isinstance(record, dict)
            assert {"time", "level", "logger"} <= set(record)


def test_no_secret_anywhere_in_the_output(busy: dict[str, Any]) -> None:
    log = busy["log"]
    assert len(busy["secrets"]) >= 20
    for secret in busy["secrets"]:
        assert secret and secret not in log, f"a secret ({len(secret)} chars) is in the server's output"
        assert secret[:24] not in log  # nor the start of one
    for marker in ("Signature=", "X-Amz-Signature", "SAMLResponse", "aws_secret_access_key", "Password"):
        assert marker not in log


def test_every_request_is_one_record_with_the_documented_fields(busy: dict[str, Any]) -> None:
    requests = [r for r in _records(busy["log"]) if r.get("event") == "request"]
    assert len(requests) >= 24  # the calls _busy_run makes
    assert len({r["request_id"] for r in requests}) == len(requests)  # one record per request
    for record in requests:
        assert set(ACCESS_FIELDS) <= set(record), record
        assert record["logger"] == "opensts.access"
    by_action = {r["action"]: r for r in requests}
    for action in ("AssumeRole", "GetSessionToken", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML",
                   "CreateAccessKey", "CreateLoginProfile", "GetCallerIdentity", "unknown"):
        assert action in by_action, action
    assumed = by_action["AssumeRole"]
    assert assumed["api"] == "sts" and assumed["status"] == 200 and assumed["error_code"] is None
    assert assumed["endpoint_type"] == "regional" and assumed["region"] == "us-east-1"
    assert assumed["caller_arn"].endswith(":user/admin") and assumed["source_ip"] == "127.0.0.1"
    assert assumed["user_agent"].startswith("Boto3/") and assumed["latency_ms"] > 0
    assert any(r["user_agent"] and r["user_agent"].startswith("aws-cli/") for r in requests)
    refused = [r for r in requests if r["error_code"] == "SignatureDoesNotMatch"]
    assert refused and refused[0]["status"] == 403
    assert by_action["unknown"]["error_code"] == "InvalidAction" and by_action["unknown"]["status"] == 400


def test_server_events_are_records(busy: dict[str, Any]) -> None:
    events = {r["event"]: r for r in _records(busy["log"]) if "event" in r}
    start = events["start"]
    assert start["listen"] == [busy["server"].url] and start["credentials_file"].endswith("credentials")
    assert "get-caller-identity" in start["try_command"]
    restart = events["worker_restart"]
    assert restart["level"] == "warning" and restart["reason"] == "killed by SIGKILL"
    assert events["stop"]["logger"] == "opensts.server"


def test_a_startup_problem_is_a_json_record(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "opensts", "serve", "--data-dir", str(tmp_path / "d"), "--log-format",
                          "json", "--listen", "127.0.0.1:99999"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    record = json.loads(out.stderr.strip().splitlines()[-1])
    assert record["event"] == "startup_failed" and record["level"] == "error" and "99999" in record["problem"]
