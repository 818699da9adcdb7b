"""The presigned form: ``X-Amz-*`` query parameters (the spec's "Add the signature to the query
string" variant). ``X-Amz-Expires`` is validated, not enforced (see the package doc).
"""

from __future__ import annotations

from opensts.auth.sigv4.request import (
    ALGORITHM,
    MAX_EXPIRES,
    SigV4Auth,
    _bad_date,
    _decode_str,
    _parse_amz_date,
    _query_pairs,
)
from opensts.auth.sigv4.scope import _scoped_auth, _signed_header_names
from opensts.protocol.errors import IncompleteSignature
from opensts.protocol.numbers import parse_ascii_int

_QUERY_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")


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
