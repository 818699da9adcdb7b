"""The optional config file (TOML): quotas, trusted client networks, extra partitions, trail stores.

Looked up as ``--config FILE``, else ``DATA_DIR/opensts.toml`` when present. ``SCHEMA`` below is
the one description of every key (type, default, meaning): the loader validates the file against
it — an unknown key at any level, a value of the wrong type and a Region that does not exist are
errors naming the key — and docs/CONFIG.md's reference table is rendered from it
(:func:`render_reference`; a test keeps the two equal). Example::

    [quotas]                       # AWS's defaults: 600 requests/s, burst 600
    rps = 600
    burst = 600
    store = "redis://10.0.0.7:6379/0"   # a fleet Region's nodes share their buckets there (optional)
    [quotas.groups]                # per quota group (see regions/quotas.py)
    "sts:AssumeRoleWithWebIdentity" = { rps = 100, burst = 200 }

    [network]
    trusted_proxies = ["10.0.0.5/32"]        # X-Forwarded-For is believed only from these
    [network.client_regions]                 # caller networks → the Region they are "in"
    "10.20.0.0/16" = "us-west-2"

    [audit]                        # where trail files go (default: DATA_DIR/trail)
    folder = "/var/lib/opensts/trail"
    durability = "process"         # or "disk": records of issued credentials fdatasync'ed first
    [audit.s3]                     # or any S3-compatible bucket (boto3 client arguments)
    bucket = "my-trail"
    endpoint_url = "https://s3.example.internal"
    [audit.regions.us-east-1]      # a Region's own trail store: a folder ...
    folder = "/mnt/us-east-1-trail"
    [audit.regions.us-west-2]      # ... or a bucket
    s3 = { bucket = "west-trail", endpoint_url = "https://s3.us-west-2.example.internal" }

    [[partitions]]                 # a private partition with its own domain
    name = "corp"
    dns_suffix = "example.internal"          # sts.example.internal, sts.REGION.example.internal
    global_region = "corp-east-1"
    [partitions.regions]
    corp-east-1 = { opt_in = false, can_deactivate = false }
    corp-west-1 = { opt_in = true }
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from opensts.regions.quotas import QuotaSettings
from opensts.settings import Listener, StartupError

__all__ = ["FileConfig", "load_config", "parse_config", "ConfigError", "SCHEMA", "schema_keys",
           "render_reference", "check_listener_regions"]


class ConfigError(StartupError):
    """The config file is unreadable or wrong; the message names the key (and the file)."""


# ------------------------------------------------------------------------------------------------
# The schema: data, from which both validation and the reference table in docs/CONFIG.md come.
# ------------------------------------------------------------------------------------------------

Check = Callable[[Any], "str | None"]  # a valid value's extra rule: None, or what was expected


@dataclass(frozen=True)
class Leaf:
    """A value: its TOML type(s), default (as documented), meaning and optional extra rule.
    ``region``: the value names a Region (checked against the catalog once partitions are known)."""

    types: str  # "number", "string", "boolean", "strings" (array of strings), "string or boolean"
    default: str
    doc: str
    check: Check | None = None
    required: bool = False
    region: bool = False
    secret: bool = False  # never echoed in an error


@dataclass(frozen=True)
class Table:
    """A table with a fixed set of keys."""

    fields: Mapping[str, Node]
    doc: str = ""


@dataclass(frozen=True)
class MapOf:
    """A table whose keys are names the user chooses (``key`` as documented, e.g. ``<cidr>``),
    each with a ``value`` of one shape; ``region_keys``: the keys name Regions."""

    key: str
    value: Node
    doc: str = ""
    key_check: Check | None = None
    region_keys: bool = False


@dataclass(frozen=True)
class ArrayOf:
    """An array of tables (``[[name]]``)."""

    item: Table
    doc: str = ""


Node = Union[Leaf, Table, MapOf, ArrayOf]


def _cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "an IP network in CIDR form, e.g. 10.0.0.0/16"
    return None


def _at_least(low: float, *, strict: bool = False) -> Check:
    def check(value: Any) -> str | None:
        ok = value > low if strict else value >= low
        return None if ok else f"a number {'greater than' if strict else 'at least'} {low:g}"

    return check


def _one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else "one of " + ", ".join(f'"{c}"' for c in choices)


def _pattern(rx: str, what: str) -> Check:
    compiled = re.compile(rx)
    return lambda value: None if compiled.fullmatch(value) else what


def _quota_group(name: str) -> str | None:
    groups = quota_groups()
    if name in groups:
        return None
    return "a quota group" + (_suggest(name, groups) or ": " + ", ".join(sorted(groups)))


_DURABILITY = ("process", "disk")  # audit/journal.py's DURABILITY (test-checked, not imported: cheap start)
_NAME = _pattern(r"[a-z][a-z0-9-]{0,62}", "lower-case letters, digits and dashes")
_HOST = _pattern(r"(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", "a DNS name")

def _s3_table(doc: str) -> Table:
    """An S3-compatible bucket: its name, a key prefix, and boto3 client arguments."""
    return Table({
        "bucket": Leaf("string", "—", "the bucket trail files are put into", required=True),
        "prefix": Leaf("string", '""', "key prefix inside the bucket"),
        "endpoint_url": Leaf("string", "AWS's", "URL of an S3-compatible service"),
        "region_name": Leaf("string", "boto3's", "Region of the bucket"),
        "aws_access_key_id": Leaf("string", "boto3's", "access key for the bucket"),
        "aws_secret_access_key": Leaf("string", "boto3's", "secret key for the bucket", secret=True),
        "aws_session_token": Leaf("string", "boto3's", "session token for the bucket", secret=True),
        "verify": Leaf("string or boolean", "true", "false: no TLS verification; a string: CA bundle file"),
        "use_ssl": Leaf("boolean", "true", "use HTTPS"),
    }, doc)


SCHEMA = Table({
    "quotas": Table({
        "rps": Leaf("number", "600", "requests per second of every quota bucket (0: no quota)", _at_least(0)),
        "burst": Leaf("number", "rps", "burst (bucket size) of every quota bucket", _at_least(1)),
        "groups": MapOf("<group>", Table({
            "rps": Leaf("number", "—", "requests per second of this group's buckets", _at_least(0),
                        required=True),
            "burst": Leaf("number", "its rps", "burst of this group's buckets", _at_least(1)),
        }), "a quota group: `sts-shared` (AssumeRole, GetCallerIdentity, GetSessionToken, "
            "GetFederationToken, GetAccessKeyInfo, DecodeAuthorizationMessage), `sts:ACTION` for any "
            "other STS action, or `iam`", key_check=_quota_group),
        "store": Leaf("string", "none (this server's memory)", "`redis://HOST:PORT/N`: the Region's Redis holding the "
                      "buckets, shared by the Region's nodes; `OPENSTS_QUOTA_STORE` wins over it",
                      _pattern(r"(?:rediss?|unix)://\S+", "a Redis URL, e.g. redis://127.0.0.1:6379/0"), secret=True),
    }, "request quotas (token buckets per account × serving Region × endpoint type × group)"),
    "network": Table({
        "trusted_proxies": Leaf("strings", "[]", "networks (CIDR) whose X-Forwarded-For is believed",
                                _cidr),
        "client_regions": MapOf("<cidr>", Leaf("string", "—", "the Region callers from this network are in",
                                               region=True), "caller network → Region", key_check=_cidr),
    }, "where callers are"),
    "audit": Table({
        "folder": Leaf("string", "DATA_DIR/trail", "folder of the delivered trail files"),
        "durability": Leaf("string", '"process"', '"process": a credential-issuing call answers once its '
                           'record is written; "disk": once it is also fdatasync\'ed', _one_of(*_DURABILITY)),
        "interval": Leaf("number", "2", "seconds an idle delivery process waits before looking for new records (a "
                         "backlog is delivered without pause); on a fleet node, between reads of its Region's trail "
                         "store for LookupEvents", _at_least(0, strict=True)),
        "delivery_nice": Leaf("number", "2", "niceness of the delivery process (0–19): lower delivers more during "
                              "saturating load (at 10 a steady peak load outran delivery); higher defers delivery "
                              "to idle moments", lambda v: None if 0 <= v <= 19 else "a number from 0 to 19"),
        "index_retention_days": Leaf("number", "90", "days of records LookupEvents (and the access advisor) can "
                                     "see; older delivered records are dropped from the audit index",
                                     _at_least(0, strict=True)),
        "index_max_mb": Leaf("number", "1024", "cap of the audit index file (MiB, each of a server's journal index "
                             "and a fleet node's trail index): past it the oldest delivered records are dropped "
                             "(≈ 0.2 KB a record, docs/OPERATIONS.md); records not yet delivered never are",
                             _at_least(1)),
        "region_folders": MapOf("<region>", Leaf("string", "—", "this Region's own trail folder (as "
                                                              "audit.regions.<region>.folder)"),
                                "a Region's own trail store", region_keys=True),
        "s3": _s3_table("deliver trail files to an S3-compatible bucket instead of a folder (boto3 client arguments)"),
        "regions": MapOf("<region>", Table({
            "folder": Leaf("string", "—", "this Region's trail folder (set folder or s3)"),
            "s3": _s3_table("this Region's trail bucket (boto3 client arguments; set folder or s3)"),
        }), "a Region's own trail store: where every node delivers that Region's trail, and what a fleet "
            "node of that Region reads for LookupEvents", region_keys=True),
    }, "the audit trail"),
    "metrics": Table({
        "enabled": Leaf("boolean", "true", "serve `GET /metrics` (Prometheus) and count; `--no-metrics` wins over it"),
        "listen": Leaf("string", "none (the API listeners)", "`HOST:PORT`: serve `GET /metrics` there only, not on "
                       "the API listeners; `--metrics-listen` wins over it",
                       _pattern(r"(?:\[[0-9A-Fa-f:.]+\]|[^:=\[\]\s]+)?:\d{1,5}", "HOST:PORT, e.g. 127.0.0.1:9108")),
    }, "Prometheus metrics (docs/OPERATIONS.md)"),
    "logging": Table({
        "format": Leaf("string", '"text"', '"text": messages as plain lines; "json": one JSON object per line '
                       '(`--log-format` wins over it)', _one_of("text", "json")),
        "access": Leaf("boolean", "true with json, false with text", "one line per answered request"),
    }, "the server's log output on stderr (docs/OPERATIONS.md)"),
    "server": Table({
        "shutdown_timeout": Leaf("number", "10", "seconds a stopping server (SIGTERM/SIGINT) gives the requests in "
                                 "flight, and the audit delivery its last round; `--shutdown-timeout` wins over it "
                                 "(docs/OPERATIONS.md)", _at_least(0, strict=True)),
        "control_process": Leaf("boolean", "true", "with 2 or more workers, IAM, Organizations and Account calls run "
                                "in a process of their own (the control worker), so that IAM writes slow the workers' "
                                "STS calls less (docs/OPERATIONS.md); false: in each worker, off its event loop"),
    }, "the server process"),
    "partitions": ArrayOf(Table({
        "name": Leaf("string", "—", "partition name (as in ARNs)", _NAME, required=True),
        "dns_suffix": Leaf("string", "—", "domain: sts.SUFFIX, sts.REGION.SUFFIX", _HOST, required=True),
        "global_region": Leaf("string", "none", "the Region the global endpoint serves outside callers in "
                              "(one of this partition's)", region=True),
        "global_hosts": Leaf("strings", '["sts.SUFFIX"] with global_region', "host names of the global endpoint"),
        "iam_hosts": Leaf("strings", '["iam.SUFFIX"]', "host names of IAM"),
        "dual_stack_suffix": Leaf("string", "none", "dual-stack domain: sts.REGION.SUFFIX", _HOST),
        "regions": MapOf("<region>", Table({
            "opt_in": Leaf("boolean", "false", "an opt-in Region (accounts must enable it)"),
            "can_deactivate": Leaf("boolean", "true", "STS can be deactivated there"),
        }), "the partition's Regions", key_check=_NAME),
    }), "extra partitions with their own domains"),
})

_REQUIRED_TABLES = {"partitions[].regions"}  # tables (not leaves) that must be present

_TYPES: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "strings": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "string or boolean": lambda v: isinstance(v, str | bool),
}
_DOC_TYPES = {"strings": "array of strings"}
_TYPE_WORDS = {"strings": "an array of strings", "number": "a number", "string": "a string",
               "boolean": "true or false", "string or boolean": "a string or true/false"}


def quota_groups() -> frozenset[str]:
    """Every quota group a request can be charged to (regions/quotas.py's ``group_of`` over every
    STS action in the model, and IAM). Loads the compiled STS model: only when groups are configured."""
    from opensts.protocol.model import load_service
    from opensts.regions.quotas import group_of

    return frozenset({group_of("sts", op) for op in load_service("sts").operations} | {group_of("iam", "")})


def schema_keys(node: Node = SCHEMA, prefix: str = "") -> Iterator[tuple[str, Leaf | MapOf]]:
    """Every documented key as ``(dotted path, node)``: leaves, and maps whose values are leaves."""
    if isinstance(node, Leaf):
        yield prefix, node
    elif isinstance(node, Table):
        for name, child in node.fields.items():
            yield from schema_keys(child, f"{prefix}.{name}" if prefix else name)
    elif isinstance(node, MapOf):
        yield from schema_keys(node.value, f"{prefix}.{node.key}")
    else:
        yield from schema_keys(node.item, f"{prefix}[]")


def render_reference() -> str:
    """The reference table of docs/CONFIG.md (one row per key), rendered from ``SCHEMA``."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for path, leaf in schema_keys():
        assert isinstance(leaf, Leaf)
        meaning = leaf.doc + (" (required)" if leaf.required else "")
        rows.append(f"| `{path}` | {_DOC_TYPES.get(leaf.types, leaf.types)} | {leaf.default} | {meaning} |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------
# Validation: one walk over the parsed TOML, guided by the schema.
# ------------------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'string "{value}"' if len(value) <= 60 else "a long string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value}" if isinstance(value, int | float) else type(value).__name__


def _key(path: str, name: str) -> str:
    """``path.name`` as TOML writes it (names other than A-Za-z0-9_- quoted)."""
    shown = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
    return f"{path}.{shown}" if path else shown


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _elsewhere(name: str) -> str:
    """A key that exists, but in another table (``rps`` at the top level: ``quotas.rps``)."""
    homes = [path for path, _leaf in schema_keys() if path.rsplit(".", 1)[-1] == name]
    return f" (did you mean {homes[0]}?)" if homes else ""


class _Walk:
    """Validates one document; collects the Regions it names for the second pass."""

    def __init__(self) -> None:
        self.regions: list[tuple[str, str]] = []  # (where, Region name)

    def node(self, node: Node, value: Any, path: str) -> None:
        if isinstance(node, Leaf):
            self.leaf(node, value, path)
        elif isinstance(node, Table):
            self.table(node, value, path)
        elif isinstance(node, MapOf):
            self.map(node, value, path)
        else:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{path}: expected an array of tables ([[{path}]]), got {_show(value)}")
            for i, item in enumerate(value):
                self.table(node.item, item, f"{path}[{i}]")

    def table(self, node: Table, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {_show(value)}")
        for name in value:
            if name not in node.fields:
                where = f"in [{path}]" if path else "at the top level"
                hint = _suggest(name, node.fields) or _elsewhere(name)
                raise ConfigError(f"unknown key {_key(path, name)} {where}{hint}")
        generic = re.sub(r"\[\d+\]", "[]", path)
        for name, child in node.fields.items():
            required = (isinstance(child, Leaf) and child.required) or _key(generic, name) in _REQUIRED_TABLES
            if name in value:
                self.node(child, value[name], _key(path, name))
            elif required:
                raise ConfigError(f"{_key(path, name)} is required")

    def map(self, node: MapOf, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {_show(value)}")
        for name, item in value.items():
            where = _key(path, name)
            if node.key_check is not None and (expected := node.key_check(name)) is not None:
                raise ConfigError(f"{where}: {name} is not {expected}")
            if node.region_keys:
                self.regions.append((where, name))
            self.node(node.value, item, where)

    def leaf(self, node: Leaf, value: Any, path: str) -> None:
        if not _TYPES[node.types](value):
            got = "a " + type(value).__name__ if node.secret else _show(value)
            raise ConfigError(f"{path}: expected {_TYPE_WORDS[node.types]}, got {got}")
        items = value if isinstance(value, list) else [value]
        for item in items:
            if node.check is not None and (expected := node.check(item)) is not None:
                got = "a string that is not" if node.secret else _show(item)  # never echo a secret
                raise ConfigError(f"{path}: expected {expected}, got {got}")
            if node.region:
                self.regions.append((path, item))


def _check_regions(refs: Iterable[tuple[str, str]], catalog: Any) -> None:
    known = [r.name for r in catalog.regions()]
    for where, name in refs:
        if catalog.region(name) is None:
            raise ConfigError(f"{where}: unknown Region {name}{_suggest(name, known)}")


def _check_partitions(partitions: list[dict[str, Any]]) -> None:
    """Extra partitions must not redefine a partition or Region, and a global Region is their own."""
    from opensts.regions.catalog import default_catalog

    seen_parts = {p.name for p in default_catalog().partitions}
    seen_regions = {r.name for r in default_catalog().regions()}
    for i, part in enumerate(partitions):
        if part["name"] in seen_parts:
            raise ConfigError(f"partitions[{i}].name: partition {part['name']} is already defined")
        seen_parts.add(part["name"])
        for region in part["regions"]:
            if region in seen_regions:
                raise ConfigError(f"partitions[{i}].regions.{region}: Region {region} is already defined")
            seen_regions.add(region)
        glob = part.get("global_region")
        if glob and glob not in part["regions"]:
            raise ConfigError(f"partitions[{i}].global_region: unknown Region {glob} in partition {part['name']}"
                              f"{_suggest(glob, part['regions'])}")


def _check_trail_stores(audit: dict[str, Any]) -> None:
    """Each ``[audit.regions.R]`` names one store (``folder`` or ``s3``), and a Region has one store."""
    folders = audit.get("region_folders", {})
    for region, store in audit.get("regions", {}).items():
        where = _key("audit.regions", region)
        if ("folder" in store) == ("s3" in store):
            raise ConfigError(f"{where}: set either folder or s3" + (", not both" if store else ""))
        if region in folders:
            raise ConfigError(f"{where}: Region {region} already has a trail store in "
                              f"{_key('audit.region_folders', region)}")


# ------------------------------------------------------------------------------------------------
# The loaded configuration
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileConfig:
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    client_regions: tuple[tuple[str, str], ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    partitions: tuple[dict[str, Any], ...] = ()
    audit: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    metrics: bool = True  # [metrics] enabled
    metrics_listen: str | None = None  # [metrics] listen
    log_format: str = "text"  # [logging] format
    access_log: bool | None = None  # [logging] access (None: on with json, off with text)
    shutdown_timeout: float = 10.0  # [server] shutdown_timeout
    control_process: bool = True  # [server] control_process

    def catalog(self) -> Any:
        """The Region catalog with this file's partitions."""
        from opensts.regions.catalog import default_catalog

        return default_catalog().with_partitions(self.partitions) if self.partitions else default_catalog()


def load_config(path: Path | None, data_dir: Path) -> FileConfig:
    """``--config FILE``, else ``DATA_DIR/opensts.toml`` when present, validated against ``SCHEMA``."""
    candidate = path or (data_dir / "opensts.toml")
    if not candidate.exists():
        if path is not None:
            raise ConfigError(f"config file {path} does not exist")
        return FileConfig()
    try:
        raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {candidate}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {candidate}: not valid TOML: {exc}") from None
    try:
        return parse_config(raw, candidate)
    except ConfigError as exc:
        raise ConfigError(f"config file {candidate}: {exc}") from None


def parse_config(raw: dict[str, Any], path: Path | None = None) -> FileConfig:
    """A parsed TOML document → ``FileConfig``; every key, type and Region checked first."""
    walk = _Walk()
    walk.table(SCHEMA, raw, "")
    partitions = raw.get("partitions", [])
    _check_partitions(partitions)
    _check_trail_stores(raw.get("audit", {}))
    config = FileConfig(
        quotas=_quotas(raw.get("quotas", {})),
        client_regions=tuple(raw.get("network", {}).get("client_regions", {}).items()),
        trusted_proxies=tuple(raw.get("network", {}).get("trusted_proxies", [])),
        partitions=tuple(partitions),
        audit=dict(raw.get("audit", {})),
        path=path,
        metrics=bool(raw.get("metrics", {}).get("enabled", True)),
        metrics_listen=raw.get("metrics", {}).get("listen"),
        log_format=str(raw.get("logging", {}).get("format", "text")),
        access_log=raw.get("logging", {}).get("access"),
        shutdown_timeout=float(raw.get("server", {}).get("shutdown_timeout", 10.0)),
        control_process=bool(raw.get("server", {}).get("control_process", True)),
    )
    _check_regions(walk.regions, config.catalog())
    return config


def check_listener_regions(listeners: Iterable[Listener], config: FileConfig) -> None:
    """``--listen ADDR=REGION``: the Region must exist (in AWS's catalog or the file's partitions)."""
    refs = [(f"--listen {lst.url_host}:{lst.port}={lst.region}", lst.region) for lst in listeners if lst.region]
    try:
        _check_regions(refs, config.catalog())
    except ConfigError as exc:
        raise StartupError(str(exc)) from None


def _quotas(raw: dict[str, Any]) -> QuotaSettings:
    groups = {g: (float(v["rps"]), float(v.get("burst", v["rps"]))) for g, v in raw.get("groups", {}).items()}
    rps = float(raw.get("rps", 600))
    return QuotaSettings(rps, float(raw.get("burst", rps)), groups or None, raw.get("store") or None)
