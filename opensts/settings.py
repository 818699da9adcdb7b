"""Settings: one frozen object that the CLI, the environment and tests all funnel into.

The server is built from a ``Settings`` alone, so tests construct servers without touching the
environment. ``DEFAULT_PORT`` 8600 was chosen to stay clear of LocalStack's 4566 and moto's 5000.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from opensts.frozen import frozen
from opensts.node import NodeRole

if TYPE_CHECKING:
    from opensts.config import FileConfig

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Listener", "Settings", "StartupError", "parse_listen", "default_data_dir",
           "check_environment", "check_master_key_file", "check_tls_files", "ENVIRONMENT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600
DATA_DIR_ENV = "OPENSTS_DATA_DIR"
CLOCK_OFFSET_ENV = "OPENSTS_CLOCK_OFFSET_SECONDS"
REQUEST_TIMEOUT_ENV = "OPENSTS_REQUEST_TIMEOUT_SECONDS"

_LISTEN_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:=\[\]]+))?(?::(?P<port>\d{1,5}))?(?:=(?P<region>[a-z0-9-]+))?\Z", re.ASCII)


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
    node: NodeRole = NodeRole()  # single server (every Region) unless --region makes it a fleet node
    metrics: bool = True  # GET /metrics (Prometheus, every worker's counts in one scrape); off: --no-metrics
    log_format: str = "text"  # "text" (today's output) or "json" (one object per line, one per request)
    metrics_listen: Listener | None = None  # GET /metrics there only (--metrics-listen), not on the API listeners
    shutdown_timeout: float = 10.0  # seconds a stop gives requests in flight and the last delivery round
    # The control worker's Unix socket (edge/control_relay.py), set by run_server when one runs:
    # the workers relay IAM, Organizations and Account calls there; None: they serve them themselves.
    control_socket: str | None = None

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


class StartupError(ValueError):
    """A start-up failure the user caused and can fix (bad option, config, environment, address).

    ``opensts serve`` prints it as one line, ``opensts: MESSAGE``, and exits non-zero — never a
    traceback. The message names the thing (key, variable, address, file) and, when it can, what
    to do instead.
    """


def request_timeout_from_env() -> float:
    """``$OPENSTS_REQUEST_TIMEOUT_SECONDS`` (more than 0, at most a day), else 30."""
    raw = os.environ.get(REQUEST_TIMEOUT_ENV) or "30"
    expected = _request_timeout(raw)
    if expected is not None:
        raise StartupError(f"environment variable {REQUEST_TIMEOUT_ENV}: expected {expected}")
    return float(raw)


def _request_timeout(value: str) -> str | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    return None if 0 < seconds <= 86400 else "a number of seconds in (0, 86400]"


def parse_listen(value: str) -> Listener:
    """``HOST:PORT[=REGION]``, ``:PORT``, ``HOST``, ``[::1]:PORT=REGION`` (the Region is checked
    against the catalog later, once the config file's partitions are known)."""
    match = _LISTEN_RE.match(value.strip())
    if not match or not (match["v6"] or match["host"] or match["port"]):
        raise StartupError(f"--listen expects HOST:PORT[=REGION], got {value!r}")
    host = match["v6"] or match["host"] or DEFAULT_HOST
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 0 <= port <= 65535:
        raise StartupError(f"--listen {value}: port {port} is out of range (0-65535)")
    return Listener(host, port, match["region"])


def check_tls_files(cert: Path, key: Path) -> None:
    """Load ``--tls-cert``/``--tls-key`` as the server will (in each worker, after the fork, where
    a bad file was a traceback per worker): unreadable, not PEM, or a key that does not match."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")  # encrypted: an error, not a prompt
    except ssl.SSLError as exc:
        reason = (exc.reason or "not a certificate and key").replace("_", " ").lower()
        raise StartupError(f"--tls-cert {cert} / --tls-key {key}: cannot load the certificate and key "
                           f"({reason}; both must be PEM files, the key unencrypted and matching the "
                           "certificate)") from None
    except OSError as exc:
        raise StartupError(f"--tls-cert {cert} / --tls-key {key}: cannot read them: "
                           f"{(exc.strerror or str(exc)).lower()}") from None


# ------------------------------------------------------------------------------------------------
# Environment variables: each known OPENSTS_* variable with the check of its value. Unknown
# OPENSTS_* names are left alone (other tools, e.g. the test suite, use the prefix too).
# ------------------------------------------------------------------------------------------------

_ACCOUNT_ID = re.compile(r"^\d{12}\Z", re.ASCII)
_ACCESS_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}\Z")  # IAM's AccessKeyId: [\w]+, 16-128; ours are upper-case


def _number(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return "a number of seconds (e.g. 1000 or -30.5)"
    return None if math.isfinite(number) else "a finite number of seconds"


def _positive_int(value: str) -> str | None:
    return None if value.isascii() and value.isdigit() and int(value) > 0 else "a whole number of seconds greater than 0"


def _master_key(value: str) -> str | None:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "base64 of 32 random bytes (e.g. `head -c 32 /dev/urandom | base64`); it is not base64"
    if len(key) != 32:
        return f"base64 of 32 random bytes; it decodes to {len(key)} bytes"
    return None


def _database_url(value: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError):
        return "a SQLAlchemy URL, e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/DB; it does not parse"
    return None


def _pattern(rx: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    return lambda value: None if rx.match(value) else what


#: variable → check of a non-empty value (None when fine, else what was expected). Values are
#: never echoed: some are secrets.
ENVIRONMENT: dict[str, Callable[[str], str | None]] = {
    DATA_DIR_ENV: lambda value: None,
    CLOCK_OFFSET_ENV: _number,
    "OPENSTS_MASTER_KEY": _master_key,
    "OPENSTS_DATABASE_URL": _database_url,
    "OPENSTS_CA_BUNDLE": lambda value: None,  # checked by --ca-bundle (a readable file)
    "OPENSTS_ACCOUNT_ID": _pattern(_ACCOUNT_ID, "12 digits"),
    "OPENSTS_ADMIN_ACCESS_KEY_ID": _pattern(_ACCESS_KEY_ID,
                                            "an access key id: 16-128 upper-case letters and digits"),
    "OPENSTS_ADMIN_SECRET_ACCESS_KEY": lambda value: None,
    "OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS": _positive_int,
    REQUEST_TIMEOUT_ENV: _request_timeout,
    "OPENSTS_REGION": _pattern(re.compile(r"^[a-z]{2,4}(?:-[a-z0-9]+){2,3}\Z", re.ASCII),
                               "a Region name, e.g. us-west-2"),
    "OPENSTS_CONTROL_PLANE_DATABASE_URL": _database_url,
    "OPENSTS_QUOTA_STORE": _pattern(re.compile(r"^(?:rediss?|unix)://\S+\Z", re.ASCII),
                                    "a Redis URL, e.g. redis://127.0.0.1:6379/0"),
    "OPENSTS_REGION_STORE": _pattern(re.compile(r"^(?:rediss?|unix)://\S+\Z", re.ASCII),
                                     "a Redis URL, e.g. redis://127.0.0.1:6379/0"),
}


def check_master_key_file(data_dir: Path) -> None:
    """``DATA_DIR/master.key`` (used when ``OPENSTS_MASTER_KEY`` is not set) must hold base64 of
    32 bytes; a damaged one was a ``binascii`` traceback. Not echoed: it is the key."""
    path = data_dir / "master.key"
    if os.environ.get("OPENSTS_MASTER_KEY") or not path.exists():
        return
    expected = _master_key(path.read_text(encoding="ascii", errors="replace"))
    if expected is not None:
        raise StartupError(f"{path}: expected {expected} (restore the file from a backup: secrets sealed with "
                           "the old key cannot be opened with a new one)")


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a malformed value of a known ``OPENSTS_*`` variable before anything starts, naming it
    (e.g. ``OPENSTS_CLOCK_OFFSET_SECONDS=abc`` was a ``float()`` traceback)."""
    env = os.environ if environ is None else environ
    for name, check in ENVIRONMENT.items():
        value = env.get(name)
        expected = check(value) if value else None
        if expected is not None:
            raise StartupError(f"environment variable {name}: expected {expected}")
    if bool(env.get("OPENSTS_ADMIN_ACCESS_KEY_ID")) != bool(env.get("OPENSTS_ADMIN_SECRET_ACCESS_KEY")):
        raise StartupError("environment variables OPENSTS_ADMIN_ACCESS_KEY_ID and OPENSTS_ADMIN_SECRET_ACCESS_KEY "
                           "go together: set both or neither")


def _default_config() -> FileConfig:
    """Imported on use: the config module pulls in the wire protocol and the policy engine,
    which commands such as ``opensts audit endpoints`` never need (a tenth of a second)."""
    from opensts.config import FileConfig

    return FileConfig()
