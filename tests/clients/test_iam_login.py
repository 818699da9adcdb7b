"""Console passwords with real clients: login profiles, ChangePassword, the account password policy
and its rules (table-driven), authorization, cross-account isolation, and no password anywhere
the server writes (audit journal, trail, database, log)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.clients.iam_support import (
    allow, at_rest, aws_cli, client_for, error, new_account, recorded_events, user_client,
)
from tests.clients.iam_support import admin_key, iam, other_iam  # noqa: F401  (fixtures)
from tests.conftest import Server

ACCOUNT = "731500000011"
OTHER = "731500000012"
SECRET_PASSWORD = "Zq!unguessable-Passw0rd-7731"  # grepped for in everything the server wrote



def user_with_key(server: Server, iam: Any, name: str, policy: dict[str, Any] | None = None) -> Any:
    return user_client(server, iam, name, policy)


# -- the account password policy -----------------------------------------------------------------------
def test_password_policy_lifecycle(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert error(exc) == ("NoSuchEntity", 404, f"The Password Policy with domain name {ACCOUNT} cannot be found.")
    iam.update_account_password_policy()  # everything left out takes its default
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": False,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False,
    }
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                                       AllowUsersToChangePassword=True, MaxPasswordAge=90,
                                       PasswordReusePrevention=24, HardExpiry=False)
    got = iam.get_account_password_policy()["PasswordPolicy"]
    assert got["MinimumPasswordLength"] == 14 and got["ExpirePasswords"] is True
    assert (got["MaxPasswordAge"], got["PasswordReusePrevention"], got["HardExpiry"]) == (90, 24, False)
    iam.update_account_password_policy(MinimumPasswordLength=10)  # no partial updates: the rest reverts
    got = iam.get_account_password_policy()["PasswordPolicy"]
    assert (got["MinimumPasswordLength"], got["RequireSymbols"], got["ExpirePasswords"]) == (10, False, False)
    assert "MaxPasswordAge" not in got
    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as exc:
        iam.delete_account_password_policy()
    assert error(exc)[:2] == ("NoSuchEntity", 404)


@pytest.mark.parametrize("value,field", [(5, "MinimumPasswordLength"), (129, "MinimumPasswordLength"),
                                         (0, "MaxPasswordAge"), (1096, "MaxPasswordAge"),
                                         (0, "PasswordReusePrevention"), (25, "PasswordReusePrevention")])
def test_password_policy_bounds(server: Server, admin_key: dict[str, str], value: int, field: str) -> None:
    """Out-of-range values (sent past boto3's own checks): AWS's ValidationError, nothing stored."""
    raw = server.client("iam", key=admin_key["AccessKeyId"], secret=admin_key["SecretAccessKey"],
                        parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.update_account_password_policy(**{field: value})
    assert error(exc)[:2] == ("ValidationError", 400)
    with pytest.raises(ClientError):
        raw.get_account_password_policy()


RULES = [  # (policy, password, the violation message or None)
    ({}, "Abcdef1!", None),
    ({}, "Ab1!", "Password should have a minimum length of 8"),  # AWS's default policy: 8, 3 of 4 kinds
    ({}, "abcdefgh1", "Password should have at least three of the following character types: uppercase letters, "
                      "lowercase letters, numbers and symbols"),
    ({"MinimumPasswordLength": 12}, "Abcdef1!xyz", "Password should have a minimum length of 12"),
    ({"MinimumPasswordLength": 6}, "abcdef", None),
    ({"RequireUppercaseCharacters": True}, "abcdefgh", "Password should have at least one uppercase letter"),
    ({"RequireLowercaseCharacters": True}, "ABCDEFGH", "Password should have at least one lowercase letter"),
    ({"RequireNumbers": True}, "Abcdefgh", "Password should have at least one number"),
    ({"RequireSymbols": True}, "Abcdefg1", "Password should have at least one symbol"),
    ({"RequireSymbols": True}, "Abcdefg1~", "Password should have at least one symbol"),  # ~ is not one of AWS's
    ({"RequireSymbols": True, "RequireNumbers": True, "RequireUppercaseCharacters": True,
      "RequireLowercaseCharacters": True}, "Abcdefg1|", None),
]


@pytest.mark.parametrize("policy,password,message", RULES)
def test_password_rules(iam: Any, policy: dict[str, Any], password: str, message: str | None) -> None:
    name = f"rules-{abs(hash((json.dumps(policy, sort_keys=True), password))) % 10**8}"
    iam.create_user(UserName=name)
    try:
        if policy:
            iam.update_account_password_policy(**policy)
        else:
            try:
                iam.delete_account_password_policy()
            except ClientError:
                pass
        if message is None:
            iam.create_login_profile(UserName=name, Password=password)
            assert iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name
            iam.delete_login_profile(UserName=name)
        else:
            with pytest.raises(ClientError) as exc:
                iam.create_login_profile(UserName=name, Password=password)
            assert error(exc) == ("PasswordPolicyViolation", 400, message)
            assert password not in error(exc)[2]
    finally:
        try:
            iam.delete_account_password_policy()
        except ClientError:
            pass
        iam.delete_user(UserName=name)


# -- login profiles ----------------------------------------------------------------------------------
def test_login_profile_lifecycle(iam: Any) -> None:
    iam.create_user(UserName="carol")
    made = iam.create_login_profile(UserName="carol", Password=SECRET_PASSWORD, PasswordResetRequired=True)
    assert made["LoginProfile"]["UserName"] == "carol" and made["LoginProfile"]["PasswordResetRequired"] is True
    got = iam.get_login_profile(UserName="carol")["LoginProfile"]
    assert got["PasswordResetRequired"] is True and "Password" not in got
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName="carol", Password=SECRET_PASSWORD)
    assert error(exc) == ("EntityAlreadyExists", 409, "Login Profile for user carol already exists.")
    iam.update_login_profile(UserName="carol", PasswordResetRequired=False)
    assert iam.get_login_profile(UserName="carol")["LoginProfile"]["PasswordResetRequired"] is False
    with pytest.raises(ClientError) as exc:
        iam.update_login_profile(UserName="carol", Password="short")
    assert error(exc)[:2] == ("PasswordPolicyViolation", 400)
    with pytest.raises(ClientError) as exc:  # AWS keeps a user with a console password
        iam.delete_user(UserName="carol")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete login profile first.")
    iam.delete_login_profile(UserName="carol")
    for call in (lambda: iam.get_login_profile(UserName="carol"), lambda: iam.delete_login_profile(UserName="carol"),
                 lambda: iam.update_login_profile(UserName="carol", PasswordResetRequired=True)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("NoSuchEntity", 404, "Login Profile for User carol cannot be found.")
    iam.delete_user(UserName="carol")
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName="carol", Password=SECRET_PASSWORD)
    assert error(exc) == ("NoSuchEntity", 404, "The user with name carol cannot be found.")


def test_change_password(server: Server, iam: Any) -> None:
    dave = user_with_key(server, iam, "dave", allow("iam:ChangePassword"))
    with pytest.raises(ClientError) as exc:
        dave.change_password(OldPassword="whatever1A!", NewPassword="Whatever2B!")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.create_login_profile(UserName="dave", Password="Initial-Pass1", PasswordResetRequired=True)
    with pytest.raises(ClientError) as exc:
        dave.change_password(OldPassword="Wrong-Pass1", NewPassword="Second-Pass2")
    assert error(exc)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        dave.change_password(OldPassword="Initial-Pass1", NewPassword="weak")
    assert error(exc) == ("PasswordPolicyViolation", 400, "Password should have a minimum length of 8")
    dave.change_password(OldPassword="Initial-Pass1", NewPassword="Second-Pass2")
    assert iam.get_login_profile(UserName="dave")["LoginProfile"]["PasswordResetRequired"] is False
    with pytest.raises(ClientError) as exc:  # the old one no longer works
        dave.change_password(OldPassword="Initial-Pass1", NewPassword="Third-Pass3")
    assert error(exc)[:2] == ("AccessDenied", 403)

    iam.update_account_password_policy(MinimumPasswordLength=8, PasswordReusePrevention=2,
                                       AllowUsersToChangePassword=True)
    try:
        dave.change_password(OldPassword="Second-Pass2", NewPassword="Third-Pass3")
        for reused in ("Third-Pass3", "Second-Pass2"):
            with pytest.raises(ClientError) as exc:
                dave.change_password(OldPassword="Third-Pass3", NewPassword=reused)
            assert error(exc) == ("PasswordPolicyViolation", 400,
                                  "Password should not be one of the previous 2 passwords used")
    finally:
        iam.delete_account_password_policy()


def test_change_password_authorization(server: Server, iam: Any, admin_key: dict[str, str]) -> None:
    erin = user_with_key(server, iam, "erin")  # no policy at all
    iam.create_login_profile(UserName="erin", Password="Erin-Pass-1")
    with pytest.raises(ClientError) as exc:
        erin.change_password(OldPassword="Erin-Pass-1", NewPassword="Erin-Pass-2")
    assert error(exc)[:2] == ("AccessDenied", 403)
    iam.update_account_password_policy(AllowUsersToChangePassword=True)  # lets every user change their own
    try:
        erin.change_password(OldPassword="Erin-Pass-1", NewPassword="Erin-Pass-2")
    finally:
        iam.delete_account_password_policy()
    with pytest.raises(ClientError) as exc:  # an IAM user without a console password
        iam.change_password(OldPassword="Erin-Pass-1", NewPassword="Erin-Pass-2")
    assert error(exc) == ("NoSuchEntity", 404, "Login Profile for User admin cannot be found.")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                      "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="pw-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="pw-role", PolicyName="p", PolicyDocument=json.dumps(allow("iam:*")))
    sts = server.client("sts", key=admin_key["AccessKeyId"], secret=admin_key["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pw-role", RoleSessionName="pw-session")["Credentials"]
    session = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                            token=creds["SessionToken"])
    with pytest.raises(ClientError) as exc:  # a role session is no IAM user
        session.change_password(OldPassword="Erin-Pass-1", NewPassword="Erin-Pass-2")
    assert error(exc)[:2] == ("InvalidUserType", 400)
    with pytest.raises(ClientError) as exc:  # and nobody manages login profiles without permission
        erin.create_login_profile(UserName="dave", Password="Another-Pass1")
    assert error(exc)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        erin.update_account_password_policy(MinimumPasswordLength=20)
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_login_profiles_are_per_account(iam: Any, other_iam: Any) -> None:
    iam.create_user(UserName="frank")
    iam.create_login_profile(UserName="frank", Password="Frank-Pass-1")
    with pytest.raises(ClientError) as exc:
        other_iam.get_login_profile(UserName="frank")
    assert error(exc) == ("NoSuchEntity", 404, "The user with name frank cannot be found.")
    other_iam.update_account_password_policy(MinimumPasswordLength=30)
    iam.update_login_profile(UserName="frank", Password="Frank-Pass-2")  # the other account's policy: not ours


def test_aws_cli_login_profile(server: Server, admin_key: dict[str, str], iam: Any) -> None:
    iam.create_user(UserName="cli-login")
    made = aws_cli(server, admin_key, "create-login-profile", "--user-name", "cli-login", "--password",
                   "Cli-Pass-123", "--password-reset-required")
    assert made["LoginProfile"]["PasswordResetRequired"] is True
    aws_cli(server, admin_key, "update-account-password-policy", "--minimum-password-length", "16",
            "--require-symbols")
    policy = aws_cli(server, admin_key, "get-account-password-policy")["PasswordPolicy"]
    assert (policy["MinimumPasswordLength"], policy["RequireSymbols"]) == (16, True)
    failed = aws_cli(server, admin_key, "update-login-profile", "--user-name", "cli-login", "--password",
                     "Short-1!", check=False)
    assert failed.returncode != 0 and "PasswordPolicyViolation" in failed.stderr
    aws_cli(server, admin_key, "delete-account-password-policy")
    aws_cli(server, admin_key, "delete-login-profile", "--user-name", "cli-login")


def test_no_password_at_rest_or_in_the_trail(server: Server, iam: Any) -> None:
    grace = user_with_key(server, iam, "grace", allow("iam:ChangePassword"))
    iam.create_login_profile(UserName="grace", Password=SECRET_PASSWORD)
    new_password = SECRET_PASSWORD + "-next"
    grace.change_password(OldPassword=SECRET_PASSWORD, NewPassword=new_password)
    with pytest.raises(ClientError):  # a failed call is recorded too
        grace.change_password(OldPassword=SECRET_PASSWORD, NewPassword=new_password + "x")
    blobs = at_rest(server)
    for blob in blobs:
        assert SECRET_PASSWORD.encode() not in blob
    if not server.env.get("OPENSTS_DATABASE_URL"):  # SQLite: the store holds a salted scrypt hash instead
        assert any(b"scrypt$16384$8$1$" in blob for blob in blobs)
    events = recorded_events(server, "ChangePassword") + recorded_events(server, "CreateLoginProfile")
    assert events, "the calls are audited"
    for record in events:
        params = record.get("requestParameters") or {}
        assert not {"password", "oldPassword", "newPassword"} & set(params)
