"""Signing and server certificates with real clients (boto3 and the AWS CLI): PEMs parsed as AWS
does (MalformedCertificate, KeyPairMismatch, InvalidCertificate, DuplicateCertificate), AWS's limits
(also under concurrency), authorization, cross-account isolation, and no private key anywhere the
server writes. Certificates are made with trustme and cryptography."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
import trustme
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.clients.iam_support import allow, at_rest, aws_cli, client_for, error, new_account, recorded_events, user_client
from tests.clients.iam_support import admin_key, iam, other_iam  # noqa: F401  (fixtures)
from tests.conftest import Server

ACCOUNT = "731500000021"
OTHER = "731500000022"
CA = trustme.CA()


def leaf(name: str = "example.test") -> tuple[str, str, str]:
    """(certificate PEM, private key PEM, chain PEM) of a fresh certificate issued by CA."""
    issued = CA.issue_cert(name)
    return (issued.cert_chain_pems[0].bytes().decode(), issued.private_key_pem.bytes().decode(),
            CA.cert_pem.bytes().decode())


def self_signed(days: tuple[int, int] = (-1, 30)) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signing")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1])).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()



# -- signing certificates ------------------------------------------------------------------------------
def test_signing_certificates(iam: Any) -> None:
    iam.create_user(UserName="signer")
    body = self_signed()
    made = iam.upload_signing_certificate(UserName="signer", CertificateBody=body)["Certificate"]
    assert (made["UserName"], made["Status"], made["CertificateBody"]) == ("signer", "Active", body.strip())
    assert len(made["CertificateId"]) >= 24
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=body)
    assert error(exc)[:2] == ("DuplicateCertificate", 409)
    iam.upload_signing_certificate(UserName="signer", CertificateBody=self_signed())
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=self_signed())
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for CertificatesPerUser: 2")
    listed = iam.list_signing_certificates(UserName="signer")["Certificates"]
    assert made["CertificateId"] in [c["CertificateId"] for c in listed] and len(listed) == 2
    iam.update_signing_certificate(UserName="signer", CertificateId=made["CertificateId"], Status="Inactive")
    statuses = {c["CertificateId"]: c["Status"] for c in iam.list_signing_certificates(UserName="signer")["Certificates"]}
    assert statuses[made["CertificateId"]] == "Inactive"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="signer")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete signing certificates first.")
    for cert in listed:
        iam.delete_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_signing_certificate(UserName="signer", CertificateId=made["CertificateId"])
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="signer")


@pytest.mark.parametrize("body,code", [
    ("not a certificate", "MalformedCertificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "MalformedCertificate"),
    (self_signed() + self_signed(), "MalformedCertificate"),  # two certificates are not one
    (self_signed(days=(-30, -1)), "InvalidCertificate"),  # expired
    (self_signed(days=(1, 30)), "InvalidCertificate"),  # not yet valid
])
def test_signing_certificate_input_errors(iam: Any, body: str, code: str) -> None:
    try:
        iam.create_user(UserName="bad-signer")
    except ClientError:
        pass
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="bad-signer", CertificateBody=body)
    assert error(exc)[:2] == (code, 400)


def test_signing_certificate_limit_under_concurrency(iam: Any) -> None:
    iam.create_user(UserName="racer")
    bodies = [self_signed() for _ in range(6)]
    barrier, outcomes = threading.Barrier(len(bodies)), []

    def upload(body: str) -> None:
        barrier.wait()
        try:
            iam.upload_signing_certificate(UserName="racer", CertificateBody=body)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=upload, args=(b,)) for b in bodies]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes) == ["LimitExceeded"] * 4 + ["ok"] * 2
    assert len(iam.list_signing_certificates(UserName="racer")["Certificates"]) == 2


# -- server certificates ----------------------------------------------------------------------------------
def test_server_certificate_lifecycle(iam: Any) -> None:
    body, key, chain = leaf("www.example.test")
    made = iam.upload_server_certificate(ServerCertificateName="www", Path="/cloudfront/", CertificateBody=body,
                                         PrivateKey=key, CertificateChain=chain,
                                         Tags=[{"Key": "team", "Value": "web"}])
    meta = made["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/cloudfront/www"
    assert meta["ServerCertificateId"].startswith("ASCA")
    expected = x509.load_pem_x509_certificate(body.encode()).not_valid_after_utc
    assert meta["Expiration"] == expected
    assert made["Tags"] == [{"Key": "team", "Value": "web"}]
    got = iam.get_server_certificate(ServerCertificateName="WWW")["ServerCertificate"]
    assert got["CertificateBody"] == body.strip() and got["CertificateChain"] == chain.strip()
    assert "PrivateKey" not in got and got["Tags"] == [{"Key": "team", "Value": "web"}]
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="www", CertificateBody=body, PrivateKey=key)
    assert error(exc) == ("EntityAlreadyExists", 409, "The Server Certificate with name www already exists.")
    listed = iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]
    assert [c["ServerCertificateName"] for c in listed] == ["www"]
    iam.update_server_certificate(ServerCertificateName="www", NewServerCertificateName="www2", NewPath="/elb/")
    moved = iam.get_server_certificate(ServerCertificateName="www2")["ServerCertificate"]["ServerCertificateMetadata"]
    assert (moved["Path"], moved["ServerCertificateId"]) == ("/elb/", meta["ServerCertificateId"])
    assert iam.list_server_certificate_tags(ServerCertificateName="www2")["Tags"] == [{"Key": "team", "Value": "web"}]
    iam.tag_server_certificate(ServerCertificateName="www2", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    with pytest.raises(ClientError) as exc:
        iam.tag_server_certificate(ServerCertificateName="www2", Tags=[{"Key": "fifty-one", "Value": "v"}])
    assert error(exc) == ("LimitExceeded", 409, "The number of tags has reached the maximum limit.")
    iam.untag_server_certificate(ServerCertificateName="www2", TagKeys=[f"k{i}" for i in range(49)])
    with pytest.raises(ClientError) as exc:
        iam.get_server_certificate(ServerCertificateName="www")
    assert error(exc) == ("NoSuchEntity", 404, "The Server Certificate with name www cannot be found.")
    iam.delete_server_certificate(ServerCertificateName="www2")
    with pytest.raises(ClientError) as exc:
        iam.delete_server_certificate(ServerCertificateName="www2")
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_server_certificate_input_errors(iam: Any) -> None:
    body, key, _ = leaf()
    _, other_key, _ = leaf()
    cases = [
        ({"CertificateBody": "garbage", "PrivateKey": key}, "MalformedCertificate"),
        ({"CertificateBody": body, "PrivateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
         "MalformedCertificate"),
        ({"CertificateBody": body, "PrivateKey": other_key}, "KeyPairMismatch"),
        ({"CertificateBody": body, "PrivateKey": key, "CertificateChain": "not a chain"}, "MalformedCertificate"),
    ]
    for i, (params, code) in enumerate(cases):
        with pytest.raises(ClientError) as exc:
            iam.upload_server_certificate(ServerCertificateName=f"bad{i}", **params)
        assert error(exc)[:2] == (code, 400), params.keys()
        assert "PRIVATE KEY" not in error(exc)[2]
    assert not [c for c in iam.list_server_certificates()["ServerCertificateMetadataList"]
                if c["ServerCertificateName"].startswith("bad")]


def test_twenty_server_certificates_per_account(server: Server, other_iam: Any) -> None:
    """The quota holds when many uploads race (the account's row lock)."""
    pems = [leaf() for _ in range(24)]
    barrier, outcomes = threading.Barrier(len(pems)), []

    def upload(i: int) -> None:
        body, key, _ = pems[i]
        barrier.wait()
        try:
            other_iam.upload_server_certificate(ServerCertificateName=f"c{i}", CertificateBody=body, PrivateKey=key)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(error_code(exc))

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(pems))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(outcomes) == ["LimitExceeded"] * 4 + ["ok"] * 20
    summary = other_iam.get_account_summary()["SummaryMap"]
    assert (summary["ServerCertificates"], summary["ServerCertificatesQuota"]) == (20, 20)
    body, key, _ = leaf()
    with pytest.raises(ClientError) as exc:
        other_iam.upload_server_certificate(ServerCertificateName="one-more", CertificateBody=body, PrivateKey=key)
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for ServerCertificatesPerAccount: 20")


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_certificates_need_permission_and_stay_in_their_account(server: Server, iam: Any, other_iam: Any) -> None:
    body, key, _ = leaf()
    iam.upload_server_certificate(ServerCertificateName="mine", CertificateBody=body, PrivateKey=key)
    with pytest.raises(ClientError) as exc:
        other_iam.get_server_certificate(ServerCertificateName="mine")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    nobody = user_client(server, iam, "cert-nobody")
    with pytest.raises(ClientError) as exc:
        nobody.get_server_certificate(ServerCertificateName="mine")
    assert error(exc)[:2] == ("AccessDenied", 403)
    assert f"arn:aws:iam::{ACCOUNT}:server-certificate/mine" in error(exc)[2]
    with pytest.raises(ClientError) as exc:
        nobody.upload_signing_certificate(CertificateBody=self_signed())  # its own: still needs permission
    assert error(exc)[:2] == ("AccessDenied", 403)
    reader = user_client(server, iam, "cert-reader", allow("iam:ListServerCertificates"))
    assert "mine" in [c["ServerCertificateName"] for c in reader.list_server_certificates()["ServerCertificateMetadataList"]]


def test_no_private_key_at_rest_or_in_the_trail(server: Server, iam: Any) -> None:
    body, key, _ = leaf("secret-key.example.test")
    iam.upload_server_certificate(ServerCertificateName="sealed", CertificateBody=body, PrivateKey=key)
    marker = key.strip().splitlines()[1].encode()  # the first line of the key's base64
    for blob in at_rest(server):
        assert marker not in blob
    events = recorded_events(server, "UploadServerCertificate")
    assert events and all("privateKey" not in (e.get("requestParameters") or {}) for e in events)


def test_aws_cli_certificates(server: Server, admin_key: dict[str, str], tmp_path: Any) -> None:
    body, key, _ = leaf()
    (tmp_path / "cert.pem").write_text(body)
    (tmp_path / "key.pem").write_text(key)
    made = aws_cli(server, admin_key, "upload-server-certificate", "--server-certificate-name", "cli-cert",
                   "--certificate-body", f"file://{tmp_path / 'cert.pem'}", "--private-key",
                   f"file://{tmp_path / 'key.pem'}")
    assert made["ServerCertificateMetadata"]["ServerCertificateName"] == "cli-cert"
    listed = aws_cli(server, admin_key, "list-server-certificates")["ServerCertificateMetadataList"]
    assert "cli-cert" in [c["ServerCertificateName"] for c in listed]
    (tmp_path / "bad.pem").write_text("nonsense")
    failed = aws_cli(server, admin_key, "upload-signing-certificate", "--certificate-body",
                     f"file://{tmp_path / 'bad.pem'}", check=False)
    assert failed.returncode != 0 and "MalformedCertificate" in failed.stderr
    aws_cli(server, admin_key, "delete-server-certificate", "--server-certificate-name", "cli-cert")
