"""The federation actions' modelled errors, with the wire codes and HTTP statuses of the STS
model botocore ships (sts-api.md §1.5)."""

from __future__ import annotations

from opensts.protocol.errors import ServiceError

__all__ = [
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "IDPRejectedClaim",
    "IDPCommunicationError",
    "OutboundWebIdentityFederationDisabled",
    "SessionDurationEscalation",
    "JWTPayloadSizeExceeded",
]


def _error(code: str, status: int) -> type[ServiceError]:
    return type(code, (ServiceError,), {"code": code, "status": status, "sender_fault": True})


InvalidIdentityToken = _error("InvalidIdentityToken", 400)
ExpiredTokenException = _error("ExpiredTokenException", 400)
IDPRejectedClaim = _error("IDPRejectedClaim", 403)
IDPCommunicationError = _error("IDPCommunicationError", 400)
OutboundWebIdentityFederationDisabled = _error("OutboundWebIdentityFederationDisabledException", 403)
SessionDurationEscalation = _error("SessionDurationEscalationException", 403)
JWTPayloadSizeExceeded = _error("JWTPayloadSizeExceededException", 400)
