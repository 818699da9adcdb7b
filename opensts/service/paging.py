"""Keyset pages of any listing, whatever the API: a page token names a position (the sort key of
the last item returned) in one listing, and each page is read from the database after it.

WHY: a page must cost its own size, not the store's (issue 19). A listing is one or more
``Source``s (a listing of several kinds continues from one to the next); ``next_page`` reads at
most one query per source per page (``limit + 1`` rows tell whether more follow).

A token is ``base64url(check ‖ JSON [listing, source, *key])``. ``check`` (a keyed BLAKE2b of the
rest) catches truncated, edited or foreign tokens; the decoded value is then strictly validated
(listing name, source index, key arity and types). It is an integrity check, not a secret: a
token only positions a listing that every query already confines to the caller's account (or
organization), so a forged one can reveal nothing. The API's own error for a bad token is the
caller's ``invalid`` (IAM: service/iam/paging.py; Organizations: organizations/_base.py).
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

from opensts.store.keyset import Key

__all__ = ["Source", "next_page", "encode_token", "decode_token"]

T = TypeVar("T")
_CHECK = 8
_PERSON = b"opensts-marker"


@dataclass(frozen=True)
class Source(Generic[T]):
    """One ordered run of a listing: ``fetch(after, limit)`` reads at most ``limit`` items whose
    key follows ``after`` (None: from the start), in key order; ``key(item)`` is that key."""

    fetch: Callable[[Key | None, int], Sequence[T]]
    key: Callable[[T], Key]
    arity: int = 1


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECK, person=_PERSON).digest()


def encode_token(listing: str, source: int, key: Key) -> str:
    payload = json.dumps([listing, source, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(_check(payload) + payload).decode("ascii").rstrip("=")


def decode_token(listing: str, marker: str, sources: Sequence[Source[Any]], invalid: Callable[[], Exception],
                 max_length: int) -> tuple[int, Key]:
    """(source index, key) of a token of ``listing``; ``invalid()`` raised for anything else."""
    if not marker or len(marker) > max_length or not marker.isascii():
        raise invalid()
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
    except (binascii.Error, ValueError):
        raise invalid() from None
    check, payload = raw[:_CHECK], raw[_CHECK:]
    if len(check) != _CHECK or not hmac.compare_digest(check, _check(payload)):
        raise invalid()
    try:
        value = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError):
        raise invalid() from None
    if not isinstance(value, list) or len(value) < 3 or value[0] != listing:
        raise invalid()
    source = value[1]
    if type(source) is not int or not 0 <= source < len(sources):
        raise invalid()
    key = tuple(value[2:])
    if len(key) != sources[source].arity or not all(type(k) in (str, int) for k in key):
        raise invalid()
    return source, key


def next_page(token: str | None, size: int, listing: str, sources: Sequence[Source[T]],
              invalid: Callable[[], Exception], max_length: int) -> tuple[list[T], str | None]:
    """At most ``size`` items from the position ``token`` names (None: the start), and the token
    of the next page (None: this is the last). At most ``len(sources)`` queries."""
    start, after = (0, None) if token is None else decode_token(listing, token, sources, invalid, max_length)
    chunk: list[T] = []
    last: tuple[int, T] | None = None
    for index in range(start, len(sources)):
        room = size - len(chunk)
        rows = list(sources[index].fetch(after if index == start else None, room + 1))
        chunk += rows[:room]
        if rows[:room]:
            last = (index, rows[room - 1] if len(rows) > room else rows[-1])
        if len(rows) > room and last is not None:  # one more item follows this page
            return chunk, encode_token(listing, last[0], sources[last[0]].key(last[1]))
    return chunk, None
