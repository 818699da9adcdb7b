"""UpdateOpenIDConnectProvider: an OIDC provider's trusted identity propagation settings (the
context provider and the IAM Identity Center instance it is associated with).

AWS's rules, from the operation's documentation: a value and its Remove flag never together; one
request changes the context provider or the Identity Center association, not both; an
association needs a context provider, so the context provider is removed only after the
association. The decision carries ``iam:EnableIdentityPropagation``,
``iam:EnableIdentityCenterAssociation``, ``iam:ResourceIdentityProviderIssuers``,
``iam:RequestIdentityCenterInstanceArn`` and ``iam:ResourceIdentityCenterInstanceArn``.
"""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action

__all__ = ["OidcConfigActions", "oidc_config_result"]


def oidc_config_result(repo: Any, arn: str) -> Result:
    """The ContextProvider / IdentityCenterInstanceArn members of GetOpenIDConnectProvider."""
    context, instance = repo.oidc_provider_config(arn)
    out: Result = {}
    if context:
        out["ContextProvider"] = context
    if instance:
        out["IdentityCenterInstanceArn"] = instance
    return out


class OidcConfigActions(IamBase):
    @action("UpdateOpenIDConnectProvider")
    def update_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        arn = params["OpenIDConnectProviderArn"]
        provider = self.repo.get_oidc_provider(arn)
        mine = provider is not None and provider.account_id == self.caller(info).account_id
        context, instance = self.repo.oidc_provider_config(arn) if mine else (None, None)
        new_context, remove_context = params.get("ContextProvider"), bool(params.get("RemoveContextProvider"))
        new_instance = params.get("IdentityCenterInstanceArn")
        remove_instance = bool(params.get("RemoveIdentityCenterInstance"))
        keys: dict[str, Any] = {}
        if provider is not None and mine:
            keys["iam:ResourceIdentityProviderIssuers"] = f"https://{provider.url}"
        if instance:
            keys["iam:ResourceIdentityCenterInstanceArn"] = instance
        if new_context is not None:
            keys["iam:EnableIdentityPropagation"] = "true"
        if new_instance is not None:
            keys["iam:EnableIdentityCenterAssociation"] = "true"
            keys["iam:RequestIdentityCenterInstanceArn"] = new_instance
        self.authorizer.authorize(info, "iam:UpdateOpenIDConnectProvider", arn, keys)
        if not mine:
            raise self.no_such(f"OpenIDConnect Provider not found for arn {arn}")
        if new_context is not None and remove_context:
            raise self.invalid("ContextProvider and RemoveContextProvider cannot both be specified.")
        if new_instance is not None and remove_instance:
            raise self.invalid("IdentityCenterInstanceArn and RemoveIdentityCenterInstance cannot both be specified.")
        touches_context = new_context is not None or remove_context
        touches_instance = new_instance is not None or remove_instance
        if touches_context and touches_instance:
            raise self.invalid("A request can change either the context provider or the IAM Identity Center "
                               "association, not both.")
        if not touches_context and not touches_instance:
            raise self.invalid("Specify a ContextProvider, IdentityCenterInstanceArn or a Remove flag.")
        if remove_context and instance:
            raise self.invalid("Remove the IAM Identity Center association before removing the context provider.")
        if new_instance is not None and not context:
            raise self.invalid("An IAM Identity Center association requires a context provider.")
        if touches_context:
            context = None if remove_context else new_context
        else:
            instance = None if remove_instance else new_instance
        self.repo.set_oidc_provider_config(arn, context, instance)
        self.written()
        return {}
