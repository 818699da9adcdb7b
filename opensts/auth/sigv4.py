"""Server-side AWS Signature Version 4 (``AWS4-HMAC-SHA256``) verification.

One function per step of AWS's "Create a signed AWS API request" document, so each step can be
checked against the published suite's ``*-canonical-request.txt`` / ``*-string-to-sign.txt``:

    canonical_uri -> canonical_query_string -> canonical_headers -> payload_hash
      -> canonical_request -> string_to_sign -> (SigningKeyCache.)signing_key -> signature

plus :func:`extract_auth` (find and parse the ``Authorization`` header or the presigned query
parameters) and :func:`verify` (time window, payload hash, constant-time signature check).

Decisions, and why
==================

Text on the wire.  ``HttpRequest`` carries ``str``; every str is mapped back to wire bytes as
ISO-8859-1 when all its code points are < 256 (the ASGI/Starlette convention of a str whose code
points *are* the received bytes) and as UTF-8 otherwise.  A caller that UTF-8-decoded a path or
header containing U+0080..U+00FF would get a mismatch; pass latin-1-decoded wire text.

Canonical URI.  Non-S3 rule: the path *as sent* (already percent-encoded) is normalised (dot
segments removed, ``//`` collapsed — botocore's ``normalize_url_path``) and then every byte outside
RFC 3986's unreserved set and ``/`` is percent-encoded, i.e. existing escapes are encoded a second
time (``%20`` -> ``%2520``), exactly what botocore / Go SDK clients sign for non-S3 services.
``normalize_path=False`` skips only the dot-segment step (the vectors' ``*-unnormalized`` cases).

Canonical query.  Each ``&``-separated pair is form-decoded (``+`` is a space, ``%XX`` a byte, an
invalid escape is a literal ``%``), re-encoded with upper-case hex, and sorted by encoded key then
value.  In the presigned form the first ``X-Amz-Signature`` pair is left out; any other copy stays
in and therefore breaks the signature.

Headers.  Values are trimmed and whitespace runs (SP, HTAB, and the CR/LF of obsolete folding)
collapse to one space; repeated headers are joined with ``,`` in arrival order.  Every name in
SignedHeaders must be present on the request (``host`` may come from ``:authority``); a signed but
absent header gives SignatureDoesNotMatch with the generic message (AWS's exact behaviour here is
unconfirmed).  ``host`` must be signed.

Payload hash.  ``x-amz-content-sha256`` when present: ``UNSIGNED-PAYLOAD`` is accepted (unless
``allow_unsigned_payload=False``), a 64-hex value must equal SHA-256 of the body, anything else is
refused.  Otherwise SHA-256 of the body.  Presigned requests: botocore's ``SigV4QueryAuth`` (and
the aws-c-auth query vectors) sign SHA-256 of the (empty) body, S3-style presigners sign
``UNSIGNED-PAYLOAD``; with an empty body both are accepted (nothing is left unauthenticated), with
a non-empty body only the real hash.

Time window.  STS accepts a request whose date is within 15 minutes of the server clock in either
direction.  Presigned URLs get the same window around ``X-Amz-Date`` and ``X-Amz-Expires`` is only
validated (integer 1..604800), not enforced: STS ignores it (aws/aws-sdk-go#2167; the comment in
aws-iam-authenticator ``pkg/token/token.go``: valid 15 minutes regardless, ``X-Amz-Expires=60``
is legacy) and EKS tokens rely on that.  An out-of-window presigned URL gets the same
"Signature expired ..." SignatureDoesNotMatch as a header-signed request: with STS's rule the two
cases are one check, and no distinct STS message for presigned expiry could be found.

Session token in the query.  Some AWS services accept an ``X-Amz-Security-Token`` appended *after*
presigning (aws-c-auth ``omit_session_token``; the classic suite's ``post-sts-header-after``
readme).  botocore, the Go SDKs and aws-iam-authenticator all sign it, so that is refused unless
``verify(..., allow_unsigned_query_token=True)``; the header form needs no switch (an unsigned
header is simply not part of the canonical request).

Errors and messages (codes from :mod:`opensts.protocol.errors`)::

    IncompleteSignature  "Unsupported AWS 'algorithm': 'X'."
                         "'p' not a valid key=value pair (missing equal-sign) in Authorization header: 'H'."
                         "Authorization header requires 'Credential' parameter. ... 'Signature' ...
                          'SignedHeaders' ... existence of either a 'X-Amz-Date' or a 'Date' header.
                          Authorization=H"
                         "AWS query-string parameters must include 'X-Amz-...'. ... Re-examine the
                          query-string parameters."
                         "Credential must have exactly 5 slash-delimited elements, e.g.
                          keyid/date/region/service/term, got 'C'"
                         "Date must be in ISO-8601 'basic format'. Got 'D'. See http://en.wikipedia.org/wiki/ISO_8601"
                         X-Amz-Expires: S3's wording (STS's own is unconfirmed)
    SignatureDoesNotMatch "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                         "Credential should be scoped with a valid terminator: 'aws4_request', not 'T'."
                         "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of
                          date from HTTP: 'S' != 'D', from 'DT'."
                         "Credential should be scoped to a valid region, not 'R'." (check_scope)
                         "Credential should be scoped to correct service: 'S'." (check_scope)
                         "Signature expired: T is now earlier than L (N - 15 min.)"
                         "Signature not yet current: T is still later than L (N + 15 min.)"
                         "The request signature we calculated does not match the signature you
                          provided. Check your AWS Secret Access Key and signing method. Consult
                          the service documentation for details."

Nothing here logs; no message contains the secret key.  Messages that quote the Authorization
header do so exactly as AWS does (the caller's own header echoed back).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from opensts.auth._canonical import (
    decode_query_component,
    remove_dot_segments,
    trimall,
    uri_encode,
    uri_encode_bytes,
    wire_bytes,
)
from opensts.frozen import frozen
from opensts.protocol.errors import IncompleteSignature, SignatureDoesNotMatch
from opensts.protocol.numbers import parse_ascii_int

__all__ = [
    "ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "EMPTY_SHA256",
    "MAX_SKEW",
    "HttpRequest",
    "SigV4Auth",
    "SigningKeyCache",
    "extract_auth",
    "verify",
    "check_scope",
    "canonical_uri",
    "canonical_query_string",
    "canonical_headers",
    "payload_hash",
    "canonical_request",
    "string_to_sign",
    "signing_key",
    "signature",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# STS's accepted clock difference, both directions, for header and presigned requests alike.
MAX_SKEW = timedelta(minutes=15)
# X-Amz-Expires range SigV4 allows (the signing key itself is only good for 7 days).
MAX_EXPIRES = 604800
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."

# The shape every SDK sends; anything else goes through the general (error-reporting) parser.
_WELL_FORMED_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=([0-9a-f]+)"
)
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", re.ASCII)  # int() would read any Unicode digit
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# Headers extract_auth looks at; everything else is only read when it is signed.
_AUTH_HEADERS = frozenset(("authorization", "x-amz-date", "date", "x-amz-security-token"))
_QUERY_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
_UTC = timezone.utc


@frozen
class HttpRequest:
    """A request as the server received it; nothing decoded, reordered or merged."""

    method: str  # "GET" / "POST" as received
    raw_path: str  # path exactly as on the wire (percent-encoded, no query)
    query_string: str  # raw query string as on the wire, no leading '?', may be ""
    headers: Sequence[tuple[str, str]]  # (name, value) as received, any case, duplicates kept in order
    body: bytes


@frozen
class SigV4Auth:
    """What the request claims: who signed, for which scope, over which headers, and when."""

    access_key_id: str
    scope_date: str  # yyyymmdd
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    request_time: datetime  # tz-aware UTC, from X-Amz-Date (header or query) or the Date header
    security_token: str | None  # X-Amz-Security-Token header or query parameter
    presigned: bool
    expires: int | None  # X-Amz-Expires when presigned

    def __repr__(self) -> str:  # never print the signature or the token
        return (
            f"SigV4Auth(access_key_id={self.access_key_id!r}, scope={self.scope_date}/{self.region}/"
            f"{self.service}, signed_headers={self.signed_headers!r}, presigned={self.presigned}, "
            f"request_time={_amz_date(self.request_time)}, expires={self.expires})"
        )


# --------------------------------------------------------------------------------------------
# Finding and parsing the signature
# --------------------------------------------------------------------------------------------


def _auth_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """First value of each header extract_auth cares about, keyed by lower-case name."""
    found: dict[str, str] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in _AUTH_HEADERS and lname not in found:
            found[lname] = value
    return found


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Raw ``(key, value)`` pairs in wire order; empty pieces (``&&``) are skipped."""
    pairs = []
    for piece in query_string.split("&"):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((key, value))
    return pairs


def _decode_str(raw: str) -> str:
    return decode_query_component(raw).decode("utf-8", "replace")


# Requests arriving in the same second share their date: parsing and formatting are memoised
# (bounded; cleared wholesale when full) because strftime alone costs more than an HMAC.
_DATE_CACHE_MAX = 4096
_parsed_dates: dict[str, datetime] = {}
_formatted_dates: dict[datetime, str] = {}


def _parse_amz_date(value: str) -> datetime | None:
    cached = _parsed_dates.get(value)
    if cached is not None:
        return cached
    m = _AMZ_DATE.fullmatch(value)
    if m is None:
        return None
    try:
        parsed = datetime(*map(int, m.groups()), tzinfo=_UTC)  # type: ignore[misc]
    except ValueError:
        return None
    if len(_parsed_dates) >= _DATE_CACHE_MAX:
        _parsed_dates.clear()
    _parsed_dates[value] = parsed
    return parsed


def _amz_date(moment: datetime) -> str:
    """``yyyymmddThhmmssZ`` of a UTC datetime, memoised."""
    text = _formatted_dates.get(moment)
    if text is None:
        text = f"{moment.astimezone(_UTC):{AMZ_DATE_FORMAT}}"
        if len(_formatted_dates) >= _DATE_CACHE_MAX:
            _formatted_dates.clear()
        _formatted_dates[moment] = text
    return text


def _parse_http_date(value: str) -> datetime | None:
    """The ``Date`` header: ISO-8601 basic, or the RFC 7231 IMF-fixdate browsers/SDKs send."""
    parsed = _parse_amz_date(value)
    if parsed is not None:
        return parsed
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    try:
        return parsed.astimezone(_UTC)
    except (ValueError, OverflowError):
        return None


def _bad_date(value: str) -> IncompleteSignature:
    return IncompleteSignature(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _check_credential_scope(scope_date: str, terminator: str, amz_date: str) -> None:
    problems = []
    if terminator != TERMINATOR:
        problems.append(f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'.")
    if scope_date != amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if problems:
        raise SignatureDoesNotMatch(" ".join(problems))


def _signed_header_names(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if "host" not in names and ":authority" not in names:
        raise SignatureDoesNotMatch(MSG_HOST_NOT_SIGNED)
    return names


def _parse_expires(value: str | None) -> int | None:
    """X-Amz-Expires: validated as SigV4 defines it (1..604800 s), not enforced (see module doc)."""
    if value is None:
        return None
    expires = parse_ascii_int(value, signed=True)
    if expires is None:
        raise IncompleteSignature("X-Amz-Expires should be a number")
    if expires < 0:
        raise IncompleteSignature("X-Amz-Expires must be non-negative")
    if expires == 0:
        raise IncompleteSignature("X-Amz-Expires must be greater than 0")
    if expires > MAX_EXPIRES:
        raise IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
            "less than 604800 seconds"
        )
    return expires


def extract_auth(req: HttpRequest) -> SigV4Auth | None:
    """Find and parse the request's SigV4 signature; ``None`` when it carries none at all.

    The ``Authorization`` header wins when present (query ``X-Amz-*`` parameters are then ordinary,
    signed parameters); otherwise a query with ``X-Amz-Algorithm`` or ``X-Amz-Signature`` is the
    presigned form.

    :raises IncompleteSignature: auth is present but malformed (AWS's messages, see module doc).
    :raises SignatureDoesNotMatch: ``host`` not signed, wrong scope terminator, scope date not the
        date of the request (AWS reports these as signature failures, not as malformed requests).
    """
    found = _auth_headers(req.headers)
    header = found.get("authorization")
    if header is not None:
        return _extract_from_header(header, found)
    qs = req.query_string
    if "X-Amz-Algorithm" not in qs and "X-Amz-Signature" not in qs:
        # Cheap rejection; a percent-encoded parameter *name* is not an auth parameter anyway.
        return None
    return _extract_from_query(qs)


def _extract_from_header(header: str, found: dict[str, str]) -> SigV4Auth:
    fast = _WELL_FORMED_AUTH.fullmatch(header)
    if fast is not None:
        credential, signed, sig = fast.groups()
        params = {"Credential": credential, "SignedHeaders": signed, "Signature": sig}
    else:
        params = _parse_authorization(header)
    return _auth_from_header_params(header, params, found)


def _parse_authorization(header: str) -> dict[str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            if not eq:
                raise IncompleteSignature(
                    f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                    f"'{header}'."
                )
            params.setdefault(key.strip(), value.strip())
    elif algorithm.startswith("AWS4-"):
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    # Not SigV4 at all (SigV2 "AWS key:sig", "Bearer ...", garbage): AWS answers with the
    # "requires ..." list, which the empty params produce below.
    return params


def _auth_from_header_params(header: str, params: dict[str, str], found: dict[str, str]) -> SigV4Auth:
    date_value = found.get("x-amz-date")
    from_amz = date_value is not None
    if date_value is None:
        date_value = found.get("date")
    missing = []
    if not params.get("Credential"):
        missing.append("Authorization header requires 'Credential' parameter.")
    if not params.get("Signature"):
        missing.append("Authorization header requires 'Signature' parameter.")
    if not params.get("SignedHeaders"):
        missing.append("Authorization header requires 'SignedHeaders' parameter.")
    if date_value is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        missing.append(f"Authorization={header}")
        raise IncompleteSignature(" ".join(missing))
    assert date_value is not None

    signed_headers = _signed_header_names(params["SignedHeaders"])
    request_time = _parse_amz_date(date_value) if from_amz else _parse_http_date(date_value)
    if request_time is None:
        raise _bad_date(date_value)
    return _scoped_auth(params["Credential"], date_value if from_amz else _amz_date(request_time), signed_headers,
                        params["Signature"], request_time, found.get("x-amz-security-token"), presigned=False,
                        expires=None)


def _extract_from_query(query_string: str) -> SigV4Auth | None:
    params: dict[str, str] = {}
    for raw_key, raw_value in _query_pairs(query_string):
        if raw_key.startswith("X-Amz-") and raw_key not in params:
            params[raw_key] = _decode_str(raw_value)
    if "X-Amz-Algorithm" not in params and "X-Amz-Signature" not in params:
        return None
    missing = [f"AWS query-string parameters must include '{p}'." for p in _QUERY_REQUIRED if not params.get(p)]
    if missing:
        missing.append("Re-examine the query-string parameters.")
        raise IncompleteSignature(" ".join(missing))
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    signed_headers = _signed_header_names(params["X-Amz-SignedHeaders"])
    date_value = params["X-Amz-Date"]
    request_time = _parse_amz_date(date_value)
    if request_time is None:
        raise _bad_date(date_value)
    expires = _parse_expires(params.get("X-Amz-Expires"))
    return _scoped_auth(params["X-Amz-Credential"], date_value, signed_headers, params["X-Amz-Signature"],
                        request_time, params.get("X-Amz-Security-Token"), presigned=True, expires=expires)


def _scoped_auth(credential: str, amz_date: str, signed_headers: tuple[str, ...], signature: str,
                 request_time: datetime, security_token: str | None, *, presigned: bool,
                 expires: int | None) -> SigV4Auth:
    """Both forms end alike: split the credential scope, check it against the request's date,
    and build the auth."""
    access_key_id, scope_date, region, service, terminator = _split_credential(credential)
    _check_credential_scope(scope_date, terminator, amz_date)
    return SigV4Auth(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=signature,
        request_time=request_time,
        security_token=security_token,
        presigned=presigned,
        expires=expires,
    )


def check_scope(auth: SigV4Auth, *, service: str, regions: object | None = None) -> None:
    """Optional scope policy for the caller: service must match, region must be in ``regions``.

    ``regions`` is any container supporting ``in`` (``None`` accepts any region).

    :raises SignatureDoesNotMatch: with AWS's combined "Credential should be scoped ..." message.
    """
    problems = []
    if regions is not None and auth.region not in regions:  # type: ignore[operator]
        problems.append(f"Credential should be scoped to a valid region, not '{auth.region}'.")
    if auth.service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'.")
    if problems:
        raise SignatureDoesNotMatch(" ".join(problems))


# --------------------------------------------------------------------------------------------
# The spec steps
# --------------------------------------------------------------------------------------------


def canonical_uri(raw_path: str, normalize: bool) -> str:
    """Step 2: the path, dot segments removed when ``normalize``, then URI-encoded (non-S3 rule)."""
    path = remove_dot_segments(raw_path) if normalize else (raw_path or "/")
    return uri_encode(path, keep_slash=True)


def canonical_query_string(query_string: str, *, presigned: bool = False, unsigned_token: bool = False) -> str:
    """Step 3: decoded, re-encoded, sorted ``key=value`` pairs joined by ``&``.

    ``presigned`` drops the first ``X-Amz-Signature`` pair; ``unsigned_token`` also drops the first
    ``X-Amz-Security-Token`` pair (a token appended after presigning).
    """
    if not query_string:
        return ""
    skip = set()
    if presigned:
        skip.add("X-Amz-Signature")
    if unsigned_token:
        skip.add("X-Amz-Security-Token")
    encoded = []
    for raw_key, raw_value in _query_pairs(query_string):
        if skip and raw_key in skip:
            skip.discard(raw_key)
            continue
        key = uri_encode(raw_key) if "%" not in raw_key and "+" not in raw_key else (
            uri_encode_bytes(decode_query_component(raw_key))
        )
        value = uri_encode(raw_value) if "%" not in raw_value and "+" not in raw_value else (
            uri_encode_bytes(decode_query_component(raw_value))
        )
        encoded.append((key, value))
    encoded.sort()
    return "&".join([f"{k}={v}" for k, v in encoded])


def canonical_headers(headers: Sequence[tuple[str, str]], signed_headers: Sequence[str]) -> str:
    """Step 4: ``name:trimall(value)[,...]\\n`` for every signed header, in SignedHeaders order.

    :raises SignatureDoesNotMatch: a signed header is absent from the request.
    """
    wanted = set(signed_headers)
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in wanted:
            if lname in values:
                values[lname].append(trimall(value))
            else:
                values[lname] = [trimall(value)]
    if "host" in wanted and "host" not in values:
        for name, value in headers:  # HTTP/2: the authority pseudo-header stands in for Host
            if name == ":authority":
                values["host"] = [trimall(value)]
                break
    lines = []
    for name in signed_headers:
        bucket = values.get(name)
        if bucket is None:
            raise SignatureDoesNotMatch(MSG_MISMATCH)
        lines.append(f"{name}:{','.join(bucket)}\n")
    return "".join(lines)


def payload_hash(req: HttpRequest, auth: SigV4Auth, *, allow_unsigned_payload: bool = True) -> str:
    """Step 6: the hash the signer put last in the canonical request.

    ``x-amz-content-sha256`` when present (``UNSIGNED-PAYLOAD`` or the body's real SHA-256),
    otherwise SHA-256 of the body (presigned too: that is what botocore's presigner signs; the
    UNSIGNED-PAYLOAD alternative for empty presigned bodies is tried by :func:`verify`).

    :raises SignatureDoesNotMatch: the header names a hash that is not the body's, or a value this
        service does not accept (streaming/chunked payload modes, or UNSIGNED-PAYLOAD when disabled).
    """
    declared = None
    for name, value in req.headers:
        if len(name) == 20 and name.lower() == "x-amz-content-sha256":
            declared = value.strip()
            break
    if declared is None:
        return hashlib.sha256(req.body).hexdigest() if req.body else EMPTY_SHA256
    if declared == UNSIGNED_PAYLOAD:
        if allow_unsigned_payload:
            return declared
        raise SignatureDoesNotMatch(MSG_MISMATCH)
    if _HEX64.fullmatch(declared) and declared.lower() == hashlib.sha256(req.body).hexdigest():
        return declared
    raise SignatureDoesNotMatch(MSG_MISMATCH)


def canonical_request(
    req: HttpRequest,
    auth: SigV4Auth,
    normalize_path: bool,
    *,
    payload: str | None = None,
    unsigned_token: bool = False,
) -> str:
    """Steps 1-6 joined: method, URI, query, headers, signed headers, payload hash."""
    if payload is None:
        payload = payload_hash(req, auth)
    return "\n".join(
        (
            req.method,
            canonical_uri(req.raw_path, normalize_path),
            canonical_query_string(req.query_string, presigned=auth.presigned, unsigned_token=unsigned_token),
            canonical_headers(req.headers, auth.signed_headers),
            ";".join(auth.signed_headers),
            payload,
        )
    )


def string_to_sign(auth: SigV4Auth, canonical_request: str) -> str:
    """Step 7: algorithm, request date, credential scope, hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(wire_bytes(canonical_request)).hexdigest()
    return (
        f"{ALGORITHM}\n{_amz_date(auth.request_time)}\n"
        f"{auth.scope_date}/{auth.region}/{auth.service}/{TERMINATOR}\n{digest}"
    )


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Step 8a: HMAC chain ``AWS4<secret>`` -> date -> region -> service -> ``aws4_request``."""
    key = hmac.digest(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def signature(key: bytes, sts: str) -> str:
    """Step 8b: lower-case hex HMAC-SHA256 of the string to sign."""
    return hmac.digest(key, sts.encode("utf-8"), "sha256").hex()


class SigningKeyCache:
    """Bounded LRU of derived signing keys per (secret, date, region, service).

    A key is valid for one scope day, so a hit saves four HMACs on every request of the day.  Next
    to the key it keeps an HMAC object already keyed with it: copying that is cheaper than keying a
    fresh HMAC for the final signature.  A lock guards the dict so worker threads may share one
    instance; under asyncio it is uncontended.
    """

    __slots__ = ("_maxsize", "_entries", "_lock")

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, str, str], tuple[bytes, hmac.HMAC]] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, secret: str, date: str, region: str, service: str) -> tuple[bytes, hmac.HMAC]:
        ident = (secret, date, region, service)
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None:
                self._entries.move_to_end(ident)
                return entry
        key = signing_key(secret, date, region, service)
        entry = (key, hmac.new(key, digestmod=hashlib.sha256))
        with self._lock:
            self._entries[ident] = entry
            if len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return entry

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        return self._entry(secret, date, region, service)[0]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:  # never show the secrets held as keys
        return f"SigningKeyCache(size={len(self._entries)}, maxsize={self._maxsize})"


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _check_time(request_time: datetime, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)
    earliest = now - MAX_SKEW
    if request_time < earliest:
        raise SignatureDoesNotMatch(
            f"Signature expired: {request_time:{AMZ_DATE_FORMAT}} is now earlier than "
            f"{earliest.astimezone(_UTC):{AMZ_DATE_FORMAT}} ({now.astimezone(_UTC):{AMZ_DATE_FORMAT}} - 15 min.)"
        )
    latest = now + MAX_SKEW
    if request_time > latest:
        raise SignatureDoesNotMatch(
            f"Signature not yet current: {request_time:{AMZ_DATE_FORMAT}} is still later than "
            f"{latest.astimezone(_UTC):{AMZ_DATE_FORMAT}} ({now.astimezone(_UTC):{AMZ_DATE_FORMAT}} + 15 min.)"
        )


def verify(
    req: HttpRequest,
    auth: SigV4Auth,
    secret_access_key: str,
    *,
    now: datetime,
    normalize_path: bool = True,
    key_cache: SigningKeyCache | None = None,
    allow_unsigned_payload: bool = True,
    allow_unsigned_query_token: bool = False,
) -> None:
    """Check ``auth`` against ``req`` with the caller's secret; return ``None`` when valid.

    ``now`` is the server clock (tz-aware; naive means UTC).  Region/service policy is the
    caller's (see :func:`check_scope`).

    :raises SignatureDoesNotMatch: outside the 15-minute window, payload hash lies, a signed
        header is missing, or the signature differs.
    """
    _check_time(auth.request_time, now)
    if key_cache is not None:
        keyed = key_cache._entry(secret_access_key, auth.scope_date, auth.region, auth.service)[1]
    else:
        keyed = hmac.new(
            signing_key(secret_access_key, auth.scope_date, auth.region, auth.service), digestmod=hashlib.sha256
        )
    payload = payload_hash(req, auth, allow_unsigned_payload=allow_unsigned_payload)
    provided = auth.signature.encode("utf-8", "replace")

    attempts = [(payload, False)]
    if auth.presigned:
        if payload == EMPTY_SHA256 and not req.body:
            attempts.append((UNSIGNED_PAYLOAD, False))
        if allow_unsigned_query_token and auth.security_token is not None:
            attempts += [(p, True) for p, _ in list(attempts)]
    for candidate, unsigned_token in attempts:
        creq = canonical_request(req, auth, normalize_path, payload=candidate, unsigned_token=unsigned_token)
        mac = keyed.copy()
        mac.update(string_to_sign(auth, creq).encode("utf-8"))
        if hmac.compare_digest(mac.hexdigest().encode("ascii"), provided):
            return
    raise SignatureDoesNotMatch(MSG_MISMATCH)
