"""Malformed auth: the AWS error code and exact message for each shape (sources in sigv4's docstring)."""

from __future__ import annotations

import pytest
from sigv4_support import SECRET, SUITE_NOW

from opensts.auth import sigv4
from opensts.protocol.errors import IncompleteSignature, SignatureDoesNotMatch

GOOD_CRED = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
SIG = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
GOOD = f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=host;x-amz-date, Signature={SIG}"
REQUIRES_ALL = (
    "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
    "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
    "existence of either a 'X-Amz-Date' or a 'Date' header."
)


def req(authorization: str | None = GOOD, *, date: str | None = "20150830T123600Z", query: str = "",
        date_header: str | None = None) -> sigv4.HttpRequest:
    headers = [("Host", "example.amazonaws.com")]
    if date is not None:
        headers.append(("X-Amz-Date", date))
    if date_header is not None:
        headers.append(("Date", date_header))
    if authorization is not None:
        headers.append(("Authorization", authorization))
    return sigv4.HttpRequest("GET", "/", query, tuple(headers), b"")


def test_good_header_verifies() -> None:
    auth = sigv4.extract_auth(req())
    assert auth is not None
    sigv4.verify(req(), auth, SECRET, now=SUITE_NOW)


def test_no_auth_at_all_is_none() -> None:
    assert sigv4.extract_auth(req(None)) is None
    assert sigv4.extract_auth(req(None, query="Action=GetCallerIdentity&X-Amz-Date=20150830T123600Z")) is None


@pytest.mark.parametrize(
    ("authorization", "date", "message"),
    [
        ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE", "20150830T123600Z",
         "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
         "parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE"),
        (f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, Signature={SIG}", "20150830T123600Z",
         f"Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 "
         f"Credential={GOOD_CRED}, Signature={SIG}"),
        (f"AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}", "20150830T123600Z",
         f"Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 "
         f"SignedHeaders=host, Signature={SIG}"),
        ("AWS4-HMAC-SHA256 Foo=Bar, Baz=Burp", None, REQUIRES_ALL + " Authorization=AWS4-HMAC-SHA256 Foo=Bar, Baz=Burp"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "20150830T123600Z",
         "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
         "parameter. Authorization header requires 'SignedHeaders' parameter. "
         "Authorization=Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"),
        ("", "20150830T123600Z",
         "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
         "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization="),
        (GOOD, None, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
         f"Authorization={GOOD}"),
    ],
    ids=["only-credential", "no-signedheaders", "no-credential", "unknown-keys-no-date", "bearer", "empty",
         "missing-date"],
)
def test_missing_parts(authorization: str, date: str | None, message: str) -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(authorization, date=date))
    assert err.value.message == message
    assert err.value.status == 400 and err.value.code == "IncompleteSignature"


def test_missing_equal_sign() -> None:
    header = "AWS4-HMAC-SHA256 FooBar, BazBurp"
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(header))
    assert err.value.message == (
        "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization header: "
        "'AWS4-HMAC-SHA256 FooBar, BazBurp'."
    )


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256", "AWS4-X509-RSA-SHA256"])
def test_wrong_algorithm(algorithm: str) -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(GOOD.replace("AWS4-HMAC-SHA256", algorithm)))
    assert err.value.message == f"Unsupported AWS 'algorithm': '{algorithm}'."


@pytest.mark.parametrize(
    "credential",
    ["AKIDEXAMPLE", "AKIDEXAMPLE/20150830/us-east-1/service", "AKID/EXAMPLE/20150830/us-east-1/service/aws4_request",
     ""],
    ids=["1-part", "4-parts", "6-parts", "empty-after-strip"],
)
def test_credential_must_have_5_parts(credential: str) -> None:
    header = GOOD.replace(f"Credential={GOOD_CRED}", f"Credential={credential}")
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(header))
    if credential:
        assert err.value.message == (
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    else:
        assert err.value.message.startswith("Authorization header requires 'Credential' parameter.")


def test_wrong_terminator() -> None:
    header = GOOD.replace("aws4_request", "aws5_request")
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.extract_auth(req(header))
    assert err.value.message == "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."


def test_scope_date_must_match_request_date() -> None:
    header = GOOD.replace("/20150830/", "/20150831/")
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.extract_auth(req(header))
    assert err.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20150831' != '20150830', from '20150830T123600Z'."
    )
    both = GOOD.replace("/20150830/", "/20150831/").replace("aws4_request", "x")
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.extract_auth(req(both))
    assert err.value.message.startswith("Credential should be scoped with a valid terminator: 'aws4_request', not 'x'. ")


@pytest.mark.parametrize("date", ["2015/08/30T12/36/00Z", "20150830T123600", "20151330T123600Z", "yesterday"])
def test_bad_date(date: str) -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(date=date))
    assert err.value.message == (
        f"Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_date_header_fallback() -> None:
    auth = sigv4.extract_auth(req(date=None, date_header="Sun, 30 Aug 2015 12:36:00 GMT"))
    assert auth is not None and auth.request_time == SUITE_NOW
    with pytest.raises(IncompleteSignature):
        sigv4.extract_auth(req(date=None, date_header="zzzzzzzzz"))


def test_host_must_be_signed() -> None:
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.extract_auth(req(GOOD.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date")))
    assert err.value.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_check_scope_messages() -> None:
    auth = sigv4.extract_auth(req())
    assert auth is not None
    sigv4.check_scope(auth, service="service", regions={"us-east-1"})
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.check_scope(auth, service="sts", regions={"eu-west-1"})
    assert err.value.message == (
        "Credential should be scoped to a valid region, not 'us-east-1'. "
        "Credential should be scoped to correct service: 'sts'."
    )


QUERY = (
    "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2F"
    "us-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=" + SIG
)


@pytest.mark.parametrize("drop", ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
                                  "X-Amz-Date"])
def test_query_missing_parameter(drop: str) -> None:
    query = "&".join(p for p in QUERY.split("&") if not p.startswith(drop + "="))
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(None, date=None, query=query))
    assert err.value.message == (
        f"AWS query-string parameters must include '{drop}'. Re-examine the query-string parameters."
    )


def test_query_all_missing_but_algorithm() -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(None, date=None, query="X-Amz-Algorithm"))
    assert err.value.message == (
        "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string parameters must include "
        "'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string "
        "parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. "
        "Re-examine the query-string parameters."
    )


def test_query_wrong_algorithm_and_bad_scope() -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(req(None, date=None, query=QUERY.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")))
    assert err.value.message == "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'."
    with pytest.raises(IncompleteSignature):
        sigv4.extract_auth(req(None, date=None, query=QUERY.replace("%2Faws4_request", "")))
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.extract_auth(req(None, date=None, query=QUERY.replace("aws4_request", "aws4_requesx")))
