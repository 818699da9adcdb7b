"""Verify a SAML 2.0 Response against the IdP's metadata (signxml), then read the one assertion
*from the signed XML only* — never from the document as received — so signature-wrapping
attacks find nothing to inject.

Rules: base64 → XML with a hardened parser (no DTDs, entities or network); exactly one
``Assertion`` in the document (no ``EncryptedAssertion``); a signature that is a direct child of
the Response or of the Assertion, verified with a certificate from the metadata (the
certificate in the message is ignored); Issuer = metadata entityID; bearer
SubjectConfirmation whose Recipient we accept and NotOnOrAfter is in the future; Conditions
NotBefore/NotOnOrAfter and an AudienceRestriction we accept; clock skew 5 minutes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from cryptography import x509
from lxml import etree
from signxml import InvalidInput, InvalidSignature, SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest

from opensts.frozen import frozen
from opensts.service.federation.errors import ExpiredTokenException, InvalidIdentityToken

__all__ = ["SamlAssertion", "IdpMetadata", "parse_metadata", "verify_response", "SKEW"]

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}
SKEW = 300
MAX_XML_BYTES = 100_000
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=False)
#: SHA-1 is still what many IdPs (and the python3-saml samples) sign with; AWS accepts it.
_CONFIG = SignatureConfiguration(
    location="./",  # the Signature must be a direct child of the element it signs
    expect_references=1,
    signature_methods=frozenset(m for m in SignatureMethod if "HMAC" not in m.name),
    digest_algorithms=frozenset(DigestAlgorithm),
)
_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


@frozen
class IdpMetadata:
    entity_id: str
    certificates: tuple[str, ...]  # PEM


@dataclass(slots=True)
class SamlAssertion:
    assertion_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    recipient: str
    audiences: tuple[str, ...]
    expires_at: int  # the earliest NotOnOrAfter
    session_not_on_or_after: int | None
    attributes: dict[str, list[str]] = field(default_factory=dict)


def _invalid(message: str = "Response signature invalid") -> InvalidIdentityToken:
    return InvalidIdentityToken(message)


def _parse_xml(data: bytes) -> etree._Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _invalid("Invalid SAML response: document type declarations are not allowed")
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise _invalid("Invalid SAML response") from exc


def parse_metadata(document: str) -> IdpMetadata:
    root = _parse_xml(document.encode())
    entity = root if etree.QName(root).localname == "EntityDescriptor" else root.find(".//md:EntityDescriptor", NS)
    if entity is None:
        raise _invalid("Invalid SAML metadata document")
    certs = []
    for kd in entity.findall(".//md:IDPSSODescriptor/md:KeyDescriptor", NS):
        if kd.get("use") not in (None, "signing"):
            continue
        for cert in kd.findall(".//ds:X509Certificate", NS):
            body = "".join((cert.text or "").split())
            if body:
                certs.append("-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n")
    return IdpMetadata(entity.get("entityID", ""), tuple(dict.fromkeys(certs)))


def _time(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp())
    except ValueError as exc:
        raise _invalid("Invalid SAML response: bad timestamp") from exc


def _verified(element: etree._Element, certs: tuple[str, ...]) -> etree._Element:
    """The signed element of ``element``'s own enveloped signature, by one of ``certs``."""
    data = etree.tostring(element)
    for cert in certs:
        try:
            # The metadata certificate is a pinned key, not a chain to validate: like AWS, we do not
            # refuse it for having expired (signxml checks validity at verification_time).
            loaded = x509.load_pem_x509_certificate(cert.encode())
            config = replace(_CONFIG, verification_time=loaded.not_valid_before_utc + timedelta(seconds=1))
            result = XMLVerifier().verify(data, x509_cert=loaded, expect_config=config, parser=_PARSER)
        except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput, ValueError):
            continue
        signed = result.signed_xml  # type: ignore[union-attr]
        if signed is not None and etree.QName(signed).localname == etree.QName(element).localname \
                and signed.get("ID") == element.get("ID"):
            return signed
    raise _invalid()


def verify_response(encoded: str, metadata: IdpMetadata, *, now: int, recipients: frozenset[str],
                    audiences: frozenset[str]) -> SamlAssertion:
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("Invalid SAML response: not base64") from exc
    if len(raw) > MAX_XML_BYTES:
        raise _invalid("Invalid SAML response: too large")
    root = _parse_xml(raw)
    if root.tag != f"{{{NS['samlp']}}}Response":
        raise _invalid("Invalid SAML response: not a samlp:Response")
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != _SUCCESS:
        raise _invalid("Invalid SAML response: the identity provider did not report success")
    if root.findall(".//saml:EncryptedAssertion", NS):
        raise _invalid("Invalid SAML response: encrypted assertions are not supported")
    if len(root.findall(".//saml:Assertion", NS)) != 1:
        raise _invalid("Invalid SAML response: expected exactly one assertion")
    if not metadata.certificates:
        raise _invalid("The SAML provider's metadata has no signing certificate")
    if root.find("ds:Signature", NS) is not None:
        signed_response = _verified(root, metadata.certificates)
        assertion = signed_response.find("saml:Assertion", NS)
        if assertion is None:
            raise _invalid()
    else:
        candidate = root.find("saml:Assertion", NS)
        if candidate is None or candidate.find("ds:Signature", NS) is None:
            raise _invalid("Response signature invalid: the response is not signed")
        assertion = _verified(candidate, metadata.certificates)
    return _read_assertion(assertion, metadata, now=now, recipients=recipients, audiences=audiences)


def _read_assertion(a: etree._Element, metadata: IdpMetadata, *, now: int, recipients: frozenset[str],
                    audiences: frozenset[str]) -> SamlAssertion:
    issuer = (a.findtext("saml:Issuer", None, NS) or "").strip()
    if issuer != metadata.entity_id:
        raise _invalid("Issuer not present in specified provider")
    name_id = a.find("saml:Subject/saml:NameID", NS)
    if name_id is None or not (name_id.text or "").strip():
        raise _invalid("Invalid SAML response: no NameID")
    expiries: list[int] = []
    recipient = None
    for sc in a.findall("saml:Subject/saml:SubjectConfirmation", NS):
        if sc.get("Method") != "urn:oasis:names:tc:SAML:2.0:cm:bearer":
            continue
        data = sc.find("saml:SubjectConfirmationData", NS)
        if data is None or data.get("Recipient") not in recipients:
            continue
        not_after = _time(data.get("NotOnOrAfter"))
        if not_after is None:
            continue
        recipient = data.get("Recipient")
        expiries.append(not_after)
        break
    if recipient is None:
        raise _invalid("Invalid SAML response: no bearer SubjectConfirmation for an accepted Recipient")
    conditions = a.find("saml:Conditions", NS)
    found_audiences: tuple[str, ...] = ()
    if conditions is not None:
        nb, noa = _time(conditions.get("NotBefore")), _time(conditions.get("NotOnOrAfter"))
        if nb is not None and now + SKEW < nb:
            raise _invalid("Invalid SAML response: assertion is not yet valid")
        if noa is not None:
            expiries.append(noa)
        found_audiences = tuple((e.text or "").strip() for e in conditions.findall("saml:AudienceRestriction/saml:Audience", NS))
    if not any(x in audiences for x in found_audiences):
        raise _invalid("Invalid SAML response: audience restriction does not name this service")
    expires = min(expiries)
    if now - SKEW >= expires:
        raise ExpiredTokenException("Token expired: the SAML assertion's NotOnOrAfter is in the past")
    authn = a.find("saml:AuthnStatement", NS)
    session_end = _time(authn.get("SessionNotOnOrAfter")) if authn is not None else None
    attributes: dict[str, list[str]] = {}
    for attr in a.findall("saml:AttributeStatement/saml:Attribute", NS):
        values = [(v.text or "").strip() for v in attr.findall("saml:AttributeValue", NS)]
        attributes.setdefault(attr.get("Name", ""), []).extend(values)
    return SamlAssertion(
        assertion_id=a.get("ID", ""), issuer=issuer, name_id=name_id.text.strip(),  # type: ignore[union-attr]
        name_id_format=name_id.get("Format"), recipient=recipient, audiences=found_audiences,
        expires_at=expires, session_not_on_or_after=session_end, attributes=attributes,
    )
