"""The credential scope (``AKID/date/region/service/aws4_request``) and signed-header list, read and
checked alike for the header and the presigned form; ``check_scope`` is the caller's policy.
"""

from __future__ import annotations

from datetime import datetime

from opensts.auth.sigv4.request import MSG_HOST_NOT_SIGNED, TERMINATOR, SigV4Auth
from opensts.protocol.errors import IncompleteSignature, SignatureDoesNotMatch

def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _check_credential_scope(scope_date: str, terminator: str, amz_date: str) -> None:
    problems = []
    if terminator != TERMINATOR:
        problems.append(f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'.")
    if scope_date != amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if problems:
        raise SignatureDoesNotMatch(" ".join(problems))


def _signed_header_names(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if "host" not in names and ":authority" not in names:
        raise SignatureDoesNotMatch(MSG_HOST_NOT_SIGNED)
    return names


def _scoped_auth(credential: str, amz_date: str, signed_headers: tuple[str, ...], signature: str,
                 request_time: datetime, security_token: str | None, *, presigned: bool,
                 expires: int | None) -> SigV4Auth:
    """Both forms end alike: split the credential scope, check it against the request's date,
    and build the auth."""
    access_key_id, scope_date, region, service, terminator = _split_credential(credential)
    _check_credential_scope(scope_date, terminator, amz_date)
    return SigV4Auth(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=signature,
        request_time=request_time,
        security_token=security_token,
        presigned=presigned,
        expires=expires,
    )


def check_scope(auth: SigV4Auth, *, service: str, regions: object | None = None) -> None:
    """Optional scope policy for the caller: service must match, region must be in ``regions``.

    ``regions`` is any container supporting ``in`` (``None`` accepts any region).

    :raises SignatureDoesNotMatch: with AWS's combined "Credential should be scoped ..." message.
    """
    problems = []
    if regions is not None and auth.region not in regions:  # type: ignore[operator]
        problems.append(f"Credential should be scoped to a valid region, not '{auth.region}'.")
    if auth.service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'.")
    if problems:
        raise SignatureDoesNotMatch(" ".join(problems))
