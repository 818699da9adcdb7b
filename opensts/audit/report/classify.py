"""Global, regional or unknown: which STS endpoint one CloudTrail event reached.

Rules (sts-api.md §5.4–§5.5, §6.5): ``additionalEventData.RequestDetails.endpointType`` is the direct
indicator (2025 and later).  Older records only carry ``tlsDetails.clientProvidedHostHeader``: the
global host is ``sts.amazonaws.com`` — or ``sts-global.REGION.amazonaws.com`` when the global endpoint
was served locally (IAM guide example) — and a Regional host is ``sts.REGION.amazonaws.com``
(also ``sts-fips.``, ``.amazonaws.com.cn``, dual-stack ``.api.aws`` and interface VPC endpoint
names).  Records with neither (CloudTrail before ~2019, AWS-service calls) are *unknown*: never
guessed, because guessing would hide exactly the callers the report exists to find.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

from opensts.audit.report.record import StsRecord

__all__ = ["GLOBAL", "REGIONAL", "UNKNOWN", "STS_SOURCES", "classify_event", "classify_record", "classify_parts",
           "classify_host", "fast_regional", "regional_time_at"]

GLOBAL = "global"
REGIONAL = "regional"
UNKNOWN = "unknown"

#: eventSource values of STS events (China partition events use the same name; be lenient).
STS_SOURCES = frozenset({"sts.amazonaws.com", "sts.amazonaws.com.cn"})

_GLOBAL_HOSTS = frozenset({"sts.amazonaws.com"})
_SUFFIX = r"(?:amazonaws\.com(?:\.cn)?|api\.aws)"
_REGIONAL_HOST = re.compile(rf"^sts(?:-fips)?\.([a-z0-9-]+)\.{_SUFFIX}$")
_VPCE_HOST = re.compile(r"^vpce-[a-z0-9-]+\.sts(?:-fips)?\.([a-z0-9-]+)\.vpce\.amazonaws\.com(?:\.cn)?$")
_SERVED_GLOBAL_HOST = re.compile(r"^sts-global\.([a-z0-9-]+)\.")


@lru_cache(maxsize=4096)
def classify_host(host: str | None) -> tuple[str, str | None]:
    """(class, Region named by the host) for a ``clientProvidedHostHeader`` value.

    Cached: a trail has a handful of distinct hosts and millions of events.
    """
    if not host:
        return UNKNOWN, None
    h = host.strip().lower().rstrip(".")
    if ":" in h and not h.startswith("["):  # drop an explicit port ("sts.amazonaws.com:443")
        h = h.split(":", 1)[0]
    if h in _GLOBAL_HOSTS:
        return GLOBAL, None
    if h.startswith("sts-global."):
        m = _SERVED_GLOBAL_HOST.match(h)
        return GLOBAL, (m.group(1) if m else None)
    m = _REGIONAL_HOST.match(h) or _VPCE_HOST.match(h)
    if m:
        return REGIONAL, m.group(1)
    return UNKNOWN, None


def _as_dict(value: Any) -> dict[str, Any] | None:
    """Some exporters (Athena, SIEMs) store nested objects as JSON strings: accept both."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def classify_event(record: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(class, serving Region or None, host or None) of one STS event (a parsed record)."""
    etype = serving = None
    aed = record.get("additionalEventData")
    if aed:
        aed = _as_dict(aed)
        if aed:
            details = _as_dict(aed.get("RequestDetails"))
            if details:
                etype = details.get("endpointType")
                serving = details.get("awsServingRegion")
    host = None
    tls = record.get("tlsDetails")
    if tls:
        tls = _as_dict(tls)
        if tls:
            host = tls.get("clientProvidedHostHeader")
    return classify_parts(etype, serving, host, record.get("awsRegion"))


def classify_record(record: StsRecord) -> tuple[str, str | None, str | None]:
    """:func:`classify_event` of a record decoded by ``record.decode_record``."""
    etype = serving = host = None
    aed = record.additionalEventData
    if aed is not None and aed.RequestDetails is not None:
        etype, serving = aed.RequestDetails.endpointType, aed.RequestDetails.awsServingRegion
    if record.tlsDetails is not None:
        host = record.tlsDetails.clientProvidedHostHeader
    return classify_parts(etype, serving, host, record.awsRegion)


def classify_parts(etype: Any, serving: Any, host: Any, region: Any) -> tuple[str, str | None, str | None]:
    """(class, serving Region or None, host or None) from the fields that decide it.

    The endpoint-type field wins over the host; the host decides when the field is absent or
    carries an unexpected value.  The serving Region is ``awsServingRegion`` when logged, else the
    Region in the host, else (regional events only) ``awsRegion``.
    """
    if not isinstance(host, str):
        host = None
    cls, host_region = classify_host(host)
    if isinstance(etype, str):
        e = etype.lower()
        if e == GLOBAL or e == REGIONAL:
            cls = e
    if not isinstance(serving, str) or not serving:
        serving = host_region
        if serving is None and cls == REGIONAL:
            serving = region if isinstance(region, str) else None
    return cls, serving, host


_STS_SOURCE_LIT = b'"eventSource":"sts.amazonaws.com"'
_EVENT_SOURCE_LIT = b'"eventSource"'
_ETYPE_LIT = b'"endpointType":'
_REGIONAL_VALUE = b'"regional"'
_TIME_LIT = b'"eventTime":"'


def fast_regional(piece: bytes) -> str | None:
    """The ``eventTime`` of a compactly written STS event that is regional *by its field*, else None.

    Why: in a migrated account nearly every STS event is regional, and regional events only feed the
    totals and the timeline — no caller details — so they need not be parsed at all.  Only the
    unambiguous case is taken: exactly one ``"endpointType":`` key, whose value is ``"regional"``,
    in a piece with exactly one ``eventSource``, written as STS.  (Inside a JSON string these quotes would be
    escaped, so the literals can only be real keys.)  Everything else is parsed normally.
    """
    return regional_time_at(piece, 0, len(piece))


def regional_time_at(buf: bytes, begin: int, end: int) -> str | None:
    """:func:`fast_regional` of ``buf[begin:end]``, without copying the piece out of its chunk.

    Each test is a bounded ``find`` (C speed); the order puts the ones that usually stop early
    (``eventSource`` and ``eventTime`` come first in AWS's records) after the one that rejects most.
    """
    i = buf.find(_ETYPE_LIT, begin, end)
    if i < 0:
        return None
    i += len(_ETYPE_LIT)
    if not buf.startswith(_REGIONAL_VALUE, i, end) or buf.find(_ETYPE_LIT, i, end) >= 0:
        return None
    s = buf.find(_STS_SOURCE_LIT, begin, end)
    if s < 0 or buf.find(_EVENT_SOURCE_LIT, begin, s) >= 0 \
            or buf.find(_EVENT_SOURCE_LIT, s + len(_STS_SOURCE_LIT), end) >= 0:
        return None  # not STS, or two records glued by an unexpected key order: parse them
    t = buf.find(_TIME_LIT, begin, end)
    if t < 0:
        return ""
    t += len(_TIME_LIT)
    q = buf.find(b'"', t, end)
    return buf[t:q].decode("ascii", "replace") if 0 < q - t < 40 else ""
