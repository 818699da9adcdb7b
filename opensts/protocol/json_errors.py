"""Error answers of the JSON protocols (JSON 1.1 and REST-JSON), in the shape botocore parses.

One place for what the Organizations, CloudTrail and Account edges all answer: ``__type`` (and,
for REST-JSON, the ``x-amzn-ErrorType`` header AWS sends) naming the error, the generic SigV4 and
identity errors under their JSON-protocol names, and a last-resort ``InternalFailure`` that is
still JSON (a JSON client cannot read an XML 500). The ASGI barrier may use ``json_error_body``
for the same purpose.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JSON_11", "REST_JSON", "json_code", "json_error_body", "json_error"]

JSON_11 = b"application/x-amz-json-1.1"
REST_JSON = b"application/json"
#: The awsQuery names of the generic errors, as the JSON protocols spell them.
_JSON_CODES = {"InvalidClientTokenId": "UnrecognizedClientException", "AccessDenied": "AccessDeniedException",
               "SignatureDoesNotMatch": "InvalidSignatureException"}


def json_code(code: str) -> str:
    """``code`` as a JSON-protocol service names it."""
    return _JSON_CODES.get(code, code)


def json_error_body(code: str, message: str, message_key: str = "message", **extra: Any) -> bytes:
    """``{"__type": code, "message": …}`` (+ members such as Organizations' ``Reason``)."""
    return json.dumps({"__type": code, message_key: message, **extra}).encode()


def json_error(code: str, message: str, status: int, *, rest: bool = False, message_key: str = "message",
               **extra: Any) -> tuple[int, bytes, bytes, dict[str, str]]:
    """(status, body, content type, headers) of one JSON-protocol error; ``rest`` for REST-JSON
    (``x-amzn-ErrorType`` header, ``application/json``)."""
    code = json_code(code)
    headers = {"x-amzn-errortype": code} if rest else {}
    return status, json_error_body(code, message, message_key, **extra), REST_JSON if rest else JSON_11, headers
