"""SSH public keys of IAM users (for CodeCommit): upload in OpenSSH, RFC 4716 or PEM form, read
back in SSH or PEM encoding, MD5 fingerprint as AWS shows it, at most 5 per user."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, page, utc
from opensts.service.identifiers import new_unique_id
from opensts.store.repository import LimitReached, ParentGone, StaleState, UserRecord

__all__ = ["SshKeyActions", "parse_public_key", "SSH_KEYS_PER_USER", "UnrecognizedEncoding", "InvalidKey"]

SSH_KEYS_PER_USER = 5
MIN_RSA_BITS = 2048


class UnrecognizedEncoding(ValueError):
    """Neither OpenSSH, RFC 4716 nor PEM."""


class InvalidKey(ValueError):
    """Decodable, but not an acceptable key (unsupported type, RSA shorter than 2048 bits)."""


def _from_rfc4716(text: str) -> bytes:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    body, continued = [], False
    for line in lines[1:-1]:
        if continued or (":" in line and not body):
            continued = line.endswith("\\")
            continue
        body.append(line)
    return base64.b64decode("".join(body), validate=True)


def parse_public_key(text: str) -> Any:
    """The key of an upload (a ``cryptography`` public key object)."""
    stripped = text.strip()
    try:
        if stripped.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
            blob = _from_rfc4716(stripped)
            key_type = blob[4:4 + int.from_bytes(blob[:4], "big")].decode("ascii")
            key = serialization.load_ssh_public_key(f"{key_type} {base64.b64encode(blob).decode()}".encode())
        elif stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(stripped.encode("latin-1"))
        elif stripped.startswith(("ssh-", "ecdsa-")):
            key = serialization.load_ssh_public_key(stripped.encode("latin-1"))
        else:
            raise UnrecognizedEncoding()
    except UnrecognizedEncoding:
        raise
    except Exception:  # noqa: BLE001 - any parse failure (ValueError, UnsupportedAlgorithm …): not a key we take
        raise InvalidKey() from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidKey()
    elif not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise InvalidKey()
    return key


def ssh_form(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


def pem_form(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(key: Any) -> str:
    """MD5 of the key's SSH wire blob, colon-separated hex (``ssh-keygen -l -E md5``)."""
    blob = base64.b64decode(ssh_form(key).split()[1])
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())


class SshKeyActions(IamBase):
    def _key_result(self, user: UserRecord, row: Any, encoding: str = "SSH") -> Result:
        key = serialization.load_ssh_public_key(row.body.encode("ascii"))
        return {
            "UserName": user.name, "SSHPublicKeyId": row.id, "Fingerprint": row.fingerprint,
            "SSHPublicKeyBody": pem_form(key) if encoding == "PEM" else row.body,
            "Status": row.status, "UploadDate": utc(row.uploaded_at),
        }

    def _no_key(self, key_id: str) -> Exception:
        return self.no_such(f"The Public Key with id {key_id} cannot be found.")

    @action("UploadSSHPublicKey")
    def upload_ssh_public_key(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "UploadSSHPublicKey")
        try:
            key = parse_public_key(params["SSHPublicKeyBody"])
        except UnrecognizedEncoding:
            raise self.err("UnrecognizedPublicKeyEncoding", "The public key encoding is not recognized.") from None
        except InvalidKey:
            raise self.err("InvalidPublicKey", "The SSH public key is invalid: it must be an RSA key of at least "
                                               f"{MIN_RSA_BITS} bits, or an ECDSA or Ed25519 key.") from None
        body, print_ = ssh_form(key), fingerprint(key)
        key_id = new_unique_id("APKA")
        try:
            uploaded = self.repo.add_ssh_public_key(key_id, user.id, body, print_, SSH_KEYS_PER_USER)
        except StaleState:
            raise self.err("DuplicateSSHPublicKey",
                           "The SSH public key is already associated with the specified IAM user.") from None
        except LimitReached:
            raise self.err("LimitExceeded", f"Cannot exceed quota for PublicKeysPerUser: {SSH_KEYS_PER_USER}") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user.name} cannot be found.") from None
        self.written()
        return {"SSHPublicKey": {"UserName": user.name, "SSHPublicKeyId": key_id, "Fingerprint": print_,
                                 "SSHPublicKeyBody": body, "Status": "Active", "UploadDate": utc(uploaded)}}

    @action("GetSSHPublicKey")
    def get_ssh_public_key(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "GetSSHPublicKey")
        row = self.repo.get_ssh_public_key(user.id, params["SSHPublicKeyId"])
        if row is None:
            raise self._no_key(params["SSHPublicKeyId"])
        return {"SSHPublicKey": self._key_result(user, row, params["Encoding"])}

    @action("ListSSHPublicKeys")
    def list_ssh_public_keys(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ListSSHPublicKeys")
        chunk, extra = page(self.repo.list_ssh_public_keys(user.id), params)
        return {
            "SSHPublicKeys": [{"UserName": user.name, "SSHPublicKeyId": r.id, "Status": r.status,
                               "UploadDate": utc(r.uploaded_at)} for r in chunk],
            **extra,
        }

    @action("UpdateSSHPublicKey")
    def update_ssh_public_key(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "UpdateSSHPublicKey")
        if not self.repo.set_ssh_public_key_status(user.id, params["SSHPublicKeyId"], params["Status"]):
            raise self._no_key(params["SSHPublicKeyId"])
        self.written()
        return {}

    @action("DeleteSSHPublicKey")
    def delete_ssh_public_key(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteSSHPublicKey")
        if not self.repo.delete_ssh_public_key(user.id, params["SSHPublicKeyId"]):
            raise self._no_key(params["SSHPublicKeyId"])
        self.written()
        return {}
