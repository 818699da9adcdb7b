"""Identity providers: OpenID Connect and SAML."""

from __future__ import annotations

import re
from datetime import datetime

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, tag_list, tag_map, utc
from opensts.service.iam.oidc_config import oidc_config_result
from opensts.service.iam.tags import check_new_tags
from opensts.store.iam_repository import OidcProviderRecord, SamlProviderRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone

__all__ = ["ProviderActions", "MAX_CLIENT_IDS"]

MAX_CLIENT_IDS = 100
_VALID_UNTIL = re.compile(r'validUntil\s*=\s*"([^"]+)"')
_HUNDRED_YEARS = 100 * 365 * 86400


def _host_path(url: str) -> str:
    """The ARN/display form of an issuer URL: no scheme, no trailing slash."""
    return re.sub(r"^https://", "", url, flags=re.IGNORECASE).rstrip("/")


class ProviderActions(IamBase):
    # -- OpenID Connect ---------------------------------------------------------------------
    def _oidc(self, info: RequestInfo, params: Params, action_name: str) -> OidcProviderRecord:
        arn = params["OpenIDConnectProviderArn"]
        self.authorize(info, action_name, arn)
        provider = self.repo.get_oidc_provider(arn)
        if provider is None or provider.account_id != self.caller(info).account_id:
            raise self.no_such(f"OpenIDConnect Provider not found for arn {arn}")
        return provider

    @action("CreateOpenIDConnectProvider")
    def create_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        url = params["Url"]
        if not url.lower().startswith("https://") or not _host_path(url):
            raise self.invalid("Invalid Open ID Connect Provider URL")
        arn = self.arn(info, f"oidc-provider/{_host_path(url)}")
        self.authorize(info, "CreateOpenIDConnectProvider", arn)
        check_new_tags(self, params.get("Tags"), {})
        client_ids = list(dict.fromkeys(params.get("ClientIDList", [])))
        if len(client_ids) > MAX_CLIENT_IDS:
            raise self.err("LimitExceeded", f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
        if self.repo.get_oidc_provider(arn) is not None:
            raise self.err("EntityAlreadyExists", f"Provider with url {url} already exists.")
        try:
            self.repo.create_oidc_provider(arn, self.caller(info).account_id, _host_path(url), client_ids,
                                           params.get("ThumbprintList", []), tag_map(params.get("Tags")))
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Provider with url {url} already exists.") from None
        self.written()
        out: Result = {"OpenIDConnectProviderArn": arn}
        if params.get("Tags"):
            out["Tags"] = tag_list(tag_map(params["Tags"]))
        return out

    @action("GetOpenIDConnectProvider")
    def get_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        provider = self._oidc(info, params, "GetOpenIDConnectProvider")
        out: Result = {
            "Url": provider.url, "ClientIDList": provider.client_ids, "ThumbprintList": provider.thumbprints,
            "CreateDate": utc(provider.created_at),
        }
        tags = self.repo.get_tags("oidc", provider.arn)
        if tags:
            out["Tags"] = tag_list(tags)
        return {**out, **oidc_config_result(self.repo, provider.arn)}

    @action("ListOpenIDConnectProviders")
    def list_oidc_providers(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListOpenIDConnectProviders", "*")
        arns = self.repo.list_oidc_providers(self.caller(info).account_id)
        return {"OpenIDConnectProviderList": [{"Arn": a} for a in arns]}

    @action("DeleteOpenIDConnectProvider")
    def delete_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        provider = self._oidc(info, params, "DeleteOpenIDConnectProvider")
        self.repo.delete_oidc_provider(provider.arn)
        self.written()
        return {}

    @action("AddClientIDToOpenIDConnectProvider")
    def add_client_id(self, info: RequestInfo, params: Params) -> Result:
        provider = self._oidc(info, params, "AddClientIDToOpenIDConnectProvider")
        try:  # read, changed and written under the provider's row lock: concurrent adds are all kept
            self.repo.add_oidc_client_id(provider.arn, params["ClientID"], MAX_CLIENT_IDS)
        except LimitReached:
            raise self.err("LimitExceeded",
                           f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}") from None
        except ParentGone:
            raise self.no_such(f"OpenIDConnect Provider not found for arn {provider.arn}") from None
        self.written()
        return {}

    @action("RemoveClientIDFromOpenIDConnectProvider")
    def remove_client_id(self, info: RequestInfo, params: Params) -> Result:
        provider = self._oidc(info, params, "RemoveClientIDFromOpenIDConnectProvider")
        try:
            self.repo.remove_oidc_client_id(provider.arn, params["ClientID"])
        except ParentGone:
            raise self.no_such(f"OpenIDConnect Provider not found for arn {provider.arn}") from None
        self.written()
        return {}

    @action("UpdateOpenIDConnectProviderThumbprint")
    def update_thumbprint(self, info: RequestInfo, params: Params) -> Result:
        provider = self._oidc(info, params, "UpdateOpenIDConnectProviderThumbprint")
        self.repo.update_oidc_provider(provider.arn, thumbprints=list(params["ThumbprintList"]))
        self.written()
        return {}

    # -- SAML -------------------------------------------------------------------------------
    def _saml(self, info: RequestInfo, params: Params, action_name: str) -> SamlProviderRecord:
        arn = params["SAMLProviderArn"]
        self.authorize(info, action_name, arn)
        provider = self.repo.get_saml_provider(arn)
        if provider is None or provider.account_id != self.caller(info).account_id:
            raise self.no_such(f"SAMLProvider {arn} not found")
        return provider

    def _valid_until(self, info: RequestInfo, metadata: str) -> int:
        if "EntityDescriptor" not in metadata:
            raise self.invalid("Could not parse metadata")
        match = _VALID_UNTIL.search(metadata)
        if match:
            try:
                return int(datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp())
            except ValueError:
                raise self.invalid("Could not parse metadata") from None
        return int(info.epoch) + _HUNDRED_YEARS

    @action("CreateSAMLProvider")
    def create_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        name = params["Name"]
        arn = self.arn(info, f"saml-provider/{name}")
        self.authorize(info, "CreateSAMLProvider", arn)
        check_new_tags(self, params.get("Tags"), {})
        valid_until = self._valid_until(info, params["SAMLMetadataDocument"])
        if self.repo.get_saml_provider(arn) is not None:
            raise self.err("EntityAlreadyExists", f"SAMLProvider {name} already exists")
        try:
            self.repo.create_saml_provider(arn, self.caller(info).account_id, name, params["SAMLMetadataDocument"],
                                           valid_until, tag_map(params.get("Tags")))
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"SAMLProvider {name} already exists") from None
        self.written()
        out: Result = {"SAMLProviderArn": arn}
        if params.get("Tags"):
            out["Tags"] = tag_list(tag_map(params["Tags"]))
        return out

    @action("GetSAMLProvider")
    def get_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        provider = self._saml(info, params, "GetSAMLProvider")
        out: Result = {
            "SAMLMetadataDocument": provider.metadata_document,
            "CreateDate": utc(provider.created_at),
            "ValidUntil": utc(provider.valid_until),
        }
        tags = self.repo.get_tags("saml", provider.arn)
        if tags:
            out["Tags"] = tag_list(tags)
        return out

    @action("ListSAMLProviders")
    def list_saml_providers(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListSAMLProviders", "*")
        providers = sorted(self.repo.list_saml_providers(self.caller(info).account_id), key=lambda p: p.arn)
        return {
            "SAMLProviderList": [
                {"Arn": p.arn, "ValidUntil": utc(p.valid_until), "CreateDate": utc(p.created_at)} for p in providers
            ]
        }

    @action("UpdateSAMLProvider")
    def update_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        provider = self._saml(info, params, "UpdateSAMLProvider")
        metadata = params.get("SAMLMetadataDocument")
        if metadata is not None:
            self.repo.update_saml_provider(provider.arn, metadata, self._valid_until(info, metadata))
            self.written()
        return {"SAMLProviderArn": provider.arn}

    @action("DeleteSAMLProvider")
    def delete_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        provider = self._saml(info, params, "DeleteSAMLProvider")
        self.repo.delete_saml_provider(provider.arn)
        self.written()
        return {}
