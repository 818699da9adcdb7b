"""Federation end to end with real clients: a real HTTPS OIDC issuer on loopback, boto3's own
web-identity credential provider, signxml-signed SAML responses, and our outbound issuer
verified by joserfc from the published JWKS only."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server
from tests.federation import saml_idp
from tests.federation.idp import OidcIssuer


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tmp_path_factory.mktemp("idp"))
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory, idp: OidcIssuer) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("fed-data"), args=("--ca-bundle", str(idp.ca_path)))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def iam(fed: Server) -> Any:
    return fed.client("iam")


@pytest.fixture(scope="module")
def provider(iam: Any, idp: OidcIssuer) -> str:
    return iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=["sts.amazonaws.com", "other-client"],
                                               ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]


def unsigned_sts(server: Server) -> Any:
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(signature_version=__import__("botocore").UNSIGNED, retries={"total_max_attempts": 1}))


def web_role(iam: Any, provider: str, idp: OidcIssuer, condition: dict | None = None, **kw: Any) -> str:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": provider},
                            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"]}
    stmt["Condition"] = condition or {"StringEquals": {f"{idp.host_path}:aud": "sts.amazonaws.com"}}
    doc = json.dumps({"Version": "2012-10-17", "Statement": [stmt]})
    return iam.create_role(RoleName=f"web-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=doc, **kw)["Role"]["Arn"]


# -- AssumeRoleWithWebIdentity ------------------------------------------------------------------
def test_kubernetes_style_flow_with_boto3_provider(fed: Server, iam: Any, provider: str, idp: OidcIssuer,
                                                   tmp_path: Path) -> None:
    sub = "system:serviceaccount:payments:api"
    role = web_role(iam, provider, idp, {"StringEquals": {f"{idp.host_path}:sub": sub,
                                                           f"{idp.host_path}:aud": "sts.amazonaws.com"}})
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(sub=sub))
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": role, "AWS_ROLE_SESSION_NAME": "pod-1",
           "AWS_ENDPOINT_URL_STS": fed.url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in (*env, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")}
    try:
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            os.environ.pop(k, None)
        os.environ.update(env)
        session = boto3.Session()
        ident = session.client("sts").get_caller_identity()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role.split('/')[-1]}/pod-1"


def test_ci_style_flow_response_fields(fed: Server, iam: Any, provider: str, idp: OidcIssuer) -> None:
    repo_sub = "repo:octo-org/octo-repo:ref:refs/heads/main"
    role = web_role(iam, provider, idp, {"StringLike": {f"{idp.host_path}:sub": "repo:octo-org/*"}})
    token = idp.token(key=idp.ec, alg="ES256", sub=repo_sub, **{
        "https://aws.amazon.com/tags": {"principal_tags": {"team": ["ci"]}, "transitive_tag_keys": ["team"]},
        "https://aws.amazon.com/source_identity": "octocat"})
    out = unsigned_sts(fed).assume_role_with_web_identity(RoleArn=role, RoleSessionName="gha-42", WebIdentityToken=token)
    assert out["SubjectFromWebIdentityToken"] == repo_sub
    assert out["Provider"] == idp.url and out["Audience"] == "sts.amazonaws.com"
    assert out["SourceIdentity"] == "octocat"
    assert out["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role.split('/')[-1]}/gha-42")
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA") and "PackedPolicySize" in out


def test_trust_condition_refuses_other_subject(fed: Server, iam: Any, provider: str, idp: OidcIssuer) -> None:
    role = web_role(iam, provider, idp, {"StringEquals": {f"{idp.host_path}:sub": "only-this"}})
    with pytest.raises(ClientError) as exc:
        unsigned_sts(fed).assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                                        WebIdentityToken=idp.token(sub="someone-else"))
    assert err(exc) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)


@pytest.mark.parametrize("case", ["expired", "audience", "signature", "issuer", "garbage"])
def test_token_errors(fed: Server, iam: Any, provider: str, idp: OidcIssuer, case: str) -> None:
    role = web_role(iam, provider, idp)
    other = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
    token = {
        "expired": lambda: idp.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "audience": lambda: idp.token(aud="not-registered"),
        "signature": lambda: idp.token(key=other),
        "issuer": lambda: idp.token(iss="https://127.0.0.1:1/nobody"),
        "garbage": lambda: "not-a-jwt-at-all",
    }[case]()
    with pytest.raises(ClientError) as exc:
        unsigned_sts(fed).assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=token)
    code, message, status = err(exc)
    if case == "expired":
        assert (code, status) == ("ExpiredTokenException", 400) and message.startswith("Token expired")
    else:
        assert (code, status) == ("InvalidIdentityToken", 400)
    if case == "audience":
        assert message == "Incorrect token audience"
    if case == "issuer":
        assert message == "No OpenIDConnect provider found in your account for https://127.0.0.1:1/nobody"


def test_unknown_kid_refresh_is_rate_limited(fed: Server, iam: Any, provider: str, idp: OidcIssuer) -> None:
    role = web_role(iam, provider, idp)
    sts = unsigned_sts(fed)
    sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="warm", WebIdentityToken=idp.token())
    before = idp.hits["jwks"]
    stranger = RSAKey.generate_key(2048, parameters={"kid": f"k-{uuid.uuid4().hex}"}, private=True)
    for _ in range(20):
        with pytest.raises(ClientError):
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=idp.token(key=stranger))
    assert idp.hits["jwks"] - before <= 1


def test_session_carries_federated_provider(fed: Server, iam: Any, provider: str, idp: OidcIssuer) -> None:
    role = web_role(iam, provider, idp)
    name = role.split("/")[-1]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*",
         "Condition": {"StringEquals": {"aws:FederatedProvider": provider}}}]}))
    creds = unsigned_sts(fed).assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                                            WebIdentityToken=idp.token())["Credentials"]
    client = fed.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert client.get_role(RoleName=name)["Role"]["Arn"] == role


# -- AssumeRoleWithSAML -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def saml(iam: Any) -> dict[str, Any]:
    key, cert = saml_idp.keypair()
    arn = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=saml_idp.metadata(cert))["SAMLProviderArn"]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]})
    role = iam.create_role(RoleName="saml-admins", AssumeRolePolicyDocument=doc)["Role"]["Arn"]
    return {"key": key, "cert": cert, "provider": arn, "role": role}


def test_saml_signed_assertion(fed: Server, saml: dict[str, Any]) -> None:
    for sign in ("assertion", "response"):
        assertion, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"],
                                         sign=sign, attributes={"https://aws.amazon.com/SAML/Attributes/PrincipalTag:dept": ["eng"]})
        out = unsigned_sts(fed).assume_role_with_saml(RoleArn=saml["role"], PrincipalArn=saml["provider"],
                                                      SAMLAssertion=assertion, DurationSeconds=900)
        assert out["Subject"] == "alice@example.test" and out["SubjectType"] == "persistent"
        assert out["Issuer"] == saml_idp.ENTITY_ID and out["Audience"] == "https://signin.aws.amazon.com/saml"
        assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/saml-admins/alice"
        import base64
        import hashlib
        assert out["NameQualifier"] == base64.b64encode(hashlib.sha1(
            (saml_idp.ENTITY_ID + ACCOUNT_ID + "/Corp").encode()).digest()).decode()


def test_saml_refusals(fed: Server, saml: dict[str, Any]) -> None:
    sts = unsigned_sts(fed)
    call = lambda a: sts.assume_role_with_saml(RoleArn=saml["role"], PrincipalArn=saml["provider"], SAMLAssertion=a)  # noqa: E731
    good, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"])
    call(good)
    with pytest.raises(ClientError) as exc:  # replay
        call(good)
    assert err(exc)[0] == "InvalidIdentityToken"
    other_key, other_cert = saml_idp.keypair()
    wrong, _ = saml_idp.response(other_key, other_cert, role_arn=saml["role"], provider_arn=saml["provider"])
    expired, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"], ttl=-900)
    unsigned, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"], sign="none")
    for bad, code in ((wrong, "InvalidIdentityToken"), (expired, "ExpiredTokenException"), (unsigned, "InvalidIdentityToken")):
        with pytest.raises(ClientError) as exc:
            call(bad)
        assert err(exc)[0] == code, err(exc)


def test_saml_signature_wrapping(fed: Server, saml: dict[str, Any]) -> None:
    """Wrap a genuinely signed assertion and add an evil unsigned one naming another subject."""
    import base64

    from lxml import etree
    good, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"])
    root = etree.fromstring(base64.b64decode(good))
    ns = "{urn:oasis:names:tc:SAML:2.0:assertion}"
    signed = root.find(f"{ns}Assertion")
    evil = etree.fromstring(etree.tostring(signed))
    evil.remove(evil.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    evil.find(f"{ns}Subject/{ns}NameID").text = "mallory@example.test"
    root.insert(list(root).index(signed), evil)
    with pytest.raises(ClientError) as exc:
        unsigned_sts(fed).assume_role_with_saml(RoleArn=saml["role"], PrincipalArn=saml["provider"],
                                                SAMLAssertion=base64.b64encode(etree.tostring(root)).decode())
    assert err(exc)[0] == "InvalidIdentityToken"


# -- OpenSTS as an OIDC issuer ----------------------------------------------------------------
def test_outbound_token_verifies_from_published_jwks(fed: Server, iam: Any) -> None:
    sts = fed.client()
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=["https://api.example.com"], SigningAlgorithm="RS256")
    assert err(exc)[:1] == ("OutboundWebIdentityFederationDisabledException",) and err(exc)[2] == 403
    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    assert issuer.startswith(fed.url + "/oidc/")
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, True)
    with pytest.raises(ClientError) as exc:
        iam.enable_outbound_web_identity_federation()
    assert err(exc)[0] == "FeatureEnabled"
    for alg in ("RS256", "ES384"):
        out = sts.get_web_identity_token(Audience=["https://api.example.com"], SigningAlgorithm=alg,
                                         DurationSeconds=120, Tags=[{"Key": "job", "Value": "42"}])
        config = httpx.get(issuer + "/.well-known/openid-configuration").json()
        assert config["issuer"] == issuer
        keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
        token = jwt.decode(out["WebIdentityToken"], keys, algorithms=[alg])
        claims = token.claims
        assert claims["iss"] == issuer and claims["aud"] == "https://api.example.com"
        assert claims["sub"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
        assert claims["exp"] - claims["iat"] == 120
        assert claims["https://sts.amazonaws.com/"]["aws_account"] == ACCOUNT_ID
        assert claims["https://sts.amazonaws.com/"]["request_tags"] == {"job": "42"}
    iam.disable_outbound_web_identity_federation()
    with pytest.raises(ClientError) as exc:
        iam.get_outbound_web_identity_federation_info()
    assert err(exc)[0] == "FeatureDisabled"


def test_federated_calls_are_audited_as_aws_records_them(fed: Server, iam: Any, provider: str, idp: OidcIssuer,
                                                         saml: dict[str, Any]) -> None:
    from tests.clients.test_audit import find

    role = web_role(iam, provider, idp, {"StringLike": {f"{idp.host_path}:sub": "system:serviceaccount:*"}})
    token = idp.token(sub="system:serviceaccount:apps:web")
    out = unsigned_sts(fed).assume_role_with_web_identity(RoleArn=role, RoleSessionName="pod-1", WebIdentityToken=token)
    [event] = find(fed, out["ResponseMetadata"]["RequestId"])
    assert event["eventName"] == "AssumeRoleWithWebIdentity"
    assert event["userIdentity"] == {"type": "WebIdentityUser",
                                     "principalId": f"{idp.host_path}:sts.amazonaws.com:system:serviceaccount:apps:web",
                                     "userName": "system:serviceaccount:apps:web", "identityProvider": provider}
    assert "webIdentityToken" not in (event["requestParameters"] or {})
    assert token not in json.dumps(event)
    assertion, _ = saml_idp.response(saml["key"], saml["cert"], role_arn=saml["role"], provider_arn=saml["provider"])
    out = unsigned_sts(fed).assume_role_with_saml(RoleArn=saml["role"], PrincipalArn=saml["provider"],
                                                  SAMLAssertion=assertion, DurationSeconds=900)
    [event] = find(fed, out["ResponseMetadata"]["RequestId"])
    assert event["userIdentity"]["type"] == "SAMLUser" and event["userIdentity"]["userName"] == "alice@example.test"
    assert event["requestParameters"]["sAMLAssertionID"] and "sAMLAssertion" not in event["requestParameters"]
    assert {r["type"] for r in event["resources"]} == {"AWS::IAM::Role", "AWS::IAM::SAMLProvider"}
