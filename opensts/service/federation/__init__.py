"""Federation: AssumeRoleWithWebIdentity (OIDC), AssumeRoleWithSAML, GetWebIdentityToken.

Placeholder wiring (the Federation issue fills it in): ``FederationActions`` is constructed once
per process by ``StsService`` and its three methods are the handlers of those STS actions.
"""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo

__all__ = ["FederationActions"]


class FederationActions:
    def __init__(self, *, cache: Any, authorizer: Any, minter: Any, regions: Any, settings: Any, keyring: Any) -> None:
        self.cache = cache
        self.authorizer = authorizer
        self.minter = minter
        self.regions = regions
        self.settings = settings
        self.keyring = keyring

    def assume_role_with_web_identity(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        from opensts.service.sts import NotImplementedYet

        raise NotImplementedYet("AssumeRoleWithWebIdentity is not implemented by this OpenSTS server yet.")

    def assume_role_with_saml(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        from opensts.service.sts import NotImplementedYet

        raise NotImplementedYet("AssumeRoleWithSAML is not implemented by this OpenSTS server yet.")

    def get_web_identity_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        from opensts.service.sts import NotImplementedYet

        raise NotImplementedYet("GetWebIdentityToken is not implemented by this OpenSTS server yet.")
