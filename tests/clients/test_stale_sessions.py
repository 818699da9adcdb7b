"""Sessions never outlive their entity's permissions (issue 14, item 1).

Every session kind the server issues × every mutation of the entity behind it (policy detached,
entity deleted, entity deleted and re-created with the same name and the same policies): before
the mutation the session may act, after it every policy decision refuses it, as on AWS (the
session is evaluated against its role's/user's *current* policies, found by the id sealed in the
token — a re-created entity has a new id). Real boto3 clients against a real server; the server's
cache checks the store's generation at most once a second, so denial is polled for ≤ 3 s.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server
from tests.federation import saml_idp
from tests.federation.idp import OidcIssuer

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
SETTLE = 3.0  # > the cache's 1-second generation check


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tmp_path_factory.mktemp("stale-idp"))
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, idp: OidcIssuer) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("stale-data"), args=("--ca-bundle", str(idp.ca_path)))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def iam(srv: Server) -> Any:
    return srv.client("iam")


@pytest.fixture(scope="module")
def provider(iam: Any, idp: OidcIssuer) -> str:
    return iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=["sts.amazonaws.com"],
                                               ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]


@pytest.fixture(scope="module")
def saml(iam: Any) -> dict[str, Any]:
    key, cert = saml_idp.keypair()
    arn = iam.create_saml_provider(Name="StaleCorp", SAMLMetadataDocument=saml_idp.metadata(cert))["SAMLProviderArn"]
    return {"key": key, "cert": cert, "provider": arn}


def _client(srv: Server, creds: dict[str, Any], service: str) -> Any:
    return srv.client(service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


# -- the entities a session hangs on ----------------------------------------------------------
@dataclass
class Entity:
    """A role or user, with what it takes to detach, delete and re-create it identically."""

    kind: str  # role | user
    name: str
    trust: str | None = None

    def create(self, iam: Any) -> None:
        if self.kind == "role":
            iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=self.trust)
            iam.attach_role_policy(RoleName=self.name, PolicyArn=ADMIN)
        else:
            iam.create_user(UserName=self.name)
            iam.attach_user_policy(UserName=self.name, PolicyArn=ADMIN)

    def detach(self, iam: Any) -> None:
        if self.kind == "role":
            iam.detach_role_policy(RoleName=self.name, PolicyArn=ADMIN)
        else:
            iam.detach_user_policy(UserName=self.name, PolicyArn=ADMIN)

    def delete(self, iam: Any) -> None:
        self.detach(iam)
        if self.kind == "role":
            iam.delete_role(RoleName=self.name)
            return
        for key in iam.list_access_keys(UserName=self.name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=self.name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=self.name)

    def recreate(self, iam: Any) -> None:
        self.delete(iam)
        self.create(iam)


def _user_keys(iam: Any, user: Entity) -> dict[str, Any]:
    key = iam.create_access_key(UserName=user.name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"], "SessionToken": None}


def _role(iam: Any, trust: dict[str, Any]) -> Entity:
    role = Entity("role", f"stale-{uuid.uuid4().hex[:8]}", json.dumps({"Version": "2012-10-17", "Statement": [trust]}))
    role.create(iam)
    return role


ACCOUNT_TRUST = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": ["sts:AssumeRole", "sts:TagSession"]}


# -- session kinds: (entity mutated, credentials of a session hanging on it, its session ARN) ----
Issued = tuple[Entity, dict[str, Any], str]


def assume_role_session(srv: Server, iam: Any, **_: Any) -> Issued:
    role = _role(iam, ACCOUNT_TRUST)
    out = srv.client().assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}", RoleSessionName="sess")
    return role, out["Credentials"], out["AssumedRoleUser"]["Arn"]


def chained_role_session(srv: Server, iam: Any, **_: Any) -> Issued:
    first, creds, _arn = assume_role_session(srv, iam)
    second = _role(iam, ACCOUNT_TRUST)
    out = _client(srv, creds, "sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{second.name}",
                                                 RoleSessionName="chained")
    return second, out["Credentials"], out["AssumedRoleUser"]["Arn"]


def web_identity_session(srv: Server, iam: Any, idp: OidcIssuer, provider: str, **_: Any) -> Issued:
    role = _role(iam, {"Effect": "Allow", "Principal": {"Federated": provider},
                       "Action": "sts:AssumeRoleWithWebIdentity"})
    sts = boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    out = sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}",
                                            RoleSessionName="web", WebIdentityToken=idp.token())
    return role, out["Credentials"], out["AssumedRoleUser"]["Arn"]


def saml_session(srv: Server, iam: Any, saml: dict[str, Any], **_: Any) -> Issued:
    role = _role(iam, {"Effect": "Allow", "Principal": {"Federated": saml["provider"]},
                       "Action": "sts:AssumeRoleWithSAML"})
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}"
    assertion, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=role_arn, provider_arn=saml["provider"])
    sts = boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    out = sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=saml["provider"], SAMLAssertion=assertion)
    return role, out["Credentials"], out["AssumedRoleUser"]["Arn"]


def scoped_role_session(srv: Server, iam: Any, **_: Any) -> Issued:
    role, creds, arn = assume_role_session(srv, iam)
    out = _client(srv, creds, "sts").get_scoped_credentials(Policy=ALLOW_ALL)
    return role, out["Credentials"], arn


def _user(iam: Any) -> Entity:
    user = Entity("user", f"stale-{uuid.uuid4().hex[:8]}")
    user.create(iam)
    return user


def session_token_session(srv: Server, iam: Any, **_: Any) -> Issued:
    user = _user(iam)
    keys = _user_keys(iam, user)
    out = srv.client(key=keys["AccessKeyId"], secret=keys["SecretAccessKey"]).get_session_token()
    return user, out["Credentials"], f"arn:aws:iam::{ACCOUNT_ID}:user/{user.name}"


def federation_token_session(srv: Server, iam: Any, **_: Any) -> Issued:
    user = _user(iam)
    keys = _user_keys(iam, user)
    out = srv.client(key=keys["AccessKeyId"], secret=keys["SecretAccessKey"]).get_federation_token(
        Name="fed", Policy=ALLOW_ALL)
    return user, out["Credentials"], out["FederatedUser"]["Arn"]


SESSIONS: dict[str, Callable[..., Issued]] = {
    "AssumeRole": assume_role_session,
    "AssumeRole-chained": chained_role_session,
    "AssumeRoleWithWebIdentity": web_identity_session,
    "AssumeRoleWithSAML": saml_session,
    "GetScopedCredentials-of-role-session": scoped_role_session,
    "GetSessionToken": session_token_session,
    "GetFederationToken": federation_token_session,
}
MUTATIONS = ("detach", "delete", "recreate")


# -- what a session tries: calls that need a permission -------------------------------------
def probes(srv: Server, iam: Any, kind: str, entity: Entity, creds: dict[str, Any], session_arn: str,
           mutation: str) -> dict[str, Callable[[], Any]]:
    sts = _client(srv, creds, "sts")
    trail = _client(srv, creds, "cloudtrail")
    calls: dict[str, Callable[[], Any]] = {"cloudtrail:LookupEvents": lambda: trail.lookup_events(MaxResults=1)}
    if kind != "GetFederationToken":  # federated users may call no STS API but GetCallerIdentity, as on AWS
        target = _role(iam, ACCOUNT_TRUST)  # trusts the account: the caller's identity policy decides
        target_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{target.name}"
        calls["sts:AssumeRole"] = lambda: sts.assume_role(RoleArn=target_arn, RoleSessionName="next")
    if entity.kind == "role":  # role sessions may call IAM; GetSessionToken without MFA and federated users may not
        session_iam = _client(srv, creds, "iam")
        calls["iam:ListUsers"] = lambda: session_iam.list_users(MaxItems=1)
    if entity.kind == "role" and mutation != "detach":
        # A trust policy naming this very session grants on its own (same account, as on AWS),
        # so detaching the role's policies does not stop it; a gone role's session gets nothing.
        named = _role(iam, {"Effect": "Allow", "Principal": {"AWS": session_arn}, "Action": "sts:AssumeRole"})
        named_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{named.name}"
        calls["sts:AssumeRole(trust names the session)"] = lambda: sts.assume_role(RoleArn=named_arn,
                                                                                    RoleSessionName="next")
    return calls


def _denied_within(call: Callable[[], Any], seconds: float) -> str:
    """Poll until ``call`` is refused (the cache may serve the old state for up to its check
    interval); the error code, or "still allowed"."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            call()
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        if time.monotonic() > deadline:
            return "still allowed"
        time.sleep(0.1)


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("kind", list(SESSIONS))
def test_session_loses_permissions_with_its_entity(srv: Server, iam: Any, idp: OidcIssuer, provider: str,
                                                   saml: dict[str, Any], kind: str, mutation: str) -> None:
    entity, creds, session_arn = SESSIONS[kind](srv, iam, idp=idp, provider=provider, saml=saml)
    calls = probes(srv, iam, kind, entity, creds, session_arn, mutation)
    for name, call in calls.items():
        call()  # allowed while the entity has its policies (else this test could not fail)
    getattr(entity, mutation)(iam)
    outcomes = {name: _denied_within(call, SETTLE) for name, call in calls.items()}
    expected = {name: "AccessDeniedException" if name.startswith("cloudtrail:") else "AccessDenied" for name in calls}
    assert outcomes == expected, f"{kind} after {mutation}"  # JSON APIs spell it AccessDeniedException
    # the credentials themselves stay valid (AWS cannot revoke them): only their permissions are gone
    assert _client(srv, creds, "sts").get_caller_identity()["Account"] == ACCOUNT_ID


def test_recreated_role_serves_new_sessions_not_old_ones(srv: Server, iam: Any) -> None:
    """The re-created role works for a new session while the old session stays refused."""
    role, old, _ = assume_role_session(srv, iam)
    role.recreate(iam)
    assert _denied_within(lambda: _client(srv, old, "iam").list_users(MaxItems=1), SETTLE) == "AccessDenied"
    new = srv.client().assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}", RoleSessionName="sess")
    assert "Users" in _client(srv, new["Credentials"], "iam").list_users(MaxItems=1)
    assert _denied_within(lambda: _client(srv, old, "iam").list_users(MaxItems=1), 0) == "AccessDenied"


def test_own_session_simulation_uses_current_policies(srv: Server, iam: Any) -> None:
    """SimulatePrincipalPolicy on the caller's own session ARN answers what its requests get now,
    not the role's policies sealed in the token at issue."""
    role, creds, session_arn = assume_role_session(srv, iam)
    simulate_only = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": "*"}]})
    iam.put_role_policy(RoleName=role.name, PolicyName="simulate", PolicyDocument=simulate_only)
    session_iam = _client(srv, creds, "iam")

    def decision() -> str:
        out = session_iam.simulate_principal_policy(PolicySourceArn=session_arn, ActionNames=["iam:ListUsers"])
        return str(out["EvaluationResults"][0]["EvalDecision"])

    assert decision() == "allowed"
    role.detach(iam)
    deadline = time.monotonic() + SETTLE
    while decision() == "allowed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert decision() == "implicitDeny"
    assert _denied_within(lambda: session_iam.list_users(MaxItems=1), 0) == "AccessDenied"
