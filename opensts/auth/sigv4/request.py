"""The request facts SigV4 works on: ``HttpRequest`` (as received), ``SigV4Auth`` (what it claims),
the algorithm's constants and messages, and the wire formats of dates and query pairs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from opensts.auth._canonical import decode_query_component
from opensts.frozen import frozen
from opensts.protocol.errors import IncompleteSignature

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

_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", re.ASCII)  # int() would read any Unicode digit
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
