"""Real signed SAML responses for tests, made with signxml and a fresh key/certificate."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod

ENTITY_ID = "https://idp.example.test/saml"


def keypair(cn: str = "idp.example.test") -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def metadata(cert_pem: bytes, entity_id: str = ENTITY_ID) -> str:
    body = "".join(cert_pem.decode().strip().splitlines()[1:-1])
    return (f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
            f'<ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            'Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def response(key: bytes, cert: bytes, *, role_arn: str, provider_arn: str, session_name: str = "alice",
             ttl: int = 300, attributes: dict[str, list[str]] | None = None, sign: str = "assertion",
             recipient: str = "https://signin.aws.amazon.com/saml", audience: str = "https://signin.aws.amazon.com/saml",
             issuer: str = ENTITY_ID, session_not_on_or_after: int | None = None) -> tuple[str, str]:
    """(base64 samlp:Response, assertion id)."""
    now = dt.datetime.now(dt.timezone.utc)
    end = now + dt.timedelta(seconds=ttl)
    aid = "_" + uuid.uuid4().hex
    attrs = {"https://aws.amazon.com/SAML/Attributes/Role": [f"{provider_arn},{role_arn}"],
             "https://aws.amazon.com/SAML/Attributes/RoleSessionName": [session_name], **(attributes or {})}
    attr_xml = "".join(
        f'<saml:Attribute Name="{n}">' + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>" for v in vals)
        + "</saml:Attribute>" for n, vals in attrs.items())
    session_end = (f' SessionNotOnOrAfter="{_iso(dt.datetime.fromtimestamp(session_not_on_or_after, dt.timezone.utc))}"'
                   if session_not_on_or_after else "")
    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
        f' ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_iso(now)}" Destination="{recipient}">'
        f'<saml:Issuer>{issuer}</saml:Issuer>'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f'<saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{_iso(now)}">'
        f'<saml:Issuer>{issuer}</saml:Issuer>'
        '<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice@example.test</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{_iso(end)}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject>'
        f'<saml:Conditions NotBefore="{_iso(now - dt.timedelta(seconds=30))}" NotOnOrAfter="{_iso(end)}">'
        f'<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
        f'<saml:AuthnStatement AuthnInstant="{_iso(now)}"{session_end}><saml:AuthnContext><saml:AuthnContextClassRef>'
        'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
        f'<saml:AttributeStatement>{attr_xml}</saml:AttributeStatement></saml:Assertion></samlp:Response>'
    )
    root = etree.fromstring(xml.encode())
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    if sign == "assertion":
        assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
        signed = signer.sign(assertion, key=key, cert=cert, reference_uri=aid)
        root.replace(assertion, signed)
        # move the enveloped signature right after the Issuer, as SAML's schema wants
    elif sign == "response":
        root = signer.sign(root, key=key, cert=cert, reference_uri=root.get("ID"))
    return base64.b64encode(etree.tostring(root)).decode(), aid
