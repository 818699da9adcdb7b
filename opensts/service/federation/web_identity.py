"""AssumeRoleWithWebIdentity: an OIDC ID token from a provider registered in the role's
account, exchanged for temporary credentials of the role (sts-api.md §3.3).

Order: role ARN → token shape and issuer → provider in the role's account → JWKS (cached) →
signature → claims (iss, aud/azp, exp/nbf/iat, sub) → session tags and source identity from
AWS's claims → trust policy with ``PROVIDER:aud/sub/amr/oaud`` (+ documented custom claims) →
duration → mint.
"""

from __future__ import annotations

from typing import Any

from opensts.policy import Principal
from opensts.protocol.errors import InvalidParameterValue, ValidationError
from opensts.service.context import RequestInfo
from opensts.service.federation.assume import FederatedAssume, FederatedRequest
from opensts.service.federation.errors import IDPCommunicationError, InvalidIdentityToken
from opensts.service.federation.oidc_fetch import FetchError, JwksCache
from opensts.service.federation.oidc_verify import peek, validate, verify
from opensts.service.sessions import parse_role_arn

__all__ = ["WebIdentityAction"]

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
MAX_SESSION_TAGS = 50

#: Provider-specific claims AWS exposes as trust-policy condition keys (Jan 2026 What's New:
#: "AWS STS supports validation of identity provider claims"); trust policy only, not in session.
CUSTOM_CLAIMS: dict[str, tuple[str, ...]] = {
    "token.actions.githubusercontent.com": (
        "actor", "actor_id", "job_workflow_ref", "repository", "repository_id", "workflow", "ref",
        "environment", "enterprise_id",
    ),
}

KEY_ERROR = ("Couldn't retrieve verification key from your identity provider,  please reference "
             "AssumeRoleWithWebIdentity documentation for requirements")


class WebIdentityAction:
    def __init__(self, assume: FederatedAssume, cache: Any, jwks: JwksCache) -> None:
        self._assume = assume
        self._cache = cache
        self._jwks = jwks

    def __call__(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["RoleArn"]
        ref = parse_role_arn(arn)
        if params.get("ProviderId") is not None:
            raise InvalidIdentityToken("OAuth 2.0 access tokens (ProviderId) are not supported by this server; "
                                       "send an OpenID Connect ID token.")
        token = params["WebIdentityToken"]
        head = peek(token)
        host_path = _host_path(head.issuer)
        provider_arn = f"arn:{ref.partition}:iam::{ref.account_id}:oidc-provider/{host_path}"
        provider = self._cache.memo("oidc_provider", provider_arn, self._cache.repo.get_oidc_provider,
                                    (("oidc_provider", provider_arn),))
        if provider is None:
            raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {head.issuer}")
        issuer_url = "https://" + provider.url
        try:
            keys = self._jwks.keys(issuer_url, head.kid)
        except FetchError as exc:
            if exc.transient:
                raise IDPCommunicationError(
                    "The request could not be fulfilled because the identity provider (IDP) that was asked to "
                    "verify the incoming identity token could not be reached. This is often a transient error "
                    "caused by network conditions. Retry the request a limited number of times.") from None
            raise InvalidIdentityToken(KEY_ERROR) from None
        claims = verify(token, keys.keys)
        checked = validate(claims, issuer_url=issuer_url, client_ids=provider.client_ids, now=int(info.epoch))
        tags, transitive = _token_tags(claims.get(TAGS_CLAIM))
        source = claims.get(SOURCE_IDENTITY_CLAIM)
        if source is not None and (not isinstance(source, str) or not source):
            raise InvalidIdentityToken(f"Invalid claim value: {SOURCE_IDENTITY_CLAIM}")
        if isinstance(source, str) and source.lower().startswith("aws:"):
            raise ValidationError("SourceIdentity cannot start with 'aws:'.")
        sub = claims["sub"]
        # CloudTrail: the caller is a WebIdentityUser (recorded even when the call is refused below).
        info.extra["federated_identity"] = {
            "type": "WebIdentityUser", "principalId": f"{host_path}:{checked.audience}:{sub}",
            "userName": sub, "identityProvider": provider_arn,
        }
        keys_: dict[str, Any] = {f"{host_path}:aud": checked.audience, f"{host_path}:sub": sub}
        amr = claims.get("amr")
        if isinstance(amr, (list, str)):
            keys_[f"{host_path}:amr"] = tuple(amr) if isinstance(amr, list) else amr
        if checked.other_audiences:
            keys_[f"{host_path}:oaud"] = checked.other_audiences if len(checked.other_audiences) > 1 \
                else checked.other_audiences[0]
        for name in CUSTOM_CLAIMS.get(host_path, ()):
            value = claims.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                keys_[f"{host_path}:{name}"] = str(value)
        req = FederatedRequest(
            action="sts:AssumeRoleWithWebIdentity",
            provider=provider_arn,
            principal=Principal.web_identity(provider_arn),
            session_name=params["RoleSessionName"],
            federation_keys=keys_,
            session_keys={f"{host_path}:aud": checked.audience, f"{host_path}:sub": sub},
            tags=tags,
            transitive=transitive,
            source_identity=source,
        )
        policies = self._assume.policies(params, ref.account_id)
        role = self._assume.decide(info, ref, self._assume.role(ref), arn, req)
        result, _ = self._assume.mint(info, ref, role, req, params.get("DurationSeconds"), policies,
                                      minimum_size=params.get("MinimumSessionTokenSize"))
        result["SubjectFromWebIdentityToken"] = sub
        result["Provider"] = claims["iss"]
        result["Audience"] = checked.audience
        return result


def _host_path(issuer: str) -> str:
    url = issuer.strip()
    if url.lower().startswith("https://"):
        url = url[8:]
    return url.rstrip("/")


def _token_tags(value: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """``{"principal_tags": {"Key": ["value"]}, "transitive_tag_keys": ["Key"]}`` → tags."""
    if value is None:
        return {}, ()
    if not isinstance(value, dict):
        raise InvalidIdentityToken(f"Invalid claim value: {TAGS_CLAIM}")
    raw = value.get("principal_tags") or {}
    if not isinstance(raw, dict):
        raise InvalidIdentityToken(f"Invalid claim value: {TAGS_CLAIM}")
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for key, values in raw.items():
        tag_value = values[0] if isinstance(values, list) and len(values) == 1 else values
        if not isinstance(key, str) or not isinstance(tag_value, str):
            raise InvalidIdentityToken(f"Invalid claim value: {TAGS_CLAIM}")
        if key.lower() in seen:
            raise InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterValue("Tag keys and values cannot start with 'aws:'.")
        seen.add(key.lower())
        tags[key] = tag_value
    if len(tags) > MAX_SESSION_TAGS:
        raise InvalidParameterValue(f"The number of session tags cannot exceed {MAX_SESSION_TAGS}.")
    transitive = value.get("transitive_tag_keys") or []
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise InvalidIdentityToken(f"Invalid claim value: {TAGS_CLAIM}")
    for key in transitive:
        if key.lower() not in seen:
            raise InvalidParameterValue("The specified transitive tag key must be included in the requested tags.")
    return tags, tuple(dict.fromkeys(transitive))
