"""AssumeRoleWithSAML: a signed SAML response from an IdP registered (with its metadata) in the
role's account, exchanged for temporary credentials (sts-api.md §3.2).

Role and provider come from the ``https://aws.amazon.com/SAML/Attributes/Role`` attribute
(``provider-arn,role-arn`` in either order; the pair asked for must be there). Session name,
tags, transitive keys and source identity come from AWS's attributes. The duration is
DurationSeconds (default 1 h), capped by the role's maximum and the assertion's
``SessionNotOnOrAfter``. Assertion ids are remembered until they expire: a replay is refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from opensts.policy import Principal
from opensts.protocol.errors import AccessDenied, InvalidParameterValue, ValidationError
from opensts.service.context import RequestInfo
from opensts.service.federation.assume import FederatedAssume, FederatedRequest
from opensts.service.federation.errors import InvalidIdentityToken
from opensts.service.federation.saml_verify import SKEW, parse_metadata, verify_response
from opensts.service.identifiers import parse_arn
from opensts.service.sessions import parse_role_arn

__all__ = ["SamlAction", "AWS_RECIPIENT", "AWS_AUDIENCES"]

ATTR = "https://aws.amazon.com/SAML/Attributes/"
AWS_RECIPIENT = "https://signin.aws.amazon.com/saml"
AWS_AUDIENCES = frozenset({AWS_RECIPIENT, "urn:amazon:webservices"})
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}\Z", re.ASCII)
_NAMEID_PREFIX = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
#: Attribute names AWS maps to ``saml:*`` condition keys (IAM User Guide, "Available keys for
#: SAML-based AWS STS federation"): eduPerson / common-name OIDs.
OID_KEYS = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "saml:edupersonaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "saml:edupersonprincipalname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": "saml:edupersonentitlement",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": "saml:edupersonscopedaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": "saml:edupersontargetedid",
    "urn:oid:2.5.4.3": "saml:cn",
    "urn:oid:2.5.4.10": "saml:organizationStatus",
    "urn:oid:0.9.2342.19200300.100.1.3": "saml:mail",
    "urn:oid:0.9.2342.19200300.100.1.1": "saml:uid",
    "urn:oid:2.16.840.1.113730.3.1.241": "saml:displayName",
}


class SamlAction:
    def __init__(self, assume: FederatedAssume, cache: Any, settings: Any, region_state: Any = None) -> None:
        self._assume = assume
        self._cache = cache
        # assertion ids used: the Region's store (store/region_state.py), else the node's own database
        self._used = region_state if region_state is not None else cache.repo
        self._settings = settings

    def _ours(self) -> frozenset[str]:
        base = self._settings.issuer_base_url() if self._settings is not None else "http://127.0.0.1:8600"
        return frozenset({base + "/saml"})

    def __call__(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        arn, principal_arn = params["RoleArn"], params["PrincipalArn"]
        ref = parse_role_arn(arn)
        parts = parse_arn(principal_arn)
        if parts is None or parts[1] != "iam" or not parts[4].startswith("saml-provider/"):
            raise ValidationError(f"{principal_arn} is invalid")
        provider = self._cache.memo("saml_provider", principal_arn, self._cache.repo.get_saml_provider,
                                    (("saml_provider", principal_arn),))
        if provider is None or provider.account_id != ref.account_id:
            raise InvalidIdentityToken("SAML provider doesn't exist in the role's account: " + principal_arn)
        now = int(info.epoch)
        if provider.valid_until is not None and provider.valid_until < now:
            raise InvalidIdentityToken("The SAML provider's metadata has expired (ValidUntil).")
        metadata = self._cache.memo("saml_metadata", principal_arn, lambda _: parse_metadata(provider.metadata_document),
                                    (("saml_provider", principal_arn),))
        ours = self._ours()
        assertion = verify_response(params["SAMLAssertion"], metadata, now=now,
                                    recipients=frozenset({AWS_RECIPIENT}) | ours, audiences=AWS_AUDIENCES | ours)
        attrs = assertion.attributes
        if not _role_pair_present(attrs.get(ATTR + "Role", []), arn, principal_arn):
            raise AccessDenied("Not authorized to perform sts:AssumeRoleWithSAML")
        names = attrs.get(ATTR + "RoleSessionName", [])
        if len(names) != 1 or not _SESSION_NAME.match(names[0]):
            raise InvalidIdentityToken("RoleSessionName attribute is missing or invalid in the SAML assertion")
        tags, transitive = _tags(attrs)
        sources = attrs.get(ATTR + "SourceIdentity", [])
        source = sources[0] if sources else None
        if source is not None and source.lower().startswith("aws:"):
            raise ValidationError("SourceIdentity cannot start with 'aws:'.")
        provider_name = parts[4].split("/", 1)[1]
        qualifier = base64.b64encode(hashlib.sha1(
            (assertion.issuer + ref.account_id + "/" + provider_name).encode()).digest()).decode()
        fmt = assertion.name_id_format or ""
        sub_type = fmt[len(_NAMEID_PREFIX):] if fmt.startswith(_NAMEID_PREFIX) else fmt
        # CloudTrail: the caller is a SAMLUser; requestParameters name the assertion id, never the assertion.
        info.extra["federated_identity"] = {
            "type": "SAMLUser", "principalId": f"{qualifier}:{assertion.name_id}",
            "userName": assertion.name_id, "identityProvider": qualifier,
        }
        info.extra["saml_assertion_id"] = assertion.assertion_id
        session_keys: dict[str, Any] = {
            "saml:aud": assertion.recipient, "saml:iss": assertion.issuer, "saml:sub": assertion.name_id,
            "saml:sub_type": sub_type, "saml:namequalifier": qualifier,
            "saml:doc": f"{ref.account_id}/{provider_name}",
        }
        keys = dict(session_keys)
        for name, key in OID_KEYS.items():
            if attrs.get(name):
                keys[key] = tuple(attrs[name]) if len(attrs[name]) > 1 else attrs[name][0]
        req = FederatedRequest(
            action="sts:AssumeRoleWithSAML", provider=principal_arn, principal=Principal.saml(principal_arn),
            session_name=names[0], federation_keys=keys, session_keys=session_keys,
            tags=tags, transitive=transitive, source_identity=source,
        )
        policies = self._assume.policies(params, ref.account_id)
        role = self._assume.decide(info, ref, self._assume.role(ref), arn, req)
        replay_key = hashlib.sha256(f"{assertion.issuer}\n{assertion.assertion_id}".encode()).hexdigest()
        if not self._used.remember_assertion(replay_key, assertion.expires_at + SKEW, now):
            raise InvalidIdentityToken("The SAML assertion has already been used (assertion ID replay).")
        cap = assertion.session_not_on_or_after - now if assertion.session_not_on_or_after else None
        result, _ = self._assume.mint(info, ref, role, req, params.get("DurationSeconds"), policies, cap=cap,
                                      minimum_size=params.get("MinimumSessionTokenSize"))
        result.update({
            "Subject": assertion.name_id, "SubjectType": sub_type, "Issuer": assertion.issuer,
            "Audience": assertion.recipient, "NameQualifier": qualifier,
        })
        return result


def _role_pair_present(values: list[str], role_arn: str, provider_arn: str) -> bool:
    for value in values:
        pair = {p.strip() for p in value.split(",")}
        if pair == {role_arn, provider_arn}:
            return True
    return False


def _tags(attrs: dict[str, list[str]]) -> tuple[dict[str, str], tuple[str, ...]]:
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for name, values in attrs.items():
        if not name.startswith(ATTR + "PrincipalTag:"):
            continue
        key = name[len(ATTR + "PrincipalTag:"):]
        if key.lower() in seen:
            raise InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        if key.lower().startswith("aws:") or not values:
            raise InvalidParameterValue("Tag keys and values cannot start with 'aws:'.")
        seen.add(key.lower())
        tags[key] = values[0]
    if len(tags) > 50:
        raise InvalidParameterValue("The number of session tags cannot exceed 50.")
    transitive = tuple(dict.fromkeys(attrs.get(ATTR + "TransitiveTagKeys", [])))
    for key in transitive:
        if key.lower() not in seen:
            raise InvalidParameterValue("The specified transitive tag key must be included in the requested tags.")
    return tags, transitive
