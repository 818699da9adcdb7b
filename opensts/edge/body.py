"""Reading an ASGI request's body whole, bounded: the worker's app and the control worker's relay
endpoint (edge/control_relay.py) both do, before anything acts on it."""

from __future__ import annotations

from typing import Any

from opensts.protocol.errors import ServiceError

__all__ = ["IncompleteBody", "RequestTooLarge", "read_body"]


class RequestTooLarge(ServiceError):
    code = "RequestEntityTooLarge"
    status = 413


class IncompleteBody(ServiceError):
    """The client went away (or was cut off by the request deadline) before its body ended:
    nothing of the request may run on a truncated body."""

    code = "IncompleteBody"
    status = 400


async def read_body(receive: Any, limit: int) -> bytes:
    """An ASGI request's whole body, at most ``limit`` bytes (RequestTooLarge past it); a client
    gone before its end is IncompleteBody."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise IncompleteBody("The request body ended before its Content-Length")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
