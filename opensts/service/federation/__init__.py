"""Federation: AssumeRoleWithWebIdentity (OIDC), AssumeRoleWithSAML, GetWebIdentityToken.

``FederationActions`` is constructed once per process by ``StsService``; its three methods are
the handlers of those STS actions. One module per concept: ``oidc_fetch`` (discovery + JWKS
cache), ``oidc_verify`` (verify, then validate), ``web_identity`` (the action), ``saml_verify``
and ``saml`` (SAML), ``assume`` (trust decision + minting shared by both), ``outbound``
(GetWebIdentityToken, signing keys, rotation), ``documents`` (discovery/JWKS we publish).
"""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.federation.assume import FederatedAssume
from opensts.service.federation.oidc_fetch import JwksCache
from opensts.service.federation.outbound import OutboundTokens, SigningKeys
from opensts.service.federation.saml import SamlAction
from opensts.service.federation.web_identity import WebIdentityAction

__all__ = ["FederationActions"]


class FederationActions:
    def __init__(self, *, cache: Any, authorizer: Any, minter: Any, regions: Any, settings: Any, keyring: Any,
                 transport: Any = None, region_state: Any = None, signing_keys_writable: bool = True) -> None:
        self.cache = cache
        self.authorizer = authorizer
        self.minter = minter
        self.regions = regions
        self.settings = settings
        self.keyring = keyring
        assume = FederatedAssume(cache, authorizer, minter)
        self.jwks = JwksCache(ca_bundle=getattr(settings, "ca_bundle", None), transport=transport)
        self.signing_keys = SigningKeys(cache.repo, writable=signing_keys_writable)
        self._web_identity = WebIdentityAction(assume, cache, self.jwks)
        self._saml = SamlAction(assume, cache, settings, region_state)
        self._outbound = OutboundTokens(cache, authorizer, settings, self.signing_keys)

    def assume_role_with_web_identity(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self._web_identity(info, params)

    def assume_role_with_saml(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self._saml(info, params)

    def get_web_identity_token(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return self._outbound(info, params)
