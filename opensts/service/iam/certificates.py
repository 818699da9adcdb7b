"""X.509 certificates in IAM: users' signing certificates (2 per user) and the account's server
certificates (20 per account, with their private key, sealed under the master key and never
returned). Every PEM is parsed with ``cryptography``: what does not parse is MalformedCertificate;
a server certificate's key must be the certificate's (KeyPairMismatch)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from opensts.fastrand import base32_upper
from opensts.service.context import RequestInfo
from opensts.service.iam._base import MAX_TAGS, IamBase, Params, Result, action, page, tag_list, tag_map, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.instance_profiles import tag_condition_keys
from opensts.service.iam.tags import check_new_tags
from opensts.service.identifiers import new_unique_id
from opensts.store.credentials_repository import ServerCertificateRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone, StaleState

__all__ = ["CertificateActions", "SIGNING_CERTIFICATES_PER_USER", "SERVER_CERTIFICATES_PER_ACCOUNT", "parse_certificate"]

SIGNING_CERTIFICATES_PER_USER = 2
SERVER_CERTIFICATES_PER_ACCOUNT = 20
_MALFORMED = "Unable to parse certificate. Please ensure the certificate is in PEM format."
_TOO_MANY_TAGS = "The number of tags has reached the maximum limit."


class Malformed(ValueError):
    pass


def parse_certificate(text: str) -> x509.Certificate:
    """Exactly one PEM certificate (Malformed otherwise)."""
    data = text.strip().encode("latin-1")
    if data.count(b"-----BEGIN CERTIFICATE-----") != 1:
        raise Malformed()
    try:
        return x509.load_pem_x509_certificate(data)
    except Exception:  # noqa: BLE001 - any parse failure of caller input is a malformed certificate
        raise Malformed() from None


def parse_chain(text: str) -> list[x509.Certificate]:
    data = text.strip().encode("latin-1")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except Exception:  # noqa: BLE001
        raise Malformed() from None
    if not certs or len(certs) != data.count(b"-----BEGIN CERTIFICATE-----"):
        raise Malformed()
    return certs


def _der_digest(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _epoch(value: datetime) -> int:
    return int(value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp())


class CertificateActions(IamBase):
    # -- signing certificates ---------------------------------------------------------------
    def _cert_owner(self, info: RequestInfo, params: Params, action_name: str) -> tuple[str | None, str]:
        """(user id or None for the root user, user name) whose certificates an action is about."""
        caller = self.caller(info)
        if "UserName" not in params and caller.type == "Root":
            self.authorize(info, action_name, caller.arn)
            return None, "root"
        user = self.authorized_user(info, params, action_name)
        return user.id, user.name

    def _no_cert(self, cert_id: str) -> Exception:
        return self.no_such(f"The Certificate with id {cert_id} cannot be found.")

    @action("UploadSigningCertificate")
    def upload_signing_certificate(self, info: RequestInfo, params: Params) -> Result:
        user_id, user_name = self._cert_owner(info, params, "UploadSigningCertificate")
        body = params["CertificateBody"]
        try:
            cert = parse_certificate(body)
        except Malformed:
            raise self.err("MalformedCertificate", _MALFORMED) from None
        now = datetime.now(timezone.utc)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise self.err("InvalidCertificate", "The certificate is not valid at this time (expired or not yet valid).")
        cert_id = base32_upper(32)
        try:
            uploaded = self.repo.add_signing_certificate(cert_id, self.caller(info).account_id, user_id, body.strip(),
                                                         _der_digest(cert), SIGNING_CERTIFICATES_PER_USER)
        except StaleState:
            raise self.err("DuplicateCertificate", "The request was rejected because the same certificate is "
                                                   "associated with an IAM user in the account.") from None
        except LimitReached:
            raise self.err("LimitExceeded", "Cannot exceed quota for CertificatesPerUser: "
                                            f"{SIGNING_CERTIFICATES_PER_USER}") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user_name} cannot be found.") from None
        self.written()
        return {"Certificate": {"UserName": user_name, "CertificateId": cert_id, "CertificateBody": body.strip(),
                                "Status": "Active", "UploadDate": utc(uploaded)}}

    @action("ListSigningCertificates")
    def list_signing_certificates(self, info: RequestInfo, params: Params) -> Result:
        user_id, user_name = self._cert_owner(info, params, "ListSigningCertificates")
        rows = self.repo.list_signing_certificates(self.caller(info).account_id, user_id)
        chunk, extra = page(rows, params)
        return {
            "Certificates": [{"UserName": user_name, "CertificateId": r.id, "CertificateBody": r.body,
                              "Status": r.status, "UploadDate": utc(r.uploaded_at)} for r in chunk],
            **extra,
        }

    @action("UpdateSigningCertificate")
    def update_signing_certificate(self, info: RequestInfo, params: Params) -> Result:
        user_id, _ = self._cert_owner(info, params, "UpdateSigningCertificate")
        if not self.repo.set_signing_certificate_status(self.caller(info).account_id, user_id,
                                                        params["CertificateId"], params["Status"]):
            raise self._no_cert(params["CertificateId"])
        self.written()
        return {}

    @action("DeleteSigningCertificate")
    def delete_signing_certificate(self, info: RequestInfo, params: Params) -> Result:
        user_id, _ = self._cert_owner(info, params, "DeleteSigningCertificate")
        if not self.repo.delete_signing_certificate(self.caller(info).account_id, user_id, params["CertificateId"]):
            raise self._no_cert(params["CertificateId"])
        self.written()
        return {}

    # -- server certificates ----------------------------------------------------------------
    def server_certificate_arn(self, info: RequestInfo, cert: ServerCertificateRecord) -> str:
        return self.arn(info, f"server-certificate{cert.path}{cert.name}")

    def _authorized_server_cert(self, info: RequestInfo, params: Params, action_name: str) -> ServerCertificateRecord:
        name = params["ServerCertificateName"]
        cert = self.repo.get_server_certificate(self.caller(info).account_id, name)
        resource = self.server_certificate_arn(info, cert) if cert else self.arn(info, f"server-certificate/{name}")
        keys = tag_condition_keys(params.get("Tags"), params.get("TagKeys"),
                                  self.repo.get_tags("servcert", cert.id) if cert else None)
        self.authorizer.authorize(info, f"iam:{action_name}", resource, keys)
        if cert is None:
            raise self.no_such(f"The Server Certificate with name {name} cannot be found.")
        return cert

    def _metadata(self, info: RequestInfo, cert: ServerCertificateRecord) -> Result:
        return {
            "Path": cert.path, "ServerCertificateName": cert.name, "ServerCertificateId": cert.id,
            "Arn": self.server_certificate_arn(info, cert), "UploadDate": utc(cert.uploaded_at),
            "Expiration": utc(cert.expiration),
        }

    @action("UploadServerCertificate")
    def upload_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["ServerCertificateName"], params.get("Path", "/")
        self.authorizer.authorize(info, "iam:UploadServerCertificate", self.arn(info, f"server-certificate{path}{name}"),
                                  tag_condition_keys(params.get("Tags")))
        check_new_tags(self, params.get("Tags"), {})
        try:
            cert = parse_certificate(params["CertificateBody"])
        except Malformed:
            raise self.err("MalformedCertificate", _MALFORMED) from None
        key = self._private_key(params["PrivateKey"])
        if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
                cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise self.err("KeyPairMismatch", "Unable to validate certificate: the private key does not match the "
                                              "public key in the certificate.")
        chain = params.get("CertificateChain")
        if chain is not None:
            try:
                parse_chain(chain)
            except Malformed:
                raise self.err("MalformedCertificate", "Unable to parse certificate chain. Please ensure the "
                                                       "certificate chain is in PEM format.") from None
        try:
            record = self.repo.add_server_certificate(
                new_unique_id("ASCA"), self.caller(info).account_id, name, path, params["CertificateBody"].strip(),
                chain.strip() if chain else None, params["PrivateKey"], _epoch(cert.not_valid_after_utc),
                tag_map(params.get("Tags")), SERVER_CERTIFICATES_PER_ACCOUNT,
            )
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"The Server Certificate with name {name} already exists.") from None
        except LimitReached:
            raise self.err("LimitExceeded", "Cannot exceed quota for ServerCertificatesPerAccount: "
                                            f"{SERVER_CERTIFICATES_PER_ACCOUNT}") from None
        self.written()
        out: Result = {"ServerCertificateMetadata": self._metadata(info, record)}
        if params.get("Tags"):
            out["Tags"] = tag_list(tag_map(params["Tags"]))
        return out

    def _private_key(self, text: str) -> Any:
        try:
            return serialization.load_pem_private_key(text.strip().encode("latin-1"), password=None)
        except Exception:  # noqa: BLE001 - never echo the key or the parser's view of it
            raise self.err("MalformedCertificate", "Unable to parse private key. Please ensure the private key "
                                                   "is an unencrypted PEM key.") from None

    @action("GetServerCertificate")
    def get_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "GetServerCertificate")
        out: Result = {"ServerCertificateMetadata": self._metadata(info, cert), "CertificateBody": cert.body}
        if cert.chain:
            out["CertificateChain"] = cert.chain
        tags = self.repo.get_tags("servcert", cert.id)
        if tags:
            out["Tags"] = tag_list(tags)
        return {"ServerCertificate": out}

    @action("ListServerCertificates")
    def list_server_certificates(self, info: RequestInfo, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        self.authorize(info, "ListServerCertificates", self.arn(info, "server-certificate" + prefix))
        account = self.caller(info).account_id
        chunk, extra = keyset_page(params, "server-certificates", [Source(
            lambda key, limit: self.repo.server_certificates_page(account, prefix, key, limit),
            lambda c: (c.name.lower(),))])
        return {"ServerCertificateMetadataList": [self._metadata(info, c) for c in chunk], **extra}

    @action("UpdateServerCertificate")
    def update_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "UpdateServerCertificate")
        new_name, new_path = params.get("NewServerCertificateName", cert.name), params.get("NewPath", cert.path)
        # Renaming or moving needs the permission on the new ARN too (as UpdateUser's rename does).
        self.authorize(info, "UpdateServerCertificate", self.arn(info, f"server-certificate{new_path}{new_name}"))
        if new_name.lower() != cert.name.lower() and \
                self.repo.get_server_certificate(cert.account_id, new_name) is not None:
            raise self.err("EntityAlreadyExists", f"The Server Certificate with name {new_name} already exists.")
        try:
            self.repo.update_server_certificate(cert.id, new_name, new_path)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"The Server Certificate with name {new_name} already exists.") from None
        self.written()
        return {}

    @action("DeleteServerCertificate")
    def delete_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "DeleteServerCertificate")
        self.repo.delete_server_certificate(cert.id)
        self.written()
        return {}

    @action("TagServerCertificate")
    def tag_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "TagServerCertificate")
        check_new_tags(self, params["Tags"], {})
        try:
            self.repo.set_tags("servcert", cert.id, tag_map(params["Tags"]), limit=MAX_TAGS)
        except LimitReached:
            raise self.err("LimitExceeded", _TOO_MANY_TAGS) from None
        except ParentGone:
            raise self.no_such(f"The Server Certificate with name {cert.name} cannot be found.") from None
        self.written()
        return {}

    @action("UntagServerCertificate")
    def untag_server_certificate(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "UntagServerCertificate")
        self.repo.remove_tags("servcert", cert.id, params["TagKeys"])
        self.written()
        return {}

    @action("ListServerCertificateTags")
    def list_server_certificate_tags(self, info: RequestInfo, params: Params) -> Result:
        cert = self._authorized_server_cert(info, params, "ListServerCertificateTags")
        chunk, extra = page(tag_list(self.repo.get_tags("servcert", cert.id)), params)
        return {"Tags": chunk, **extra}
