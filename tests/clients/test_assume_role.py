"""AssumeRole, role chaining, tags, source identity, session policies, MFA, cross-account,
GetFederationToken and DecodeAuthorizationMessage — provisioned through our IAM API with boto3."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server

ADMIN_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/admin"


def trust(principal: Any, actions: list[str] | str = "sts:AssumeRole", condition: dict | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": actions}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(actions: Any, resource: Any = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]})


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def make_role(iam: Any, policy: str, name: str | None = None, **kw: Any) -> str:
    name = name or f"role-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy, **kw)["Role"]["Arn"]


def session_client(server: Server, creds: dict[str, Any], service: str = "sts") -> Any:
    return server.client(service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


def make_user(server: Server, iam: Any, policy: str | None = None) -> tuple[str, Any]:
    name = f"user-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def test_assume_role_same_account(server: Server, iam: Any, sts: Any) -> None:
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name="Deployer", Path="/ci/")
    role_id = iam.get_role(RoleName="Deployer")["Role"]["RoleId"]
    out = sts.assume_role(RoleArn=arn, RoleSessionName="build-42")
    assert arn == f"arn:aws:iam::{ACCOUNT_ID}:role/ci/Deployer"
    assert out["AssumedRoleUser"] == {
        "Arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/Deployer/build-42",  # the path is omitted, as on AWS
        "AssumedRoleId": f"{role_id}:build-42",
    }
    assert "PackedPolicySize" not in out
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    ident = session_client(server, creds).get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert ident["UserId"] == f"{role_id}:build-42" and ident["Account"] == ACCOUNT_ID


def test_missing_role_and_refusing_trust_look_the_same(iam: Any, sts: Any) -> None:
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:role/no-such-role"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=ghost, RoleSessionName="s1")
    assert err(exc) == ("AccessDenied", f"User: {ADMIN_ARN} is not authorized to perform: sts:AssumeRole on resource: {ghost}")
    other = make_role(iam, trust({"AWS": "arn:aws:iam::444455556666:root"}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=other, RoleSessionName="s1")
    assert err(exc) == ("AccessDenied", f"User: {ADMIN_ARN} is not authorized to perform: sts:AssumeRole on resource: {other}")


@pytest.mark.parametrize("bad", ["nothing-valid-in-here", "arn:aws:iam::111122223333:user/bob", "arn:aws:s3:::bucket/key-x"])
def test_malformed_role_arn(sts: Any, bad: str) -> None:
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=bad, RoleSessionName="s1")
    assert err(exc) == ("ValidationError", f"{bad} is invalid")


def test_root_cannot_assume_roles(server: Server, iam: Any) -> None:
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    key = json.loads(server.cli("account", "create-root-key", ACCOUNT_ID, "--json").stdout)
    root = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        root.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert err(exc) == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_external_id_condition(iam: Any, sts: Any) -> None:
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}, condition={"StringEquals": {"sts:ExternalId": "Unicorn-42"}}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError):
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="Unicorn-43")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="Unicorn-42")["Credentials"]


def test_duration_limits_at_the_boundary(iam: Any, sts: Any) -> None:
    name = f"dur-{uuid.uuid4().hex[:6]}"
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=name)
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=3600)["Credentials"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=3601)
    assert err(exc) == ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    assert 7100 < creds["Expiration"].timestamp() - time.time() <= 7201
    with pytest.raises(ClientError):
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7201)


def test_role_chaining_is_capped_at_one_hour(server: Server, iam: Any, sts: Any) -> None:
    first = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    iam.put_role_policy(RoleName=first.rsplit("/", 1)[1], PolicyName="chain", PolicyDocument=allow("sts:AssumeRole"))
    second_name = f"second-{uuid.uuid4().hex[:6]}"
    second = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=second_name, MaxSessionDuration=14400)
    one = session_client(server, sts.assume_role(RoleArn=first, RoleSessionName="hop1")["Credentials"])
    with pytest.raises(ClientError) as exc:
        one.assume_role(RoleArn=second, RoleSessionName="hop2", DurationSeconds=3601)
    assert err(exc) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    )
    two = one.assume_role(RoleArn=second, RoleSessionName="hop2", DurationSeconds=3600)
    assert session_client(server, two["Credentials"]).get_caller_identity()["Arn"].endswith(f"assumed-role/{second_name}/hop2")


def test_chaining_needs_the_first_role_to_allow_it(server: Server, iam: Any, sts: Any) -> None:
    first = make_role(iam, trust({"AWS": ACCOUNT_ID}))  # no identity policy: may not assume anything
    second = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    one = session_client(server, sts.assume_role(RoleArn=first, RoleSessionName="hop1")["Credentials"])
    with pytest.raises(ClientError) as exc:
        one.assume_role(RoleArn=second, RoleSessionName="hop2")
    code, message = err(exc)
    assert code == "AccessDenied" and message.startswith(f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/")


def test_session_tags_need_tag_session_and_transitive_tags_are_carried(server: Server, iam: Any, sts: Any) -> None:
    plain = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    tags = [{"Key": "Project", "Value": "Pegasus"}, {"Key": "Team", "Value": "Blue"}]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=plain, RoleSessionName="s1", Tags=tags)
    assert err(exc) == ("AccessDenied", f"User: {ADMIN_ARN} is not authorized to perform: sts:TagSession on resource: {plain}")
    first_name = f"tagged-{uuid.uuid4().hex[:6]}"
    first = make_role(iam, trust({"AWS": ACCOUNT_ID}, ["sts:AssumeRole", "sts:TagSession"]), name=first_name)
    iam.put_role_policy(RoleName=first_name, PolicyName="chain", PolicyDocument=allow(["sts:AssumeRole", "sts:TagSession"]))
    out = sts.assume_role(RoleArn=first, RoleSessionName="s1", Tags=tags, TransitiveTagKeys=["Project"])
    assert out["PackedPolicySize"] >= 1
    # The next role admits only sessions whose (transitive) Project tag is Pegasus.
    gated = make_role(iam, trust({"AWS": ACCOUNT_ID}, ["sts:AssumeRole", "sts:TagSession"],
                                 {"StringEquals": {"aws:PrincipalTag/Project": "Pegasus"}}))
    one = session_client(server, out["Credentials"])
    assert one.assume_role(RoleArn=gated, RoleSessionName="hop")["Credentials"]
    with pytest.raises(ClientError) as exc:
        one.assume_role(RoleArn=gated, RoleSessionName="hop", Tags=[{"Key": "project", "Value": "Other"}])
    assert err(exc) == ("InvalidParameterValue", "One of the specified transitive tag keys can't be set because it "
                        "conflicts with a transitive tag key from the calling session.")


@pytest.mark.parametrize(
    ("tags", "transitive", "message"),
    [
        ([{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}], [],
         "Duplicate tag keys found. Please note that Tag keys are case insensitive."),
        ([{"Key": "a", "Value": "1"}], ["b"], "The specified transitive tag key must be included in the requested tags."),
    ],
)
def test_tag_validation(iam: Any, sts: Any, tags: list[dict[str, str]], transitive: list[str], message: str) -> None:
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}, ["sts:AssumeRole", "sts:TagSession"]))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", Tags=tags, TransitiveTagKeys=transitive)
    assert err(exc) == ("InvalidParameterValue", message)


def test_source_identity_is_set_once_and_inherited(server: Server, iam: Any, sts: Any) -> None:
    plain = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=plain, RoleSessionName="s1", SourceIdentity="alice")
    assert "sts:SetSourceIdentity" in err(exc)[1]
    name = f"si-{uuid.uuid4().hex[:6]}"
    first = make_role(iam, trust({"AWS": ACCOUNT_ID}, ["sts:AssumeRole", "sts:SetSourceIdentity"]), name=name)
    iam.put_role_policy(RoleName=name, PolicyName="chain", PolicyDocument=allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))
    out = sts.assume_role(RoleArn=first, RoleSessionName="s1", SourceIdentity="alice")
    assert out["SourceIdentity"] == "alice"
    second = make_role(iam, trust({"AWS": ACCOUNT_ID}, ["sts:AssumeRole", "sts:SetSourceIdentity"],
                                  {"StringEquals": {"aws:SourceIdentity": "alice"}}))
    one = session_client(server, out["Credentials"])
    assert one.assume_role(RoleArn=second, RoleSessionName="hop")["SourceIdentity"] == "alice"
    with pytest.raises(ClientError) as exc:
        one.assume_role(RoleArn=second, RoleSessionName="hop", SourceIdentity="mallory")
    assert err(exc)[0] == "AccessDenied"


def test_session_policy_narrows_the_role(server: Server, iam: Any, sts: Any) -> None:
    name = f"wide-{uuid.uuid4().hex[:6]}"
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=name)
    iam.put_role_policy(RoleName=name, PolicyName="iam-read", PolicyDocument=allow(["iam:ListRoles", "iam:ListUsers"]))
    wide = session_client(server, sts.assume_role(RoleArn=arn, RoleSessionName="wide")["Credentials"], "iam")
    assert wide.list_users()["Users"] is not None and wide.list_roles()["Roles"]
    out = sts.assume_role(RoleArn=arn, RoleSessionName="narrow", Policy=allow("iam:ListRoles"))
    assert 1 <= out["PackedPolicySize"] <= 100
    narrow = session_client(server, out["Credentials"], "iam")
    assert narrow.list_roles()["Roles"]
    with pytest.raises(ClientError) as exc:
        narrow.list_users()
    assert err(exc)[0] == "AccessDenied"


def test_managed_session_policy_arns(server: Server, iam: Any, sts: Any) -> None:
    name = f"managed-{uuid.uuid4().hex[:6]}"
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=name)
    iam.put_role_policy(RoleName=name, PolicyName="iam-read", PolicyDocument=allow(["iam:ListRoles", "iam:ListUsers"]))
    policy = iam.create_policy(PolicyName=f"only-roles-{uuid.uuid4().hex[:6]}", PolicyDocument=allow("iam:ListRoles"))["Policy"]["Arn"]
    out = sts.assume_role(RoleArn=arn, RoleSessionName="m1", PolicyArns=[{"arn": policy}])
    narrow = session_client(server, out["Credentials"], "iam")
    assert narrow.list_roles()["Roles"]
    with pytest.raises(ClientError):
        narrow.list_users()
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="m1", PolicyArns=[{"arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/nope"}])
    assert err(exc)[0] == "MalformedPolicyDocument"


def test_malformed_session_policy(iam: Any, sts: Any) -> None:
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", Policy='{"Version":"2012-10-17","Statement":[]}')
    assert err(exc)[0] == "MalformedPolicyDocument"


def test_cross_account_needs_both_sides(server: Server, iam: Any) -> None:
    other = json.loads(server.cli("account", "create", "222233334444", "--json").stdout)
    other_iam = server.client("iam", key=other["AccessKeyId"], secret=other["SecretAccessKey"])
    role = make_role(other_iam, trust({"AWS": ACCOUNT_ID}), name="Shared")
    assert role == "arn:aws:iam::222233334444:role/Shared"
    admin = server.client()
    out = admin.assume_role(RoleArn=role, RoleSessionName="x-acct")
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::222233334444:assumed-role/Shared/x-acct"
    ident = session_client(server, out["Credentials"]).get_caller_identity()
    assert ident["Account"] == "222233334444"
    assert admin.get_access_key_info(AccessKeyId=out["Credentials"]["AccessKeyId"])["Account"] == "222233334444"
    user_arn, nobody = make_user(server, iam)  # in our account, no identity policy
    with pytest.raises(ClientError) as exc:
        nobody.assume_role(RoleArn=role, RoleSessionName="x1")
    assert err(exc) == ("AccessDenied", f"User: {user_arn} is not authorized to perform: sts:AssumeRole on resource: {role}")
    other_iam.update_assume_role_policy(RoleName="Shared", PolicyDocument=trust({"AWS": user_arn}))
    with pytest.raises(ClientError):  # trust names the user directly, but cross-account needs its identity policy too
        nobody.assume_role(RoleArn=role, RoleSessionName="x1")
    _, allowed = make_user(server, iam, allow("sts:AssumeRole", role))
    with pytest.raises(ClientError):  # allowed by its identity policy, but not named by the trust policy
        allowed.assume_role(RoleArn=role, RoleSessionName="x1")


def test_same_account_trust_naming_the_user_suffices(server: Server, iam: Any) -> None:
    user_arn, user = make_user(server, iam)
    arn = make_role(iam, trust({"AWS": user_arn}))
    assert user.assume_role(RoleArn=arn, RoleSessionName="direct")["Credentials"]
    account_trust = make_role(iam, trust({"AWS": ACCOUNT_ID}))
    with pytest.raises(ClientError):  # trusting the account delegates to identity policies, which grant nothing
        user.assume_role(RoleArn=account_trust, RoleSessionName="x1")


def test_mfa_required_by_trust(server: Server, iam: Any) -> None:
    user_name = f"mfa-{uuid.uuid4().hex[:6]}"
    user_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    user = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=user_name)["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode() if isinstance(device["Base32StringSeed"], bytes) else device["Base32StringSeed"])
    now = time.time()
    iam.enable_mfa_device(UserName=user_name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    arn = make_role(iam, trust({"AWS": user_arn}, condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    with pytest.raises(ClientError):
        user.assume_role(RoleArn=arn, RoleSessionName="nomfa")
    with pytest.raises(ClientError) as exc:
        user.assume_role(RoleArn=arn, RoleSessionName="bad", SerialNumber=device["SerialNumber"], TokenCode="000000"
                         if totp.now() != "000000" else "111111")
    assert err(exc) == ("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
    time.sleep(max(0.0, 30 - time.time() % 30 + 0.5))  # a fresh time step, not used by EnableMFADevice
    code = totp.now()
    out = user.assume_role(RoleArn=arn, RoleSessionName="mfa", SerialNumber=device["SerialNumber"], TokenCode=code)
    assert out["Credentials"]
    with pytest.raises(ClientError) as exc:  # the same code again: a replay
        user.assume_role(RoleArn=arn, RoleSessionName="mfa", SerialNumber=device["SerialNumber"], TokenCode=code)
    assert err(exc)[0] == "AccessDenied"


def test_get_federation_token(server: Server, iam: Any, sts: Any) -> None:
    out = sts.get_federation_token(Name="bob", Policy=allow("iam:ListRoles"), DurationSeconds=900)
    assert out["FederatedUser"] == {"FederatedUserId": f"{ACCOUNT_ID}:bob", "Arn": f"arn:aws:sts::{ACCOUNT_ID}:federated-user/bob"}
    assert out["PackedPolicySize"] >= 1
    fed = session_client(server, out["Credentials"])
    assert fed.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:federated-user/bob"
    for call in (lambda: fed.get_session_token(), lambda: fed.get_federation_token(Name="again")):
        with pytest.raises(ClientError) as exc:
            call()
        assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError):  # federated sessions may not call IAM at all
        session_client(server, out["Credentials"], "iam").list_roles()


def test_federation_token_needs_permission(server: Server, iam: Any) -> None:
    user_arn, user = make_user(server, iam)
    with pytest.raises(ClientError) as exc:
        user.get_federation_token(Name="carol")
    code, message = err(exc)
    resource = f"arn:aws:sts::{ACCOUNT_ID}:federated-user/carol"
    assert (code, message) == ("AccessDenied", f"User: {user_arn} is not authorized to perform: sts:GetFederationToken on resource: {resource}")
    encoded = exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-encoded-authorization-message"]
    decoded = json.loads(server.client().decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "sts:GetFederationToken"
    assert decoded["context"]["resource"] == resource
    assert decoded["context"]["principal"]["arn"] == user_arn
    with pytest.raises(ClientError) as exc:  # the user itself may not decode it
        user.decode_authorization_message(EncodedMessage=encoded)
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        server.client().decode_authorization_message(EncodedMessage=encoded[:-4] + "AAAA")
    assert err(exc)[0] == "InvalidAuthorizationMessageException"


def test_aws_cli_walk_through(server: Server, tmp_path: Any) -> None:
    import subprocess
    import sys

    from tests.conftest import ADMIN_KEY, ADMIN_SECRET

    env = dict(server.env, AWS_ACCESS_KEY_ID=ADMIN_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    doc = tmp_path / "trust.json"
    doc.write_text(trust({"AWS": ACCOUNT_ID}))
    aws = [sys.executable, "-m", "awscli", "--endpoint-url", server.url, "--output", "json"]
    name = f"cli-{uuid.uuid4().hex[:6]}"
    run = lambda *a: json.loads(subprocess.run([*aws, *a], env=env, capture_output=True, text=True, timeout=60, check=True).stdout)  # noqa: E731
    role = run("iam", "create-role", "--role-name", name, "--assume-role-policy-document", f"file://{doc}")["Role"]
    out = run("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/cli"


def test_role_policy_changes_reach_live_sessions_and_simulation_shows_the_token(server: Server, iam: Any, sts: Any) -> None:
    """AWS evaluates a session against its role's current policies; SimulatePrincipalPolicy on the
    session's own ARN evaluates the same (the role's current policies ∩ session policy)."""
    name = f"live-{uuid.uuid4().hex[:6]}"
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=name)
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow(
        ["iam:ListRoles", "iam:ListUsers", "iam:SimulatePrincipalPolicy"]))
    out = sts.assume_role(RoleArn=arn, RoleSessionName="live", Policy=allow(["iam:ListRoles", "iam:SimulatePrincipalPolicy"]))
    me = out["AssumedRoleUser"]["Arn"]
    session_iam = session_client(server, out["Credentials"], "iam")
    results = {r["EvalActionName"]: r["EvalDecision"] for r in session_iam.simulate_principal_policy(
        PolicySourceArn=me, ActionNames=["iam:ListRoles", "iam:ListUsers", "iam:DeleteRole"])["EvaluationResults"]}
    assert results == {"iam:ListRoles": "allowed", "iam:ListUsers": "implicitDeny", "iam:DeleteRole": "implicitDeny"}
    assert session_iam.list_roles()["Roles"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow(["iam:ListUsers", "iam:SimulatePrincipalPolicy"]))
    time.sleep(1.2)  # other worker processes see the change within their cache check interval
    with pytest.raises(ClientError) as exc:
        session_iam.list_roles()  # the role no longer allows it: the live session loses it at once
    assert err(exc)[0] == "AccessDenied"


def test_get_scoped_credentials_narrows_and_shortens(server: Server, iam: Any, sts: Any) -> None:
    name = f"scoped-{uuid.uuid4().hex[:6]}"
    arn = make_role(iam, trust({"AWS": ACCOUNT_ID}), name=name)
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow(["iam:ListRoles", "iam:ListUsers"]))
    out = sts.assume_role(RoleArn=arn, RoleSessionName="agent", DurationSeconds=3600)
    session = session_client(server, out["Credentials"])
    scoped = session.get_scoped_credentials(Policy=allow("iam:ListRoles"), DurationSeconds=900,
                                            ScopedSessionDescription="read-only helper")
    assert scoped["ScopedPoliciesCount"] == 1
    assert scoped["SessionInfo"] == {"ScopedSessionId": out["AssumedRoleUser"]["AssumedRoleId"],
                                     "Arn": out["AssumedRoleUser"]["Arn"]}
    assert 880 < scoped["Credentials"]["Expiration"].timestamp() - time.time() <= 901
    assert scoped["SessionTokenSize"] == len(scoped["Credentials"]["SessionToken"])
    narrow = session_client(server, scoped["Credentials"])
    assert narrow.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]  # same identity
    narrow_iam = session_client(server, scoped["Credentials"], "iam")
    assert narrow_iam.list_roles()["Roles"]
    with pytest.raises(ClientError):
        narrow_iam.list_users()
    # Layers stack (up to 3) and never widen; the session cannot be extended.
    twice = narrow.get_scoped_credentials(Policy=allow("iam:ListUsers"))
    assert twice["ScopedPoliciesCount"] == 2
    with pytest.raises(ClientError):
        session_client(server, twice["Credentials"], "iam").list_roles()
    with pytest.raises(ClientError) as exc:
        narrow.get_scoped_credentials(DurationSeconds=3600)
    assert err(exc)[0] == "InsufficientSessionLifetime"
    with pytest.raises(ClientError) as exc:
        sts.get_scoped_credentials(DurationSeconds=900)  # long-term credentials
    assert err(exc)[0] == "InvalidSubjectCredentials"


def test_minimum_session_token_size_pads_the_token(sts: Any) -> None:
    out = sts.get_session_token(DurationSeconds=900, MinimumSessionTokenSize=3000)
    token = out["Credentials"]["SessionToken"]
    assert 3000 <= len(token) <= 4096 and out["SessionTokenSize"] == len(token)
    assert out["SessionTokenUtilization"] == -(-100 * len(token) // 4096)


def test_trust_binds_to_the_user_not_its_name(server: Server, iam: Any) -> None:
    """IAM stores a trusted user's unique id: delete the user and create another with the same
    name, and the old trust policy no longer admits it (until the policy is saved again)."""
    name = f"bound-{uuid.uuid4().hex[:6]}"
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    role = make_role(iam, trust({"AWS": user_arn}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"]).assume_role(
        RoleArn=role, RoleSessionName="first")["Credentials"]
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    assert iam.create_user(UserName=name)["User"]["Arn"] == user_arn  # same name, new unique id
    key = iam.create_access_key(UserName=name)["AccessKey"]
    again = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        again.assume_role(RoleArn=role, RoleSessionName="second")
    assert err(exc)[0] == "AccessDenied"
    iam.update_assume_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyDocument=trust({"AWS": user_arn}))
    assert again.assume_role(RoleArn=role, RoleSessionName="third")["Credentials"]
