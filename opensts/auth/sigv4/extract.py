"""Finding the signature: the ``Authorization`` header (parsed here) or the presigned query
(``presigned.py``); what either claims becomes one ``SigV4Auth``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from opensts.auth.sigv4.presigned import _extract_from_query
from opensts.auth.sigv4.request import (
    ALGORITHM,
    HttpRequest,
    SigV4Auth,
    _amz_date,
    _bad_date,
    _parse_amz_date,
    _parse_http_date,
)
from opensts.auth.sigv4.scope import _scoped_auth, _signed_header_names
from opensts.protocol.errors import IncompleteSignature

# The shape every SDK sends; anything else goes through the general (error-reporting) parser.
_WELL_FORMED_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=([0-9a-f]+)"
)
# Headers extract_auth looks at; everything else is only read when it is signed.
_AUTH_HEADERS = frozenset(("authorization", "x-amz-date", "date", "x-amz-security-token"))


def _auth_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """First value of each header extract_auth cares about, keyed by lower-case name."""
    found: dict[str, str] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in _AUTH_HEADERS and lname not in found:
            found[lname] = value
    return found


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
