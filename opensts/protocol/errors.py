"""AWS errors as values: every refusal OpenSTS gives is a ``ServiceError``.

The wire layer renders any ``ServiceError`` as AWS's ``ErrorResponse`` (XML, or JSON when the
client asked for it); anything else that escapes a handler is our bug and becomes
``InternalFailure`` (HTTP 500, ``Receiver``) without a stack trace on the wire.

Hierarchy (code, HTTP status)::

    ServiceError
     ├─ protocol:  MissingAction 400, InvalidAction 400, MalformedQueryString 404,
     │             InvalidQueryParameter 400, MalformedInput 400, ValidationError 400,
     │             MissingParameter 400, InvalidParameterValue 400
     ├─ auth:      MissingAuthenticationToken 403, IncompleteSignature 400,
     │             InvalidClientTokenId 403, SignatureDoesNotMatch 403, ExpiredToken 403
     ├─ policy:    AccessDenied 403
     ├─ quota:     Throttling 400
     └─ server:    InternalFailure 500, ServiceUnavailable 503  (Type = Receiver)

Operation-specific (modelled) errors such as ``MalformedPolicyDocument`` or
``RegionDisabledException`` are built with ``ServiceError(code, message, status)`` or
``protocol.model.modelled_error()``, which takes the status from the service model (this module
imports nothing of the model: errors are the bottom of the protocol package).
"""

from __future__ import annotations

__all__ = [
    "ServiceError",
    "MissingAction",
    "InvalidAction",
    "MalformedQueryString",
    "InvalidQueryParameter",
    "MalformedInput",
    "ValidationError",
    "MissingParameter",
    "InvalidParameterValue",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "AccessDenied",
    "Throttling",
    "InternalFailure",
    "ServiceUnavailable",
]


class ServiceError(Exception):
    """An error AWS would answer with: wire ``code``, HTTP ``status`` and ``message``.

    ``sender_fault`` decides ``<Type>Sender</Type>`` versus ``Receiver``.
    """

    code: str = "InternalFailure"
    status: int = 500
    sender_fault: bool = True

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault

    @property
    def error_type(self) -> str:
        """The ``<Type>`` element: who is at fault."""
        return "Sender" if self.sender_fault else "Receiver"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


def _error(name: str, status: int, sender: bool = True) -> type[ServiceError]:
    return type(name, (ServiceError,), {"code": name, "status": status, "sender_fault": sender})


MissingAction = _error("MissingAction", 400)
InvalidAction = _error("InvalidAction", 400)
MalformedQueryString = _error("MalformedQueryString", 404)
InvalidQueryParameter = _error("InvalidQueryParameter", 400)
#: The query deserializer's refusal (before any validation), e.g. ``0 is not a valid index``.
MalformedInput = _error("MalformedInput", 400)
ValidationError = _error("ValidationError", 400)
MissingParameter = _error("MissingParameter", 400)
InvalidParameterValue = _error("InvalidParameterValue", 400)
MissingAuthenticationToken = _error("MissingAuthenticationToken", 403)
IncompleteSignature = _error("IncompleteSignature", 400)
InvalidClientTokenId = _error("InvalidClientTokenId", 403)
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403)
ExpiredToken = _error("ExpiredToken", 403)
AccessDenied = _error("AccessDenied", 403)
Throttling = _error("Throttling", 400)
InternalFailure = _error("InternalFailure", 500, sender=False)
#: An operation of the model that this server does not implement (yet): HTTP 501, like S3's.
NotImplementedYet = type("NotImplementedYet", (ServiceError,), {"code": "NotImplemented", "status": 501})
ServiceUnavailable = _error("ServiceUnavailable", 503, sender=False)

