"""GetCallerIdentity, GetSessionToken and GetAccessKeyInfo with real clients (boto3, AWS CLI)."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, Server, start_server, stop_server


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_caller_identity_of_iam_user(sts: object) -> None:
    ident = sts.get_caller_identity()  # type: ignore[attr-defined]
    assert ident["Account"] == ACCOUNT_ID
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", ident["UserId"])
    assert re.fullmatch(r"[0-9a-f-]{36}", ident["ResponseMetadata"]["RequestId"])


def test_caller_identity_of_root_user(server: Server) -> None:
    key = json.loads(server.cli("account", "create-root-key", ACCOUNT_ID, "--json").stdout)
    ident = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert ident["UserId"] == ACCOUNT_ID
    assert ident["Account"] == ACCOUNT_ID


def test_session_token_credentials_work_and_keep_identity(server: Server, sts: object) -> None:
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["SessionToken"]
    lifetime = creds["Expiration"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=880) < lifetime <= dt.timedelta(seconds=901)
    temp = server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    ident = temp.get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
    assert ident["UserId"].startswith("AIDA")


def test_session_token_default_duration_is_12_hours(sts: object) -> None:
    creds = sts.get_session_token()["Credentials"]  # type: ignore[attr-defined]
    lifetime = creds["Expiration"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=11, minutes=59) < lifetime <= dt.timedelta(hours=12, seconds=1)


def test_root_session_is_clamped_to_one_hour(server: Server) -> None:
    key = json.loads(server.cli("account", "create-root-key", ACCOUNT_ID, "--json").stdout)
    root = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = root.get_session_token(DurationSeconds=7200)["Credentials"]
    lifetime = creds["Expiration"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(hours=1, seconds=1)


def test_session_credentials_cannot_get_session_token(server: Server, sts: object) -> None:
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    temp = server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    with pytest.raises(ClientError) as exc:
        temp.get_session_token()
    assert _error(exc) == ("AccessDenied", 403, "Cannot call GetSessionToken with session credentials")


def test_duration_out_of_range_is_a_validation_error(server: Server) -> None:
    client = server.client(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        client.get_session_token(DurationSeconds=899)
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )


def test_tampered_session_token_is_invalid(server: Server, sts: object) -> None:
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    token = creds["SessionToken"]
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    temp = server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=flipped)
    with pytest.raises(ClientError) as exc:
        temp.get_caller_identity()
    assert _error(exc) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def test_session_token_of_another_key_is_invalid(server: Server, sts: object) -> None:
    one = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    two = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    mixed = server.client(key=one["AccessKeyId"], secret=one["SecretAccessKey"], token=two["SessionToken"])
    with pytest.raises(ClientError) as exc:
        mixed.get_caller_identity()
    assert _error(exc)[0] == "InvalidClientTokenId"


def test_unknown_key_and_wrong_secret(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client(key="AKIAUNKNOWNUNKNOWN00").get_caller_identity()
    assert _error(exc) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    with pytest.raises(ClientError) as exc:
        server.client(secret=ADMIN_SECRET[:-1] + "X").get_caller_identity()
    code, status, message = _error(exc)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")


def test_access_key_info_names_the_owning_account(server: Server, sts: object) -> None:
    assert sts.get_access_key_info(AccessKeyId=ADMIN_KEY)["Account"] == ACCOUNT_ID  # type: ignore[attr-defined]
    # A key this server never issued: the account AWS encodes in the id (AWS's documented example).
    assert sts.get_access_key_info(AccessKeyId="ASIAY34FZKBOKMUTVV7A")["Account"] == "609629065308"  # type: ignore[attr-defined]
    other = json.loads(server.cli("account", "create", "444455556666", "--json").stdout)
    assert sts.get_access_key_info(AccessKeyId=other["AccessKeyId"])["Account"] == "444455556666"  # type: ignore[attr-defined]
    temp = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    assert sts.get_access_key_info(AccessKeyId=temp["AccessKeyId"])["Account"] == ACCOUNT_ID  # type: ignore[attr-defined]


def test_account_created_while_running_is_usable_at_once(server: Server) -> None:
    key = json.loads(server.cli("account", "create", "777788889999", "--name", "team", "--json").stdout)
    assert key["AccountId"] == "777788889999"
    ident = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"] == "arn:aws:iam::777788889999:user/admin"
    again = server.cli("account", "create", "777788889999", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_account_create_refuses_a_bad_id(server: Server) -> None:
    result = server.cli("account", "create", "12345", check=False)
    assert result.returncode != 0
    assert "12 digits" in result.stderr


def test_aws_cli_get_caller_identity(server: Server) -> None:
    env = dict(server.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--endpoint-url", server.url, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    ident = json.loads(out.stdout)
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
    assert ident["Account"] == ACCOUNT_ID


def test_aws_cli_session_token_then_identity(server: Server) -> None:
    env = dict(server.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    aws = [sys.executable, "-m", "awscli"]
    out = subprocess.run([*aws, "sts", "get-session-token", "--duration-seconds", "900", "--endpoint-url", server.url],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    creds = json.loads(out.stdout)["Credentials"]
    out = subprocess.run([*aws, "sts", "get-access-key-info", "--access-key-id", creds["AccessKeyId"],
                          "--endpoint-url", server.url], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["Account"] == ACCOUNT_ID
    env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
               AWS_SESSION_TOKEN=creds["SessionToken"])
    out = subprocess.run([*aws, "sts", "get-caller-identity", "--endpoint-url", server.url],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
    # GetSessionToken credentials may call only AssumeRole and GetCallerIdentity in STS (AWS's rule).
    out = subprocess.run([*aws, "sts", "get-access-key-info", "--access-key-id", creds["AccessKeyId"],
                          "--endpoint-url", server.url], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "AccessDenied" in out.stderr


def test_banner_prints_a_working_command(server: Server) -> None:
    text = "\n".join(server.banner)
    assert f"account: {ACCOUNT_ID}" in text
    line = next(l.strip() for l in server.banner if "get-caller-identity" in l)
    assert f"--endpoint-url {server.url}" in line
    env_part, command = re.split(r" \S*aws ", line, maxsplit=1)  # the AWS CLI as a path when not on PATH
    env = dict(server.env)
    env.update(dict(item.split("=", 1) for item in env_part.split()))
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    out = subprocess.run([sys.executable, "-m", "awscli", *command.split()], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["Account"] == ACCOUNT_ID


@pytest.fixture
def later_server(server: Server) -> Server:
    """A second process on the same data folder whose clock runs 1000 s ahead."""
    srv = start_server(server.data_dir, {"OPENSTS_CLOCK_OFFSET_SECONDS": "1000"})
    yield srv  # type: ignore[misc]
    stop_server(srv)


def test_expired_session_token(server: Server, sts: object, later_server: Server,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[attr-defined]
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1000)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: ahead.replace(tzinfo=None))
    temp = later_server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    with pytest.raises(ClientError) as exc:
        temp.get_caller_identity()
    assert _error(exc) == ("ExpiredToken", 403, "The security token included in the request is expired")
    # The same future clock with long-term credentials is fine: only the session has expired.
    assert later_server.client().get_caller_identity()["Account"] == ACCOUNT_ID


def test_python_dash_m_matches_the_command() -> None:
    out = subprocess.run([sys.executable, "-m", "opensts", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("opensts, version")
