"""SigV4 canonicalisation primitives: byte-exact encoding, path normalisation, whitespace folding.

Kept apart from :mod:`opensts.auth.sigv4` so the spec steps there read like AWS's document, and
so these hot helpers can be tuned (fast paths, precompiled patterns) without touching the steps.

Text convention (see the ``sigv4`` module docstring): every ``str`` that came off the wire is
mapped back to its wire bytes with :func:`wire_bytes` — ISO-8859-1 when it fits (the ASGI /
Starlette convention: a ``str`` whose code points are the received bytes), UTF-8 otherwise.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

__all__ = [
    "wire_bytes",
    "uri_encode",
    "uri_encode_bytes",
    "decode_query_component",
    "remove_dot_segments",
    "trimall",
]

# RFC 3986 section 2.3 unreserved characters: the only bytes SigV4 leaves un-escaped.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
# One precomputed escape per byte value; '%XX' with upper-case hex as SigV4 requires.
_ENCODE_TABLE: tuple[str, ...] = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))
_ENCODE_TABLE_PATH: tuple[str, ...] = tuple("/" if b == 0x2F else _ENCODE_TABLE[b] for b in range(256))

# Fast paths: strings that are already canonical need no byte-level work at all.
_ALL_UNRESERVED = re.compile(r"[A-Za-z0-9\-_.~]*")
_ALL_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9\-_.~/]*")
# Header-value whitespace: HTTP's SP/HTAB plus CR/LF left over from obsolete line folding.
_WS_RUN = re.compile(r"[ \t\r\n]+")
_WS_CHARS = " \t\r\n"


def wire_bytes(text: str) -> bytes:
    """The bytes ``text`` stood for on the wire (ISO-8859-1 if possible, else UTF-8)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def uri_encode_bytes(data: bytes, *, keep_slash: bool = False) -> str:
    """Percent-encode every byte outside the RFC 3986 unreserved set (``/`` kept if asked)."""
    table = _ENCODE_TABLE_PATH if keep_slash else _ENCODE_TABLE
    return "".join([table[b] for b in data])


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """:func:`uri_encode_bytes` of the wire bytes of ``text``, with an all-unreserved fast path."""
    if (_ALL_UNRESERVED_OR_SLASH if keep_slash else _ALL_UNRESERVED).fullmatch(text):
        return text
    return uri_encode_bytes(wire_bytes(text), keep_slash=keep_slash)


def decode_query_component(raw: str) -> bytes:
    """Form-decode one query key or value: ``+`` is a space, ``%XX`` a byte.

    A ``%`` not followed by two hex digits is kept literally (it re-encodes as ``%25``), so a
    malformed escape can only make the signature mismatch, never raise.
    """
    if "+" in raw:
        raw = raw.replace("+", " ")
    data = wire_bytes(raw)
    if b"%" not in data:
        return data
    return unquote_to_bytes(data)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 plus AWS's rule that empty segments (``//``) collapse.

    The same algorithm botocore's ``normalize_url_path`` applies on the client side: a trailing
    slash survives unless nothing but ``/`` is left; an empty path is ``/``.
    """
    if not path:
        return "/"
    if "." not in path and "//" not in path:
        return path
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def trimall(value: str) -> str:
    """SigV4 ``Trimall``: strip, then fold every run of whitespace (incl. old line folds) to one space."""
    value = value.strip(_WS_CHARS)
    if "  " in value or "\t" in value or "\n" in value or "\r" in value:
        return _WS_RUN.sub(" ", value)
    return value
