"""Split-horizon DNS for child processes (the AWS CLI) in the Region tests.

Loaded automatically when this folder is on PYTHONPATH; reads ``OPENSTS_TEST_RESOLVE``, a JSON
object ``{"hostname": ["127.0.0.1", port]}``, and answers those names with that loopback
address and port — what DNS inside a Region's network would do, pointed at our listeners.
"""

import json
import os
import socket

_MAP = json.loads(os.environ.get("OPENSTS_TEST_RESOLVE") or "{}")
_original = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    target = _MAP.get(host.lower() if isinstance(host, str) else host)
    if target:
        return _original(target[0], target[1], *args, **kwargs)
    return _original(host, port, *args, **kwargs)


if _MAP:
    socket.getaddrinfo = _getaddrinfo
