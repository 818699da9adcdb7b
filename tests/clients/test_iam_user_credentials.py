"""Users' other credentials with real clients: SSH public keys (OpenSSH, RFC 4716 and PEM forms;
fingerprints checked against ssh-keygen), service-specific credentials (passwords shown once,
stored hashed), and ResyncMFADevice / GetMFADevice with real TOTP codes. AWS's errors and limits,
authorization, cross-account isolation."""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from opensts.service.iam.mfa import hotp
from tests.clients.iam_support import allow, at_rest, aws_cli, client_for, error, new_account, recorded_events, user_client
from tests.clients.iam_support import admin_key, iam, other_iam  # noqa: F401  (fixtures)
from tests.conftest import Server

ACCOUNT = "731500000031"
OTHER = "731500000032"


def openssh(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def rsa_key(bits: int = 2048) -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ssh_keygen_md5(body: str, tmp: Path) -> str:
    path = tmp / "key.pub"
    path.write_text(body + "\n")
    out = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(path)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.split()[1].removeprefix("MD5:")



# -- SSH public keys -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: rsa_key(), lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: ed25519.Ed25519PrivateKey.generate()], ids=["rsa", "ecdsa", "ed25519"])
def test_ssh_key_kinds_and_fingerprints(iam: Any, make: Any, tmp_path: Path) -> None:
    name = f"ssh-{time.monotonic_ns()}"
    iam.create_user(UserName=name)
    body = openssh(make())
    made = iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=body + " laptop")["SSHPublicKey"]
    assert made["SSHPublicKeyId"].startswith("APKA") and made["Status"] == "Active"
    assert made["SSHPublicKeyBody"] == body
    if shutil.which("ssh-keygen"):
        assert made["Fingerprint"] == ssh_keygen_md5(body, tmp_path)
    pem = iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=made["SSHPublicKeyId"], Encoding="PEM")["SSHPublicKey"]
    assert pem["SSHPublicKeyBody"].startswith("-----BEGIN PUBLIC KEY-----")
    assert serialization.load_pem_public_key(pem["SSHPublicKeyBody"].encode()).public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() == body


def test_ssh_key_lifecycle_and_limit(iam: Any) -> None:
    iam.create_user(UserName="git")
    keys = [rsa_key() for _ in range(6)]
    ids = [iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=openssh(k))["SSHPublicKey"]["SSHPublicKeyId"]
           for k in keys[:5]]
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=openssh(keys[5]))
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for PublicKeysPerUser: 5")
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=openssh(keys[0]))
    assert error(exc)[:2] == ("DuplicateSSHPublicKey", 400)
    listed = iam.list_ssh_public_keys(UserName="git", MaxItems=3)
    assert listed["IsTruncated"] and len(listed["SSHPublicKeys"]) == 3
    rest = iam.list_ssh_public_keys(UserName="git", Marker=listed["Marker"])
    assert not rest["IsTruncated"]
    assert sorted(k["SSHPublicKeyId"] for k in listed["SSHPublicKeys"] + rest["SSHPublicKeys"]) == sorted(ids)
    iam.update_ssh_public_key(UserName="git", SSHPublicKeyId=ids[0], Status="Inactive")
    got = iam.get_ssh_public_key(UserName="git", SSHPublicKeyId=ids[0], Encoding="SSH")["SSHPublicKey"]
    assert got["Status"] == "Inactive"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="git")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete SSH public keys first.")
    for key_id in ids:
        iam.delete_ssh_public_key(UserName="git", SSHPublicKeyId=key_id)
    with pytest.raises(ClientError) as exc:
        iam.get_ssh_public_key(UserName="git", SSHPublicKeyId=ids[0], Encoding="SSH")
    assert error(exc) == ("NoSuchEntity", 404, f"The Public Key with id {ids[0]} cannot be found.")
    iam.delete_user(UserName="git")


def _rfc4716(body: str) -> str:
    blob = body.split()[1]
    lines = [blob[i:i + 70] for i in range(0, len(blob), 70)]
    return "\n".join(["---- BEGIN SSH2 PUBLIC KEY ----", 'Comment: "work laptop"', *lines, "---- END SSH2 PUBLIC KEY ----"])


def test_ssh_key_forms_and_errors(iam: Any) -> None:
    iam.create_user(UserName="forms")
    key = rsa_key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    made = iam.upload_ssh_public_key(UserName="forms", SSHPublicKeyBody=pem.decode())["SSHPublicKey"]
    assert made["SSHPublicKeyBody"] == openssh(key)
    other = rsa_key()
    made = iam.upload_ssh_public_key(UserName="forms", SSHPublicKeyBody=_rfc4716(openssh(other)))["SSHPublicKey"]
    assert made["SSHPublicKeyBody"] == openssh(other)
    bad = [
        ("hello world", "UnrecognizedPublicKeyEncoding"),
        ("ssh-rsa !!!notbase64", "InvalidPublicKey"),
        ("ssh-rsa " + base64.b64encode(b"\x00\x00\x00\x07ssh-rsa\x00").decode(), "InvalidPublicKey"),
        (openssh(rsa_key(1024)), "InvalidPublicKey"),  # shorter than 2048 bits
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "InvalidPublicKey"),
    ]
    for body, code in bad:
        with pytest.raises(ClientError) as exc:
            iam.upload_ssh_public_key(UserName="forms", SSHPublicKeyBody=body)
        assert error(exc)[:2] == (code, 400), body


def test_ssh_keys_need_permission_and_stay_in_their_account(server: Server, iam: Any, other_iam: Any) -> None:
    iam.create_user(UserName="sshuser")
    key_id = iam.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody=openssh(rsa_key()))[
        "SSHPublicKey"]["SSHPublicKeyId"]
    with pytest.raises(ClientError) as exc:
        other_iam.get_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id, Encoding="SSH")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    other_iam.create_user(UserName="sshuser")
    with pytest.raises(ClientError) as exc:  # a key id of another account's user is no key of this one
        other_iam.delete_ssh_public_key(UserName="sshuser", SSHPublicKeyId=key_id)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    nobody = user_client(server, iam, "ssh-nobody")
    with pytest.raises(ClientError) as exc:
        nobody.list_ssh_public_keys(UserName="sshuser")
    assert error(exc)[:2] == ("AccessDenied", 403)
    selfish = user_client(server, iam, "ssh-self", allow("iam:UploadSSHPublicKey", "iam:ListSSHPublicKeys",
                                                         resource=f"arn:aws:iam::{ACCOUNT}:user/ssh-self"))
    selfish.upload_ssh_public_key(UserName="ssh-self", SSHPublicKeyBody=openssh(rsa_key()))
    assert len(selfish.list_ssh_public_keys()["SSHPublicKeys"]) == 1  # UserName left out: the caller
    with pytest.raises(ClientError) as exc:
        selfish.upload_ssh_public_key(UserName="sshuser", SSHPublicKeyBody=openssh(rsa_key()))
    assert error(exc)[:2] == ("AccessDenied", 403)


# -- service-specific credentials --------------------------------------------------------------------
def test_service_specific_credentials(server: Server, iam: Any) -> None:
    iam.create_user(UserName="coder")
    made = iam.create_service_specific_credential(UserName="coder", ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"]
    assert made["ServiceUserName"] == f"coder-at-{ACCOUNT}" and made["Status"] == "Active"
    assert made["ServiceSpecificCredentialId"].startswith("ACCA") and len(made["ServicePassword"]) >= 40
    second = iam.create_service_specific_credential(UserName="coder", ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"]
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="coder", ServiceName="codecommit.amazonaws.com")
    assert error(exc) == ("LimitExceeded", 409,
                          "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: 2")
    keyspaces = iam.create_service_specific_credential(UserName="coder", ServiceName="cassandra.amazonaws.com")[
        "ServiceSpecificCredential"]  # the limit is per service
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="coder", ServiceName="s3.amazonaws.com")
    assert error(exc)[:2] == ("NotSupportedService", 404)

    listed = iam.list_service_specific_credentials(UserName="coder")["ServiceSpecificCredentials"]
    assert {c["ServiceSpecificCredentialId"] for c in listed} == {
        made["ServiceSpecificCredentialId"], second["ServiceSpecificCredentialId"],
        keyspaces["ServiceSpecificCredentialId"]}
    assert all("ServicePassword" not in c for c in listed)  # shown once, never listed
    only = iam.list_service_specific_credentials(UserName="coder", ServiceName="cassandra.amazonaws.com")
    assert [c["ServiceName"] for c in only["ServiceSpecificCredentials"]] == ["cassandra.amazonaws.com"]
    iam.create_user(UserName="coder2")
    iam.create_service_specific_credential(UserName="coder2", ServiceName="codecommit.amazonaws.com")
    everyone = iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    assert {c["UserName"] for c in everyone} >= {"coder", "coder2"}

    reset = iam.reset_service_specific_credential(UserName="coder", ServiceSpecificCredentialId=made[
        "ServiceSpecificCredentialId"])["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != made["ServicePassword"]
    iam.update_service_specific_credential(UserName="coder", ServiceSpecificCredentialId=made[
        "ServiceSpecificCredentialId"], Status="Inactive")
    statuses = {c["ServiceSpecificCredentialId"]: c["Status"]
                for c in iam.list_service_specific_credentials(UserName="coder")["ServiceSpecificCredentials"]}
    assert statuses[made["ServiceSpecificCredentialId"]] == "Inactive"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="coder")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete service specific credentials first.")
    for cred in listed:
        iam.delete_service_specific_credential(UserName="coder", ServiceSpecificCredentialId=cred[
            "ServiceSpecificCredentialId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_service_specific_credential(UserName="coder", ServiceSpecificCredentialId=made[
            "ServiceSpecificCredentialId"])
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="coder")

    for blob in at_rest(server):  # the passwords were shown once and are stored only as hashes
        assert made["ServicePassword"].encode() not in blob and reset["ServicePassword"].encode() not in blob
    for record in recorded_events(server, "CreateServiceSpecificCredential"):
        assert "servicePassword" not in str(record.get("responseElements"))


def test_bedrock_api_key_expires(iam: Any) -> None:
    iam.create_user(UserName="bedrock-user")
    cred = iam.create_service_specific_credential(UserName="bedrock-user", ServiceName="bedrock.amazonaws.com",
                                                  CredentialAgeDays=30)["ServiceSpecificCredential"]
    assert cred["ServiceCredentialSecret"] and cred["ServiceCredentialAlias"]
    assert 29 * 86400 < (cred["ExpirationDate"] - cred["CreateDate"]).total_seconds() <= 30 * 86400 + 5


def test_service_credentials_need_permission(server: Server, iam: Any, other_iam: Any) -> None:
    iam.create_user(UserName="cc-target")
    nobody = user_client(server, iam, "cc-nobody")
    with pytest.raises(ClientError) as exc:
        nobody.create_service_specific_credential(UserName="cc-target", ServiceName="codecommit.amazonaws.com")
    assert error(exc)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        other_iam.create_service_specific_credential(UserName="cc-target", ServiceName="codecommit.amazonaws.com")
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_service_credential_limit_under_concurrency(iam: Any) -> None:
    iam.create_user(UserName="cc-racer")
    barrier, outcomes = threading.Barrier(6), []

    def create() -> None:
        barrier.wait()
        try:
            iam.create_service_specific_credential(UserName="cc-racer", ServiceName="codecommit.amazonaws.com")
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=create) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(outcomes) == ["LimitExceeded"] * 4 + ["ok"] * 2


# -- MFA: resync and get --------------------------------------------------------------------------------
def _enabled_device(iam: Any, user: str) -> tuple[str, str]:
    iam.create_user(UserName=user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode() if isinstance(device["Base32StringSeed"], bytes) else device["Base32StringSeed"]
    step = int(time.time()) // 30
    iam.enable_mfa_device(UserName=user, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=hotp(seed, step - 1), AuthenticationCode2=hotp(seed, step))
    return device["SerialNumber"], seed


def test_resync_and_get_mfa_device(iam: Any, other_iam: Any) -> None:
    serial, seed = _enabled_device(iam, "mfa-user")
    got = iam.get_mfa_device(SerialNumber=serial, UserName="mfa-user")
    assert (got["SerialNumber"], got["UserName"]) == (serial, "mfa-user")
    assert got["EnableDate"] and "Certifications" not in got  # a virtual device has none
    drifted = int(time.time()) // 30 + 8  # a device whose clock runs four minutes fast
    with pytest.raises(ClientError) as exc:  # two codes that do not follow each other
        iam.resync_mfa_device(UserName="mfa-user", SerialNumber=serial, AuthenticationCode1=hotp(seed, drifted),
                              AuthenticationCode2=hotp(seed, drifted + 2))
    assert error(exc) == ("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    iam.resync_mfa_device(UserName="mfa-user", SerialNumber=serial, AuthenticationCode1=hotp(seed, drifted),
                          AuthenticationCode2=hotp(seed, drifted + 1))
    with pytest.raises(ClientError) as exc:  # codes are consumed: the same pair cannot be replayed
        iam.resync_mfa_device(UserName="mfa-user", SerialNumber=serial, AuthenticationCode1=hotp(seed, drifted),
                              AuthenticationCode2=hotp(seed, drifted + 1))
    assert error(exc)[:2] == ("InvalidAuthenticationCode", 403)
    with pytest.raises(ClientError) as exc:
        other_iam.get_mfa_device(SerialNumber=serial)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.create_user(UserName="mfa-other")
    with pytest.raises(ClientError) as exc:  # not that user's device
        iam.get_mfa_device(SerialNumber=serial, UserName="mfa-other")
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_aws_cli_user_credentials(server: Server, admin_key: dict[str, str], iam: Any) -> None:
    iam.create_user(UserName="cli-creds")
    body = openssh(rsa_key())
    made = aws_cli(server, admin_key, "upload-ssh-public-key", "--user-name", "cli-creds", "--ssh-public-key-body", body)
    key_id = made["SSHPublicKey"]["SSHPublicKeyId"]
    listed = aws_cli(server, admin_key, "list-ssh-public-keys", "--user-name", "cli-creds")["SSHPublicKeys"]
    assert [k["SSHPublicKeyId"] for k in listed] == [key_id]
    cred = aws_cli(server, admin_key, "create-service-specific-credential", "--user-name", "cli-creds",
                   "--service-name", "codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert cred["ServiceUserName"] == f"cli-creds-at-{ACCOUNT}"
    failed = aws_cli(server, admin_key, "upload-ssh-public-key", "--user-name", "cli-creds",
                     "--ssh-public-key-body", "nonsense", check=False)
    assert failed.returncode != 0 and "UnrecognizedPublicKeyEncoding" in failed.stderr
