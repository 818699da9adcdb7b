"""The SAML samples (python3-saml, signed with an expired certificate) through our
verifier with an injected clock; the signature-wrapping and unsigned samples must be refused."""

from __future__ import annotations

import base64
import json
import re

import pytest

from opensts.service.federation.errors import InvalidIdentityToken
from opensts.service.federation.saml_verify import IdpMetadata, verify_response
from tests.testdata import DATA

V = DATA / "federation" / "saml" / "python3-saml"
NOW = 1_400_000_000  # 2014: inside the samples' validity windows


def _metadata() -> IdpMetadata:
    cert = json.loads((V / "settings1.json").read_text())["idp"]["x509cert"]
    pem = "-----BEGIN CERTIFICATE-----\n" + cert + "\n-----END CERTIFICATE-----\n"
    return IdpMetadata("https://pitbulk.no-ip.org/simplesaml/saml2/idp/metadata.php", (pem,))


def _verify(name: str, metadata: IdpMetadata | None = None) -> object:
    data = (V / f"{name}.xml.base64").read_text()
    xml = base64.b64decode(data)
    recipients = frozenset(x.decode() for x in re.findall(rb'Recipient="([^"]*)"', xml))
    audiences = frozenset(x.decode() for x in re.findall(rb"<saml:Audience>([^<]*)<", xml))
    return verify_response(data, metadata or _metadata(), now=NOW, recipients=recipients, audiences=audiences)


@pytest.mark.parametrize("name", ["signed_message_response", "signed_assertion_response", "double_signed_response"])
def test_signed_samples_verify(name: str) -> None:
    assertion = _verify(name)
    assert assertion.issuer.startswith("https://pitbulk.no-ip.org")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["invalid_signature_wrapping_attack", "invalid_no_signature"])
def test_invalid_samples_refused(name: str) -> None:
    with pytest.raises(InvalidIdentityToken):
        _verify(name)


def test_wrong_certificate_refused() -> None:
    from tests.federation.saml_idp import keypair

    _, other = keypair()
    with pytest.raises(InvalidIdentityToken):
        _verify("signed_assertion_response", IdpMetadata(_metadata().entity_id, (other.decode(),)))
