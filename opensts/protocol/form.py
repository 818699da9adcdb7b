"""Decode ``application/x-www-form-urlencoded`` bytes: a POST body or a raw GET query string.

Rules (the awsQuery wire form every SDK emits, plus what a hand-written GET may contain):

* pairs are split on ``&``; the first ``=`` separates key from value; a pair without ``=`` is a key
  with an empty value; empty pairs (``a=1&&b=2``) and pairs with an empty key are skipped;
* ``+`` is a space and ``%XX`` is a byte; the resulting bytes must be UTF-8. Unescaping only runs on
  parts that contain ``%`` or ``+`` (the common case is plain ASCII and costs one split);
* **duplicate keys: the first occurrence wins.** AWS documents no rule; Java servlet containers (which
  Coral-era front ends sit on) return the first value from ``getParameter``, and first-wins means a
  value appended after a signed body cannot silently override an earlier one. SigV4 verification
  canonicalises the raw query separately, so this choice does not affect signatures;
* a malformed escape (``%``, ``%4``, ``%zz``) or bytes that are not UTF-8 → ``MalformedQueryString``
  (AWS's common error for "the query string contains a syntax error"; the shared ``errors.py`` gives it
  AWS's documented HTTP status);
* more than ``MAX_FORM_BYTES`` bytes or ``MAX_FORM_PAIRS`` pairs → ``InvalidQueryParameter`` (400). The
  edge should cap the body earlier; this is the protocol layer's own guard.
"""

from __future__ import annotations

from .errors import InvalidQueryParameter, MalformedQueryString

__all__ = ["parse_form", "MAX_FORM_BYTES", "MAX_FORM_PAIRS"]

#: Largest body/query we decode. IAM policy documents (up to 131,072 characters) percent-encode to at
#: most ~400 KB and a SAML assertion (≤100,000 characters of base64) to ~110 KB; 1 MiB leaves headroom.
MAX_FORM_BYTES = 1 << 20
#: Largest number of ``key=value`` pairs (IAM SimulatePrincipalPolicy with many context entries and
#: resource ARNs stays far below this).
MAX_FORM_PAIRS = 10_000

# Two hex digits (either case) → the byte they encode. A dict lookup per escape is several times
# faster than ``urllib.parse.unquote`` (which also silently keeps malformed escapes).
_HEX_BYTE = {f"{i:02{c}}".encode(): bytes([i]) for i in range(256) for c in "xX"}
_HEX_BYTE.update({f"{i >> 4:x}{i & 15:X}".encode(): bytes([i]) for i in range(256)})
_HEX_BYTE.update({f"{i >> 4:X}{i & 15:x}".encode(): bytes([i]) for i in range(256)})


def _unescape(part: str) -> str:
    if "+" in part:
        part = part.replace("+", " ")
    if "%" in part:
        chunks = part.encode("utf-8").split(b"%")
        out = [chunks[0]]
        get = _HEX_BYTE.get
        for chunk in chunks[1:]:
            byte = get(chunk[:2])
            if byte is None:
                raise MalformedQueryString("The query string contains a syntax error: invalid percent-encoding.")
            out.append(byte)
            out.append(chunk[2:])
        try:
            part = b"".join(out).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedQueryString("The query string contains a syntax error: invalid UTF-8.") from None
    return part


def parse_form(raw: bytes) -> dict[str, str]:
    """Decode a form body / raw query string into ``{key: value}`` (first occurrence of a key wins)."""
    if len(raw) > MAX_FORM_BYTES:
        raise InvalidQueryParameter(f"The request is too large: more than {MAX_FORM_BYTES} bytes.")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedQueryString("The query string contains a syntax error: invalid UTF-8.") from None
    out: dict[str, str] = {}
    if not text:
        return out
    pairs = text.split("&")
    if len(pairs) > MAX_FORM_PAIRS:
        raise InvalidQueryParameter(f"The request has too many parameters: more than {MAX_FORM_PAIRS}.")
    setdefault = out.setdefault
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = _unescape(key)
        if not key:
            continue
        if "%" in value or "+" in value:
            value = _unescape(value)
        setdefault(key, value)
    return out
