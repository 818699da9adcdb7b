"""Server-side AWS Signature Version 4 (``AWS4-HMAC-SHA256``) verification.

One module per step of AWS's "Create a signed AWS API request" document (as botocore's signer is
laid out), so each step can be checked against the published suite's ``*-canonical-request.txt`` /
``*-string-to-sign.txt``:

    canonical_uri -> canonical_query_string -> canonical_headers -> payload_hash
      -> canonical_request -> string_to_sign -> (SigningKeyCache.)signing_key -> signature

plus :func:`extract_auth` (find and parse the ``Authorization`` header or the presigned query
parameters) and :func:`verify` (time window, payload hash, constant-time signature check).

Modules: ``request`` (HttpRequest, SigV4Auth, constants, date formats) · ``extract`` (header form)
· ``presigned`` (query form) · ``scope`` (credential scope) · ``canonical`` (task 1) · ``signing``
(tasks 2-3) · ``verify``. This package's namespace is the public surface.

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

from opensts.auth.sigv4.canonical import (
    canonical_headers,
    canonical_query_string,
    canonical_request,
    canonical_uri,
    payload_hash,
)
from opensts.auth.sigv4.extract import extract_auth
from opensts.auth.sigv4.request import (
    ALGORITHM,
    AMZ_DATE_FORMAT,
    EMPTY_SHA256,
    MAX_EXPIRES,
    MAX_SKEW,
    MSG_HOST_NOT_SIGNED,
    MSG_MISMATCH,
    TERMINATOR,
    UNSIGNED_PAYLOAD,
    HttpRequest,
    SigV4Auth,
)
from opensts.auth.sigv4.scope import check_scope
from opensts.auth.sigv4.signing import SigningKeyCache, signature, signing_key, string_to_sign
from opensts.auth.sigv4.verify import _check_time, verify  # noqa: F401 - _check_time: tests pin its messages

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

