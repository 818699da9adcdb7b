"""Service-specific credentials: a user name and password for one AWS service (CodeCommit's Git
over HTTPS, Amazon Keyspaces' Cassandra drivers, Bedrock API keys), at most 2 per user and
service. The password is shown once (create / reset) and stored only as a salted scrypt hash."""

from __future__ import annotations

import secrets
from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, page, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.passwords import hash_password
from opensts.service.identifiers import new_unique_id
from opensts.store.repository import LimitReached, ParentGone, UserRecord

__all__ = ["ServiceCredentialActions", "SUPPORTED_SERVICES", "CREDENTIALS_PER_USER_PER_SERVICE"]

CREDENTIALS_PER_USER_PER_SERVICE = 2
#: Services AWS issues service-specific credentials for. Bedrock's are API keys: an alias and a
#: secret instead of a user name and password.
SUPPORTED_SERVICES = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com", "bedrock.amazonaws.com"})
_API_KEY_SERVICES = frozenset({"bedrock.amazonaws.com"})
_DAY = 86400


def _new_password(service: str) -> str:
    if service in _API_KEY_SERVICES:
        return "ABSK" + secrets.token_urlsafe(96)
    return secrets.token_urlsafe(33)  # 44 characters, 264 random bits


class ServiceCredentialActions(IamBase):
    def _supported(self, service: str) -> None:
        if service not in SUPPORTED_SERVICES:
            raise self.err("ServiceNotSupportedException", f"The specified service {service} is not supported.")

    def _credential(self, user_name: str, row: Any, secret: str | None = None) -> Result:
        api_key = row.service_name in _API_KEY_SERVICES
        out: Result = {
            "UserName": user_name, "Status": row.status, "ServiceSpecificCredentialId": row.id,
            "ServiceName": row.service_name, "CreateDate": utc(row.created_at),
        }
        out["ServiceCredentialAlias" if api_key else "ServiceUserName"] = row.service_user_name
        if row.expires_at is not None:
            out["ExpirationDate"] = utc(row.expires_at)
        if secret is not None:
            out["ServiceCredentialSecret" if api_key else "ServicePassword"] = secret
        return out

    def _no_credential(self, cred_id: str) -> Exception:
        return self.no_such(f"The Service Specific Credential with id {cred_id} cannot be found.")

    def _owned_credential(self, user: UserRecord, cred_id: str) -> Any:
        row = self.repo.get_service_credential(user.id, cred_id)
        if row is None:
            raise self._no_credential(cred_id)
        return row

    @action("CreateServiceSpecificCredential")
    def create_service_specific_credential(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "CreateServiceSpecificCredential")
        service = params["ServiceName"]
        self._supported(service)
        age = params.get("CredentialAgeDays")
        expires = int(info.now.timestamp()) + age * _DAY if age is not None else None
        secret = _new_password(service)
        cred_id = new_unique_id("ACCA")
        service_user = f"{user.name}-at-{user.account_id}"
        if service in _API_KEY_SERVICES:
            service_user = f"BedrockAPIKey-{cred_id[4:12].lower()}-at-{user.account_id}"
        try:
            self.repo.add_service_credential(cred_id, user.id, service, service_user, hash_password(secret), expires,
                                             CREDENTIALS_PER_USER_PER_SERVICE)
        except LimitReached:
            raise self.err("LimitExceeded", "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                                            f"{CREDENTIALS_PER_USER_PER_SERVICE}") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user.name} cannot be found.") from None
        self.written()
        return {"ServiceSpecificCredential": self._credential(user.name, self.repo.get_service_credential(user.id, cred_id),
                                                              secret)}

    @action("ListServiceSpecificCredentials")
    def list_service_specific_credentials(self, info: RequestInfo, params: Params) -> Result:
        service = params.get("ServiceName")
        if service is not None:
            self._supported(service)
        if params.get("AllUsers"):  # every user's: a keyset page over the account's credentials
            self.authorize(info, "ListServiceSpecificCredentials", self.arn(info, "user/"))
            account = self.caller(info).account_id
            found, more = keyset_page(params, "service-credentials", [Source(
                lambda key, limit: self.repo.service_credentials_page(account, service, key, limit),
                lambda row: (row.created_at, row.id), arity=2)])
            return {"ServiceSpecificCredentials": [self._credential(row.user_name, row) for row in found], **more}
        user = self.authorized_user(info, params, "ListServiceSpecificCredentials")
        users = {user.id: user.name}  # one user's: at most two per service
        rows = self.repo.list_service_credentials(list(users), service)
        chunk, extra = page(rows, params)
        items = []
        for row in chunk:
            item = self._credential(users[row.user_id], row)
            items.append(item)
        return {"ServiceSpecificCredentials": items, **extra}

    @action("ResetServiceSpecificCredential")
    def reset_service_specific_credential(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ResetServiceSpecificCredential")
        row = self._owned_credential(user, params["ServiceSpecificCredentialId"])
        secret = _new_password(row.service_name)
        if not self.repo.update_service_credential(user.id, row.id, password_hash=hash_password(secret)):
            raise self._no_credential(row.id)
        self.written()
        return {"ServiceSpecificCredential": self._credential(user.name, row, secret)}

    @action("UpdateServiceSpecificCredential")
    def update_service_specific_credential(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "UpdateServiceSpecificCredential")
        if not self.repo.update_service_credential(user.id, params["ServiceSpecificCredentialId"],
                                                   status=params["Status"]):
            raise self._no_credential(params["ServiceSpecificCredentialId"])
        self.written()
        return {}

    @action("DeleteServiceSpecificCredential")
    def delete_service_specific_credential(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteServiceSpecificCredential")
        if not self.repo.delete_service_credential(user.id, params["ServiceSpecificCredentialId"]):
            raise self._no_credential(params["ServiceSpecificCredentialId"])
        self.written()
        return {}
