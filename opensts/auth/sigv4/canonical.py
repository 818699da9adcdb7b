"""Task 1 of the spec: the canonical request (URI, query, headers, signed headers, payload hash),
one function per step so each can be checked against the published suite's
``*-canonical-request.txt``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from opensts.auth._canonical import (
    decode_query_component,
    remove_dot_segments,
    trimall,
    uri_encode,
    uri_encode_bytes,
)
from opensts.auth.sigv4.request import EMPTY_SHA256, MSG_MISMATCH, UNSIGNED_PAYLOAD, HttpRequest, SigV4Auth, _query_pairs
from opensts.protocol.errors import SignatureDoesNotMatch

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


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
