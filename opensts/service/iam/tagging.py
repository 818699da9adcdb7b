"""Tags on managed policies, OIDC and SAML providers and virtual MFA devices:
Tag/Untag/List…Tags for each (TagRole/TagUser live in ``tags.py``).

Every call is decided with the tag condition keys AWS puts in its context: ``aws:ResourceTag/*``
(the entity's tags now), and for Tag… ``aws:RequestTag/*`` + ``aws:TagKeys``, for Untag…
``aws:TagKeys``. The entity is looked up first only to read its tags; the decision comes before
its absence is revealed (a denied caller learns nothing). AWS's 50-tag limit is counted under the
entity's row lock (``set_tags(limit=…)``), so concurrent Tag… calls cannot pass it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import MAX_TAGS, IamBase, Params, Result, action, page, tag_list, tag_map
from opensts.service.iam.tags import check_new_tags
from opensts.store.repository import LimitReached, ParentGone

__all__ = ["EntityTaggingActions", "tag_condition_keys"]

_TOO_MANY = "The number of tags has reached the maximum limit."


def tag_condition_keys(current: dict[str, str], *, request: dict[str, str] | None = None,
                       removing: list[str] | None = None) -> dict[str, Any]:
    """The tag keys of a tagging decision: resource tags, request tags, tag keys."""
    keys: dict[str, Any] = {f"aws:ResourceTag/{k}": v for k, v in current.items()}
    if request is not None:
        keys.update({f"aws:RequestTag/{k}": v for k, v in request.items()})
        keys["aws:TagKeys"] = list(request)
    if removing is not None:
        keys["aws:TagKeys"] = list(removing)
    return keys


class EntityTaggingActions(IamBase):
    # -- one entity kind's target: (store kind, store id, ARN to authorize on, missing message) ----
    def _tag_target(self, info: RequestInfo, kind: str, params: Params,
                    action_name: str) -> tuple[str | None, str, str]:
        """(the entity's store id or None when it is not this account's, resource ARN, NoSuchEntity message)."""
        account = self.caller(info).account_id
        if kind == "policy":
            arn = params["PolicyArn"]
            policy = self.repo.get_policy(arn)
            if policy is not None and policy.account_id is None:  # AWS managed: no tags, none to add
                self.authorize(info, action_name, arn)
                if action_name != "ListPolicyTags":
                    raise self.invalid(f"Policy {arn} is an AWS managed policy and cannot be modified.")
                return arn, arn, ""
            found = policy is not None and policy.account_id == account
            return (arn if found else None), arn, f"Policy {arn} was not found."
        if kind == "oidc":
            arn = params["OpenIDConnectProviderArn"]
            oidc = self.repo.get_oidc_provider(arn)
            found = oidc is not None and oidc.account_id == account
            return (arn if found else None), arn, f"OpenIDConnect Provider not found for arn {arn}"
        if kind == "saml":
            arn = params["SAMLProviderArn"]
            saml = self.repo.get_saml_provider(arn)
            found = saml is not None and saml.account_id == account
            return (arn if found else None), arn, f"SAMLProvider {arn} not found"
        serial = params["SerialNumber"]
        device = self.repo.get_mfa_device(serial)
        found = device is not None and device.account_id == account
        resource = serial if serial.startswith("arn:") else self.arn(info, f"mfa/{serial}")
        return (serial if found else None), resource, f"VirtualMFADevice with serial number {serial} doesn't exist."

    def _authorized_target(self, info: RequestInfo, kind: str, params: Params, action_name: str,
                           keys: Callable[[dict[str, str]], dict[str, Any]]) -> tuple[str, str]:
        entity_id, resource, missing = self._tag_target(info, kind, params, action_name)
        current = self.repo.get_tags(kind, entity_id) if entity_id else {}
        self.authorizer.authorize(info, f"iam:{action_name}", resource, keys(current))
        if entity_id is None:
            raise self.no_such(missing)
        return entity_id, missing

    def _tag_entity(self, info: RequestInfo, kind: str, params: Params, action_name: str) -> Result:
        tags = params["Tags"]
        requested = tag_map(tags)
        entity_id, missing = self._authorized_target(
            info, kind, params, action_name, lambda cur: tag_condition_keys(cur, request=requested))
        check_new_tags(self, tags, {})
        try:  # counted under the entity's row lock: concurrent Tag… calls cannot pass 50
            self.repo.set_tags(kind, entity_id, requested, limit=MAX_TAGS)
        except LimitReached:
            raise self.err("LimitExceeded", _TOO_MANY) from None
        except ParentGone:
            raise self.no_such(missing) from None
        self.written()
        return {}

    def _untag_entity(self, info: RequestInfo, kind: str, params: Params, action_name: str) -> Result:
        keys = list(params["TagKeys"])
        entity_id, _ = self._authorized_target(
            info, kind, params, action_name, lambda cur: tag_condition_keys(cur, removing=keys))
        self.repo.remove_tags(kind, entity_id, keys)
        self.written()
        return {}

    def _list_entity_tags(self, info: RequestInfo, kind: str, params: Params, action_name: str) -> Result:
        entity_id, _ = self._authorized_target(info, kind, params, action_name, tag_condition_keys)
        chunk, extra = page(tag_list(self.repo.get_tags(kind, entity_id)), params)
        return {"Tags": chunk, **extra}

    # -- managed policies ---------------------------------------------------------------------
    @action("TagPolicy")
    def tag_policy(self, info: RequestInfo, params: Params) -> Result:
        return self._tag_entity(info, "policy", params, "TagPolicy")

    @action("UntagPolicy")
    def untag_policy(self, info: RequestInfo, params: Params) -> Result:
        return self._untag_entity(info, "policy", params, "UntagPolicy")

    @action("ListPolicyTags")
    def list_policy_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list_entity_tags(info, "policy", params, "ListPolicyTags")

    # -- OpenID Connect providers ---------------------------------------------------------------
    @action("TagOpenIDConnectProvider")
    def tag_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        return self._tag_entity(info, "oidc", params, "TagOpenIDConnectProvider")

    @action("UntagOpenIDConnectProvider")
    def untag_oidc_provider(self, info: RequestInfo, params: Params) -> Result:
        return self._untag_entity(info, "oidc", params, "UntagOpenIDConnectProvider")

    @action("ListOpenIDConnectProviderTags")
    def list_oidc_provider_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list_entity_tags(info, "oidc", params, "ListOpenIDConnectProviderTags")

    # -- SAML providers -------------------------------------------------------------------------
    @action("TagSAMLProvider")
    def tag_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        return self._tag_entity(info, "saml", params, "TagSAMLProvider")

    @action("UntagSAMLProvider")
    def untag_saml_provider(self, info: RequestInfo, params: Params) -> Result:
        return self._untag_entity(info, "saml", params, "UntagSAMLProvider")

    @action("ListSAMLProviderTags")
    def list_saml_provider_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list_entity_tags(info, "saml", params, "ListSAMLProviderTags")

    # -- virtual MFA devices --------------------------------------------------------------------
    @action("TagMFADevice")
    def tag_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        return self._tag_entity(info, "mfa", params, "TagMFADevice")

    @action("UntagMFADevice")
    def untag_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        return self._untag_entity(info, "mfa", params, "UntagMFADevice")

    @action("ListMFADeviceTags")
    def list_mfa_device_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list_entity_tags(info, "mfa", params, "ListMFADeviceTags")
