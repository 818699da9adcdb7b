"""The config file is validated against ``opensts.config.SCHEMA``, over the whole schema.

A full document (``FULL``) sets every key the schema knows; the tests walk the schema and that
document together, so every table gets an unknown key, every leaf a value of the wrong type, and
every place that names a Region an unknown Region — a key added to the schema is covered (or the
coverage test fails until ``FULL`` sets it). docs/CONFIG.md is checked against the schema both ways.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opensts.config import SCHEMA, ArrayOf, ConfigError, Leaf, MapOf, Table, check_listener_regions, \
    parse_config, render_reference, schema_keys
from opensts.settings import ENVIRONMENT, Listener, StartupError

ROOT = Path(__file__).resolve().parents[2]

FULL: dict[str, Any] = {
    "quotas": {"rps": 600, "burst": 600.5, "groups": {"sts:AssumeRoleWithWebIdentity": {"rps": 100, "burst": 200}},
               "store": "redis://127.0.0.1:6379/0"},
    "network": {"trusted_proxies": ["10.0.0.5/32"], "client_regions": {"10.20.0.0/16": "us-west-2"}},
    "audit": {
        "folder": "/tmp/trail", "durability": "disk", "interval": 1.5, "index_retention_days": 30,
        "delivery_nice": 4,
        "index_max_mb": 512,
        "region_folders": {"us-east-1": "/tmp/us-east-1"},
        "s3": {"bucket": "b", "prefix": "p", "endpoint_url": "https://s3.example.internal", "region_name": "us-east-1",
               "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s", "aws_session_token": "t",
               "verify": False, "use_ssl": True},
        "regions": {
            "us-west-2": {"s3": {"bucket": "west", "prefix": "p", "endpoint_url": "http://127.0.0.1:9000",
                                 "region_name": "us-west-2", "aws_access_key_id": "AKIAEXAMPLE",
                                 "aws_secret_access_key": "s", "aws_session_token": "t", "verify": "/tmp/ca.pem",
                                 "use_ssl": False}},
            "eu-west-1": {"folder": "/tmp/eu-west-1"},
        },
    },
    "metrics": {"enabled": False, "listen": "127.0.0.1:9108"},
    "logging": {"format": "json", "access": True},
    "server": {"shutdown_timeout": 15, "control_process": False},
    "partitions": [{
        "name": "corp", "dns_suffix": "example.internal", "global_region": "corp-east-1",
        "global_hosts": ["sts.example.internal"], "iam_hosts": ["iam.example.internal"],
        "dual_stack_suffix": "api.example.internal",
        "regions": {"corp-east-1": {"opt_in": False, "can_deactivate": False}, "corp-west-1": {"opt_in": True}},
    }],
}

WRONG_TYPE = {"number": "five", "string": 5, "boolean": "yes", "strings": "10.0.0.0/8", "string or boolean": 5}


def _locations(node: Any, value: Any, shown: str, generic: str) -> Iterator[tuple[str, str, Any, Any, Any]]:
    """Walk ``SCHEMA`` and a document together: (shown path, schema path, node, parent, key)."""
    if isinstance(node, Table):
        for name, child in node.fields.items():
            if name in value:
                key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
                yield (f"{shown}.{key}" if shown else key, f"{generic}.{name}" if generic else name, child, value, name)
                yield from _locations(child, value[name], f"{shown}.{key}" if shown else key,
                                      f"{generic}.{name}" if generic else name)
    elif isinstance(node, MapOf):
        for name, item in value.items():
            key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
            yield f"{shown}.{key}", f"{generic}.{node.key}", node.value, value, name
            yield from _locations(node.value, item, f"{shown}.{key}", f"{generic}.{node.key}")
    elif isinstance(node, ArrayOf):
        for i, item in enumerate(value):
            yield f"{shown}[{i}]", f"{generic}[]", node.item, value, i
            yield from _locations(node.item, item, f"{shown}[{i}]", f"{generic}[]")


def _mutated(*types: type) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """For every location whose node is one of ``types``: (shown path, node, {doc: a deep copy of
    FULL, parent and key: that location inside the copy})."""
    for index, (shown, _generic, node, _parent, _key) in enumerate(_locations(SCHEMA, FULL, "", "")):
        if isinstance(node, types):
            doc = copy.deepcopy(FULL)
            _s, _g, _n, parent, key = list(_locations(SCHEMA, doc, "", ""))[index]
            yield shown, node, {"doc": doc, "parent": parent, "key": key}


def test_full_document_sets_every_key_and_loads() -> None:
    seen = {generic for _shown, generic, node, _p, _k in _locations(SCHEMA, FULL, "", "")
            if isinstance(node, Leaf)}
    assert seen == {path for path, _node in schema_keys()}
    config = parse_config(copy.deepcopy(FULL))
    assert config.quotas.for_group("sts:AssumeRoleWithWebIdentity") == (100.0, 200.0)
    assert config.catalog().region("corp-west-1") is not None
    assert (config.shutdown_timeout, config.control_process) == (15.0, False)


def _tables() -> list[tuple[str, dict[str, Any], Any]]:
    out = [("", {"doc": copy.deepcopy(FULL)}, None)]
    out[0][1]["table"] = out[0][1]["doc"]
    for shown, node, where in _mutated(Table):
        where["table"] = where["parent"][where["key"]]
        out.append((shown, where, node))
    return out


@pytest.mark.parametrize("shown,where,node", _tables(), ids=lambda v: v if isinstance(v, str) else "")
def test_unknown_key_in_every_table_is_named(shown: str, where: dict[str, Any], node: Any) -> None:
    where["table"]["zzz_typo"] = 1
    with pytest.raises(ConfigError) as exc:
        parse_config(where["doc"])
    assert str(exc.value).startswith(f"unknown key {shown + '.' if shown else ''}zzz_typo ")


@pytest.mark.parametrize("shown,node,where", list(_mutated(Leaf)),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_wrong_type_of_every_leaf_is_named(shown: str, node: Leaf, where: dict[str, Any]) -> None:
    where["parent"][where["key"]] = WRONG_TYPE[node.types]
    with pytest.raises(ConfigError) as exc:
        parse_config(where["doc"])
    assert str(exc.value).startswith(f"{shown}: expected "), str(exc.value)


def _region_places() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for shown, node, where in _mutated(Leaf):
        if node.region:
            yield shown, "value", where
    for shown, node, where in _mutated(MapOf):
        if node.region_keys:
            yield shown, "key", where


@pytest.mark.parametrize("shown,kind,where", list(_region_places()), ids=lambda v: v if isinstance(v, str) else "")
def test_unknown_region_in_every_place_is_named(shown: str, kind: str, where: dict[str, Any]) -> None:
    parent, key = where["parent"], where["key"]
    # a partition's global Region must be one of its own: the suggestion comes from there
    wrong, right = ("corp-east-2", "corp-east-1") if shown.endswith("global_region") else ("us-wset-2", "us-west-2")
    if kind == "value":
        parent[key] = wrong
        expected = shown
    else:
        table = parent[key]
        table[wrong] = table.pop(next(iter(table)))
        expected = f"{shown}.{wrong}"
    with pytest.raises(ConfigError) as exc:
        parse_config(where["doc"])
    message = str(exc.value)
    assert message.startswith(f"{expected}:") and f"unknown Region {wrong}" in message, message
    assert f"did you mean {right}?" in message


def test_region_places_are_all_covered() -> None:
    places = {shown for shown, _kind, _where in _region_places()}
    assert places == {'network.client_regions."10.20.0.0/16"', "audit.region_folders", "audit.regions",
                      "partitions[0].global_region"}


def test_unknown_region_in_listen_is_named() -> None:
    with pytest.raises(StartupError, match=r"--listen 127.0.0.1:8601=mars-1: unknown Region mars-1"):
        check_listener_regions([Listener("127.0.0.1", 8601, "mars-1")], parse_config({}))
    config = parse_config(copy.deepcopy(FULL))
    check_listener_regions([Listener("127.0.0.1", 8601, "corp-west-1")], config)  # the file's own partition


@pytest.mark.parametrize("doc,message", [
    ({"quotas": {"groups": {"sts:AssumeRol": {"rps": 1}}}}, "did you mean sts:AssumeRoot?"),
    ({"quotas": {"groups": {"sts-shared": {"burst": 2}}}}, 'quotas.groups.sts-shared.rps is required'),
    ({"quotas": {"rps": -1}}, "quotas.rps: expected a number at least 0"),
    ({"quotas": {"burst": 0.5}}, "quotas.burst: expected a number at least 1"),
    ({"quotas": {"store": "http://127.0.0.1:6379"}}, "quotas.store: expected a Redis URL"),
    ({"network": {"trusted_proxies": ["10.0.0.300/8"]}}, "network.trusted_proxies: expected an IP network"),
    ({"network": {"client_regions": {"not-a-net": "us-west-2"}}}, "not-a-net is not an IP network"),
    ({"audit": {"durability": "sometimes"}}, 'audit.durability: expected one of "process", "disk"'),
    ({"audit": {"s3": {"prefix": "x"}}}, "audit.s3.bucket is required"),
    ({"audit": {"regions": {"us-west-2": {"s3": {"prefix": "x"}}}}}, "audit.regions.us-west-2.s3.bucket is required"),
    ({"audit": {"regions": {"us-west-2": {}}}}, "audit.regions.us-west-2: set either folder or s3"),
    ({"audit": {"regions": {"us-west-2": {"folder": "/t", "s3": {"bucket": "b"}}}}},
     "audit.regions.us-west-2: set either folder or s3, not both"),
    ({"audit": {"region_folders": {"us-east-1": "/a"}, "regions": {"us-east-1": {"folder": "/b"}}}},
     "audit.regions.us-east-1: Region us-east-1 already has a trail store in audit.region_folders.us-east-1"),
    ({"rps": 5}, "unknown key rps at the top level (did you mean quotas.rps?)"),
    ({"partitions": {"name": "corp"}}, "partitions: expected an array of tables"),
    ({"partitions": [{"name": "aws", "dns_suffix": "x.internal", "regions": {"x-1": {}}}]}, "already defined"),
    ({"partitions": [{"name": "corp", "dns_suffix": "x.internal", "regions": {"us-east-1": {}}}]},
     "Region us-east-1 is already defined"),
    ({"partitions": [{"name": "corp", "dns_suffix": "x.internal"}]}, "partitions[0].regions is required"),
])
def test_value_rules(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(doc)
    assert message in str(exc.value)


def test_secrets_are_never_echoed() -> None:
    secrets = [path for path, leaf in schema_keys() if isinstance(leaf, Leaf) and leaf.secret]
    assert secrets == ["quotas.store", "audit.s3.aws_secret_access_key", "audit.s3.aws_session_token",
                       "audit.regions.<region>.s3.aws_secret_access_key", "audit.regions.<region>.s3.aws_session_token"]
    for value in (["wJalrXUtnFEMI-secret"], 123456789):
        with pytest.raises(ConfigError) as exc:
            parse_config({"audit": {"s3": {"bucket": "b", "aws_secret_access_key": value}}})
        assert "wJalrXUtnFEMI" not in str(exc.value) and "123456789" not in str(exc.value)
    for store in ("http://:wJalrXUtnFEMI@redis:6379", ["redis://:wJalrXUtnFEMI@redis:6379"]):  # a URL's password
        with pytest.raises(ConfigError) as exc:
            parse_config({"quotas": {"store": store}})
        assert "wJalrXUtnFEMI" not in str(exc.value) and str(exc.value).startswith("quotas.store: expected")


def test_durability_choices_match_the_journal() -> None:
    from opensts.audit.journal import DURABILITY
    from opensts.config import _DURABILITY

    assert tuple(DURABILITY) == _DURABILITY


def test_docs_reference_table_is_the_schema() -> None:
    text = (ROOT / "docs" / "CONFIG.md").read_text()
    assert render_reference() in text, "docs/CONFIG.md: paste opensts.config.render_reference()"
    documented = set(re.findall(r"^\| `([a-z0-9_.\[\]<>-]+)` \|", text, re.M))
    assert documented == {path for path, _ in schema_keys()}  # nothing documented that the schema lacks
    assert set(re.findall(r"^\| `(OPENSTS_[A-Z_]+)` \|", text, re.M)) == set(ENVIRONMENT)


def test_one_subprocess_case_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "opensts.toml").write_text("[quotas]\nrsp = 5\n")
    out = subprocess.run([sys.executable, "-m", "opensts", "serve", "--data-dir", str(tmp_path), "--listen",
                          "127.0.0.1:0"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        f"opensts: config file {tmp_path / 'opensts.toml'}: unknown key quotas.rsp in [quotas] (did you mean rps?)"]
