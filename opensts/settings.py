"""Settings: one frozen object that the CLI, the environment and tests all funnel into.

The server is built from a ``Settings`` alone, so tests construct servers without touching the
environment. ``DEFAULT_PORT`` 8600 was chosen to stay clear of LocalStack's 4566 and moto's 5000.
"""

from __future__ import annotations

import os
import re
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from opensts.frozen import frozen

if TYPE_CHECKING:
    from opensts.config import FileConfig

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Listener", "Settings", "parse_listen", "default_data_dir"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600
DATA_DIR_ENV = "OPENSTS_DATA_DIR"
CLOCK_OFFSET_ENV = "OPENSTS_CLOCK_OFFSET_SECONDS"
REQUEST_TIMEOUT_ENV = "OPENSTS_REQUEST_TIMEOUT_SECONDS"

_LISTEN_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:=\[\]]+))?(?::(?P<port>\d{1,5}))?(?:=(?P<region>[a-z0-9-]+))?$")


@frozen
class Listener:
    """A socket to accept requests on; ``region`` marks it as that Region's fleet entry point."""

    host: str
    port: int
    region: str | None = None

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


@frozen
class Settings:
    data_dir: Path
    listeners: tuple[Listener, ...] = (Listener(DEFAULT_HOST, DEFAULT_PORT),)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = 1
    clock_offset: float = 0.0  # seconds added to the server clock (a testing aid for expiry)
    cache_check_interval: float = 1.0
    max_body_bytes: int = 1 << 20
    max_request_head_bytes: int = 64 << 10  # request line + header fields, and chunk framing + trailers (431/414)
    max_header_fields: int = 100
    # seconds for a request to arrive whole, head and body, from its first byte (408 past it)
    request_timeout: float = field(default_factory=lambda: request_timeout_from_env())
    config: FileConfig = field(default_factory=lambda: _default_config())
    public_url: str | None = None  # base of outbound-federation issuer URLs (default: first listener)
    ca_bundle: Path | None = None  # extra trusted CAs for fetching IdP discovery/JWKS documents
    audit: bool = True  # record every call in the audit journal (off only for benchmarking)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def issuer_base_url(self) -> str:
        return (self.public_url or self.endpoint_url()).rstrip("/")

    def endpoint_url(self, listener: Listener | None = None) -> str:
        lst = listener or self.listeners[0]
        host = "127.0.0.1" if lst.host in ("0.0.0.0", "") else ("::1" if lst.host == "::" else lst.host)
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{lst.port}"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or "./.opensts")


def clock_offset_from_env() -> float:
    return float(os.environ.get(CLOCK_OFFSET_ENV) or 0)


def request_timeout_from_env() -> float:
    """``$OPENSTS_REQUEST_TIMEOUT_SECONDS`` (more than 0, at most a day), else 30."""
    raw = os.environ.get(REQUEST_TIMEOUT_ENV) or "30"
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86400:
        raise SystemExit(f"error: {REQUEST_TIMEOUT_ENV} must be a number of seconds in (0, 86400], got {raw!r}")
    return value


def parse_listen(value: str) -> Listener:
    """``HOST:PORT[=REGION]``, ``:PORT``, ``HOST``, ``[::1]:PORT=REGION``."""
    match = _LISTEN_RE.match(value.strip())
    if not match or not (match["v6"] or match["host"] or match["port"]):
        raise ValueError(f"--listen expects HOST:PORT[=REGION], got {value!r}")
    host = match["v6"] or match["host"] or DEFAULT_HOST
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return Listener(host, port, match["region"])


def _default_config() -> FileConfig:
    """Imported on use: the config module pulls in the wire protocol and the policy engine,
    which commands such as ``opensts audit endpoints`` never need (a tenth of a second)."""
    from opensts.config import FileConfig

    return FileConfig()
