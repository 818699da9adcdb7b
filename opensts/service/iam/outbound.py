"""Outbound web identity federation switch (per account): Enable / Disable / GetInfo.

The issuer URL (``IssuerIdentifier``) is ``{--public-url}/oidc/{issuer-id}``; the issuer id is
created on first Enable and kept, so re-enabling returns the same URL.
"""

from __future__ import annotations

from opensts.service.context import RequestInfo
from opensts.service.federation.outbound import issuer_url
from opensts.service.iam._base import IamBase, Params, Result, action

__all__ = ["OutboundFederationActions"]


class OutboundFederationActions(IamBase):
    settings: object

    def _issuer(self, issuer_id: str) -> str:
        return issuer_url(self.settings, issuer_id)

    @action("EnableOutboundWebIdentityFederation")
    def enable_outbound_federation(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "EnableOutboundWebIdentityFederation", "*")
        account = self.caller(info).account_id
        current = self.repo.outbound_issuer(account)
        if current is not None and current.enabled:
            raise self.err("FeatureEnabled", "Outbound web identity federation is already enabled for this account.")
        state = self.repo.set_outbound_federation(account, True)
        self.written()
        return {"IssuerIdentifier": self._issuer(state.issuer_id)}

    @action("DisableOutboundWebIdentityFederation")
    def disable_outbound_federation(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "DisableOutboundWebIdentityFederation", "*")
        account = self.caller(info).account_id
        current = self.repo.outbound_issuer(account)
        if current is None or not current.enabled:
            raise self.err("FeatureDisabled", "Outbound web identity federation is already disabled for this account.")
        self.repo.set_outbound_federation(account, False)
        self.written()
        return {}

    @action("GetOutboundWebIdentityFederationInfo")
    def get_outbound_federation_info(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetOutboundWebIdentityFederationInfo", "*")
        current = self.repo.outbound_issuer(self.caller(info).account_id)
        if current is None or not current.enabled:
            raise self.err("FeatureDisabled", "Outbound web identity federation is not enabled for this account.")
        return {"IssuerIdentifier": self._issuer(current.issuer_id), "JwtVendingEnabled": True}
