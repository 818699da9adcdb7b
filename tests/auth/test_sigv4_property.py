"""Property: whatever arrives, extract_auth/verify raise only ServiceError subclasses (or succeed)."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.auth import sigv4
from opensts.protocol.errors import ServiceError

NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=timezone.utc)
latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=60)
anytext = st.text(max_size=60)
fragments = st.sampled_from([
    "AWS4-HMAC-SHA256 ", "Credential=", "AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request", ", ", "SignedHeaders=",
    "host;x-amz-date", "Signature=", "0" * 64, "X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Date=",
    "20150830T123600Z", "X-Amz-SignedHeaders=", "X-Amz-Signature=", "X-Amz-Expires=", "X-Amz-Security-Token=",
    "&", "=", "%", "%2F", "+", "/", "..", ";", " ", "\t", "\r\n ", "\x00", "\xff", "é", "ሴ", "60", "-1",
])
structured = st.lists(st.one_of(fragments, latin1, anytext), max_size=12).map("".join)
header_names = st.sampled_from(["Host", "X-Amz-Date", "Date", "Authorization", "x-amz-content-sha256",
                                "X-Amz-Security-Token", "x-k8s-aws-id", ":authority"]) | latin1


@settings(max_examples=400, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "", "get"]) | latin1,
    path=structured,
    query=structured,
    headers=st.lists(st.tuples(header_names, structured), max_size=8),
    body=st.binary(max_size=64),
    normalize=st.booleans(),
    unsigned_token=st.booleans(),
)
def test_only_service_errors(method, path, query, headers, body, normalize, unsigned_token) -> None:
    req = sigv4.HttpRequest(method, path, query, tuple(headers), body)
    try:
        auth = sigv4.extract_auth(req)
        if auth is None:
            return
        sigv4.verify(req, auth, "secret", now=NOW, normalize_path=normalize,
                     allow_unsigned_query_token=unsigned_token, key_cache=sigv4.SigningKeyCache(2))
    except ServiceError:
        pass


@settings(max_examples=200, deadline=None)
@given(path=structured, query=structured)
def test_canonical_steps_total(path: str, query: str) -> None:
    """The pure steps never raise and always produce ASCII (everything non-unreserved is escaped)."""
    assert sigv4.canonical_uri(path, True).isascii()
    assert sigv4.canonical_uri(path, False).isascii()
    assert sigv4.canonical_query_string(query, presigned=True).isascii()
