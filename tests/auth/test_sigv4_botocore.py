"""botocore as the client: real STS requests signed by botocore must verify; altered ones must not.

Covers the shapes STS meets in the field: the form POST every SDK sends (with and without a
session token), Vault's extra signed ``X-Vault-AWS-IAM-Server-ID``, a forwarded request verified
against the Host *as received* (port included), and the EKS-style presigned GetCallerIdentity GET
with a signed ``x-k8s-aws-id`` header and ``X-Amz-Expires=60``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4QueryAuth
from botocore.auth import SigV4Auth as BotoSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from opensts.auth import sigv4
from opensts.protocol.errors import IncompleteSignature, SignatureDoesNotMatch

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKEN+abc/def=="
SIGNED_AT = datetime(2018, 7, 3, 15, 43, 1, tzinfo=timezone.utc)
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def _freeze(monkeypatch: pytest.MonkeyPatch, at: datetime = SIGNED_AT) -> None:
    """botocore reads datetime.datetime.utcnow() when signing; pin it."""
    import botocore.auth

    class Frozen(datetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return at.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None) -> datetime:  # type: ignore[override]
            return at if tz else at.replace(tzinfo=None)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", Frozen)


def _to_http_request(aws_req: AWSRequest, *, extra_unsigned: tuple[tuple[str, str], ...] = ()) -> sigv4.HttpRequest:
    """What the server sees: the prepared request plus the headers the HTTP client adds itself."""
    prepared = aws_req.prepare()
    parts = urlsplit(prepared.url)
    headers = [("Host", parts.netloc)] + list(prepared.headers.items())
    headers += [("User-Agent", "Boto3/1.43 md/Botocore#1.43"), ("Accept-Encoding", "identity")]
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    if body and not any(n.lower() == "content-length" for n, _ in headers):
        headers.append(("Content-Length", str(len(body))))
    headers += list(extra_unsigned)
    return sigv4.HttpRequest(
        method=prepared.method,
        raw_path=parts.path or "/",
        query_string=parts.query,
        headers=tuple(headers),
        body=body,
    )


def signed_post(
    monkeypatch: pytest.MonkeyPatch,
    *,
    token: str | None = None,
    url: str = "https://sts.amazonaws.com/",
    extra_headers: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> sigv4.HttpRequest:
    _freeze(monkeypatch)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    headers.update(extra_headers or {})
    aws_req = AWSRequest(method="POST", url=url, data=BODY, headers=headers)
    BotoSigV4Auth(Credentials(AKID, SECRET, token), "sts", region).add_auth(aws_req)
    return _to_http_request(aws_req)


def presigned_get(
    monkeypatch: pytest.MonkeyPatch,
    *,
    token: str | None = None,
    expires: int = 60,
    cluster: str = "my-cluster",
    auth_cls: type = SigV4QueryAuth,
) -> sigv4.HttpRequest:
    """Exactly the EKS token recipe: GET ?Action=GetCallerIdentity&Version=..., x-k8s-aws-id signed."""
    _freeze(monkeypatch)
    aws_req = AWSRequest(
        method="GET",
        url="https://sts.amazonaws.com/",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"x-k8s-aws-id": cluster},
    )
    auth_cls(Credentials(AKID, SECRET, token), "sts", "us-east-1", expires=expires).add_auth(aws_req)
    return _to_http_request(aws_req)


def _verify(req: sigv4.HttpRequest, now: datetime = SIGNED_AT, **kw: object) -> sigv4.SigV4Auth:
    auth = sigv4.extract_auth(req)
    assert auth is not None
    sigv4.verify(req, auth, SECRET, now=now, **kw)  # type: ignore[arg-type]
    return auth


# ------------------------------------------------------------------------------ header form


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
def test_form_post_verifies(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    req = signed_post(monkeypatch, token=token)
    auth = _verify(req, key_cache=sigv4.SigningKeyCache())
    assert auth.access_key_id == AKID
    assert (auth.scope_date, auth.region, auth.service) == ("20180703", "us-east-1", "sts")
    assert auth.security_token == token
    assert auth.presigned is False and auth.expires is None
    assert "host" in auth.signed_headers
    if token:
        assert "x-amz-security-token" in auth.signed_headers
    sigv4.check_scope(auth, service="sts", regions={"us-east-1"})


def test_vault_server_id_header_is_signed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch, extra_headers={"X-Vault-AWS-IAM-Server-ID": "vault.example.com"})
    auth = _verify(req)
    assert "x-vault-aws-iam-server-id" in auth.signed_headers
    tampered = replace(
        req,
        headers=tuple(
            (n, "vault.evil.com" if n.lower() == "x-vault-aws-iam-server-id" else v) for n, v in req.headers
        ),
    )
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(tampered, auth, SECRET, now=SIGNED_AT)


def test_signed_header_missing_on_request_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch, extra_headers={"X-Vault-AWS-IAM-Server-ID": "vault.example.com"})
    auth = sigv4.extract_auth(req)
    assert auth is not None
    stripped = replace(req, headers=tuple(h for h in req.headers if h[0].lower() != "x-vault-aws-iam-server-id"))
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(stripped, auth, SECRET, now=SIGNED_AT)


def test_host_with_port_as_received(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client pointed at https://sts.internal:8443 signs 'host:sts.internal:8443'."""
    req = signed_post(monkeypatch, url="https://sts.internal.example:8443/")
    assert ("Host", "sts.internal.example:8443") in req.headers
    _verify(req)
    moved = replace(req, headers=tuple((n, "sts.internal.example" if n == "Host" else v) for n, v in req.headers))
    with pytest.raises(SignatureDoesNotMatch):
        _verify(moved)


def test_forwarded_request_keeps_aws_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vault rebuilds the client's request against our address but keeps Host: sts.amazonaws.com."""
    req = signed_post(monkeypatch, url="https://sts.amazonaws.com/")
    _verify(req)  # our own hostname is irrelevant: only the received Host counts


def test_unsigned_extra_headers_do_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch)
    noisy = replace(req, headers=req.headers + (("X-Forwarded-For", "10.0.0.1"), ("Accept", "application/json")))
    _verify(noisy)


def test_wrong_secret_and_wrong_body(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch)
    auth = sigv4.extract_auth(req)
    assert auth is not None
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4.verify(req, auth, SECRET[:-1] + "X", now=SIGNED_AT)
    assert err.value.message == sigv4.MSG_MISMATCH
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(replace(req, body=BODY.replace(b"GetCallerIdentity", b"GetSessionToken")), auth, SECRET,
                     now=SIGNED_AT)


def test_content_sha256_header(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    real = hashlib.sha256(BODY).hexdigest()
    req = signed_post(monkeypatch, extra_headers={"X-Amz-Content-SHA256": real})
    _verify(req)
    # A declared hash that is not the body's is refused even if the signature covers it.
    lying = signed_post(monkeypatch, extra_headers={"X-Amz-Content-SHA256": "0" * 64})
    with pytest.raises(SignatureDoesNotMatch):
        _verify(lying)
    unsigned = signed_post(monkeypatch, extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    _verify(unsigned)
    with pytest.raises(SignatureDoesNotMatch):
        _verify(unsigned, allow_unsigned_payload=False)
    streaming = signed_post(monkeypatch, extra_headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    with pytest.raises(SignatureDoesNotMatch):
        _verify(streaming)


# ------------------------------------------------------------------------------ time window


@pytest.mark.parametrize("minutes", [-14, 14, -15, 15])
def test_header_skew_inside_window(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    _verify(signed_post(monkeypatch), now=SIGNED_AT + timedelta(minutes=minutes))


def test_header_signature_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch)
    with pytest.raises(SignatureDoesNotMatch) as err:
        _verify(req, now=SIGNED_AT + timedelta(minutes=16))
    assert err.value.message == (
        "Signature expired: 20180703T154301Z is now earlier than 20180703T154401Z (20180703T155901Z - 15 min.)"
    )


def test_header_signature_not_yet_current(monkeypatch: pytest.MonkeyPatch) -> None:
    req = signed_post(monkeypatch)
    with pytest.raises(SignatureDoesNotMatch) as err:
        _verify(req, now=SIGNED_AT - timedelta(minutes=16))
    assert err.value.message == (
        "Signature not yet current: 20180703T154301Z is still later than 20180703T154201Z "
        "(20180703T152701Z + 15 min.)"
    )


def test_brief_examples_format() -> None:
    """The two messages quoted in the brief, reproduced from their own timestamps."""
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4._check_time(datetime(2018, 7, 3, 8, 38, 15, tzinfo=timezone.utc),
                          datetime(2018, 7, 3, 15, 43, 1, tzinfo=timezone.utc))
    assert err.value.message == (
        "Signature expired: 20180703T083815Z is now earlier than 20180703T152801Z (20180703T154301Z - 15 min.)"
    )
    with pytest.raises(SignatureDoesNotMatch) as err:
        sigv4._check_time(datetime(2018, 7, 3, 16, 0, 0, tzinfo=timezone.utc),
                          datetime(2018, 7, 3, 15, 43, 1, tzinfo=timezone.utc))
    assert err.value.message == (
        "Signature not yet current: 20180703T160000Z is still later than 20180703T155801Z "
        "(20180703T154301Z + 15 min.)"
    )


# ------------------------------------------------------------------------------ presigned (EKS)


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
def test_eks_presigned_get_verifies(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    req = presigned_get(monkeypatch, token=token)
    assert "X-Amz-Expires=60" in req.query_string
    auth = _verify(req)
    assert auth.presigned and auth.expires == 60
    assert auth.signed_headers == ("host", "x-k8s-aws-id")
    assert auth.security_token == token
    # The cluster id header is signed: another cluster's id, or none, is refused.
    other = replace(req, headers=tuple((n, "other" if n == "x-k8s-aws-id" else v) for n, v in req.headers))
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(other, auth, SECRET, now=SIGNED_AT)
    gone = replace(req, headers=tuple(h for h in req.headers if h[0] != "x-k8s-aws-id"))
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(gone, auth, SECRET, now=SIGNED_AT)


def test_presigned_valid_15_minutes_despite_expires_60(monkeypatch: pytest.MonkeyPatch) -> None:
    req = presigned_get(monkeypatch, expires=60)
    _verify(req, now=SIGNED_AT + timedelta(minutes=14))
    _verify(req, now=SIGNED_AT - timedelta(minutes=14))
    with pytest.raises(SignatureDoesNotMatch) as err:
        _verify(req, now=SIGNED_AT + timedelta(minutes=16))
    assert err.value.message.startswith("Signature expired: 20180703T154301Z is now earlier than")
    with pytest.raises(SignatureDoesNotMatch) as err:
        _verify(req, now=SIGNED_AT - timedelta(minutes=16))
    assert err.value.message.startswith("Signature not yet current: 20180703T154301Z is still later than")


def test_presigned_long_expiry_still_15_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    """STS ignores X-Amz-Expires in both directions: 3600 does not stretch the window either."""
    req = presigned_get(monkeypatch, expires=3600)
    with pytest.raises(SignatureDoesNotMatch):
        _verify(req, now=SIGNED_AT + timedelta(minutes=30))


def test_s3_style_unsigned_payload_presign_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presigners that sign UNSIGNED-PAYLOAD (S3 style) are accepted when the body is empty."""
    req = presigned_get(monkeypatch, auth_cls=S3SigV4QueryAuth)
    _verify(req)
    with pytest.raises(SignatureDoesNotMatch):
        _verify(replace(req, body=b"Action=AssumeRole"))


@pytest.mark.parametrize("value", ["0", "-1", "604801", "sixty", "6O", ""])
def test_presigned_expires_must_be_1_to_604800(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    req = presigned_get(monkeypatch)
    bad = replace(req, query_string=req.query_string.replace("X-Amz-Expires=60", f"X-Amz-Expires={value}"))
    with pytest.raises(IncompleteSignature) as err:
        sigv4.extract_auth(bad)
    assert "X-Amz-Expires" in err.value.message


def test_presigned_query_mutations_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    req = presigned_get(monkeypatch, token=TOKEN)
    auth = sigv4.extract_auth(req)
    assert auth is not None
    for old, new in [
        ("GetCallerIdentity", "GetSessionToken"),
        ("Version=2011-06-15", "Version=2011-06-16"),
        ("X-Amz-Expires=60", "X-Amz-Expires=61"),
    ]:
        changed = replace(req, query_string=req.query_string.replace(old, new))
        changed_auth = sigv4.extract_auth(changed)
        assert changed_auth is not None
        with pytest.raises(SignatureDoesNotMatch):
            sigv4.verify(changed, changed_auth, SECRET, now=SIGNED_AT)
    # An extra parameter, or a second X-Amz-Signature, is not covered by the signature.
    for extra in ("&DurationSeconds=900", "&X-Amz-Signature=" + "0" * 64):
        changed = replace(req, query_string=req.query_string + extra)
        with pytest.raises(SignatureDoesNotMatch):
            sigv4.verify(changed, sigv4.extract_auth(changed), SECRET, now=SIGNED_AT)  # type: ignore[arg-type]
    # The presigned token is signed by botocore: swapping it breaks the signature even with the switch.
    swapped = replace(req, query_string=req.query_string.replace("EXAMPLETOKEN", "EXAMPLETOKEM"))
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(swapped, sigv4.extract_auth(swapped), SECRET, now=SIGNED_AT,  # type: ignore[arg-type]
                     allow_unsigned_query_token=True)


def test_key_cache_is_bounded_and_consistent() -> None:
    cache = sigv4.SigningKeyCache(maxsize=2)
    k1 = cache.signing_key(SECRET, "20180703", "us-east-1", "sts")
    assert k1 == sigv4.signing_key(SECRET, "20180703", "us-east-1", "sts")
    cache.signing_key(SECRET, "20180704", "us-east-1", "sts")
    cache.signing_key(SECRET, "20180705", "us-east-1", "sts")
    assert len(cache) == 2
    assert SECRET not in repr(cache)
    # Known AWS example: the derived key for the suite's scope.
    assert (
        sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam").hex()
        == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    )


def test_auth_repr_hides_signature_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = sigv4.extract_auth(signed_post(monkeypatch, token=TOKEN))
    assert auth is not None
    assert auth.signature not in repr(auth) and TOKEN not in repr(auth)
