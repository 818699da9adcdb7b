"""IAM's keyset pages: the Marker names a position (the sort key of the last item returned)
in one listing, and each page is read from the database after that position.

WHY: a page must cost its own size, not the store's (issue 19). Every listing that can grow
with the account (roles, users, policies, groups, instance profiles, certificates, MFA devices,
group members, a policy's entities, an account's authorization details) runs through
``keyset_page``: one query per source per page (``limit + 1`` rows tell whether more follow),
and whatever the page needs besides (tags, counts) is read for the page's items in one query.

A Marker is ``base64url(check ‖ JSON [listing, source, *key])``. ``check`` (a keyed BLAKE2b of
the rest) catches truncated, edited or foreign markers; the decoded value is then strictly
validated (listing name, source index, key arity and types). It is an integrity check, not a
secret: a marker only positions a listing that every query already confines to the caller's
account, so a forged one can reveal nothing. Any marker that fails gets the error IAM gives for
a bad Marker (``InvalidInput``, "Invalid Marker.").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from opensts.protocol.errors import ServiceError
from opensts.store.keyset import Key

__all__ = ["Source", "keyset_page", "encode_marker", "decode_marker", "MARKER_MAX"]

T = TypeVar("T")
MARKER_MAX = 320  # botocore's markerType
_CHECK = 8
_PERSON = b"opensts-marker"


@dataclass(frozen=True)
class Source(Generic[T]):
    """One ordered run of a listing: ``fetch(after, limit)`` reads at most ``limit`` items whose
    key follows ``after`` (None: from the start), in key order; ``key(item)`` is that key."""

    fetch: Callable[[Key | None, int], Sequence[T]]
    key: Callable[[T], Key]
    arity: int = 1


def _bad() -> ServiceError:
    return ServiceError("Invalid Marker.", code="InvalidInput", status=400)


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECK, person=_PERSON).digest()


def encode_marker(listing: str, source: int, key: Key) -> str:
    payload = json.dumps([listing, source, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(_check(payload) + payload).decode("ascii").rstrip("=")


def decode_marker(listing: str, marker: str, sources: Sequence[Source[Any]]) -> tuple[int, Key]:
    """(source index, key) of a marker of ``listing``; InvalidInput for anything else."""
    if not marker or len(marker) > MARKER_MAX or not marker.isascii():
        raise _bad()
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
    except (binascii.Error, ValueError):
        raise _bad() from None
    check, payload = raw[:_CHECK], raw[_CHECK:]
    if len(check) != _CHECK or not hmac.compare_digest(check, _check(payload)):
        raise _bad()
    try:
        value = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError):
        raise _bad() from None
    if not isinstance(value, list) or len(value) < 3 or value[0] != listing:
        raise _bad()
    source = value[1]
    if type(source) is not int or not 0 <= source < len(sources):
        raise _bad()
    key = tuple(value[2:])
    if len(key) != sources[source].arity or not all(type(k) in (str, int) for k in key):
        raise _bad()
    return source, key


def keyset_page(params: dict[str, Any], listing: str, sources: Sequence[Source[T]],
                default_max: int = 100) -> tuple[list[T], dict[str, Any]]:
    """One page of ``listing``: the sources in order (a listing of several kinds continues from
    one to the next), ``MaxItems`` (default ``default_max``) items at most, and ``IsTruncated`` /
    ``Marker`` as IAM answers them. At most ``len(sources)`` queries."""
    marker = params.get("Marker")
    start, after = (0, None) if marker is None else decode_marker(listing, marker, sources)
    size = params.get("MaxItems") or default_max
    chunk: list[T] = []
    last: tuple[int, T] | None = None
    for index in range(start, len(sources)):
        room = size - len(chunk)
        rows = list(sources[index].fetch(after if index == start else None, room + 1))
        chunk += rows[:room]
        if rows[:room]:
            last = (index, rows[room - 1] if len(rows) > room else rows[-1])
        if len(rows) > room and last is not None:  # one more item follows this page
            return chunk, {"IsTruncated": True,
                           "Marker": encode_marker(listing, last[0], sources[last[0]].key(last[1]))}
    return chunk, {"IsTruncated": False}
